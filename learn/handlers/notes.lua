-- /notes: your notes, stored with ctx.db as SK = "NOTE#<id>" in your tenant's partition.
-- POST creates, GET /notes/{id} reads, PUT /notes/{id} changes, DELETE /notes/{id} removes
-- (notes-crud); GET /notes lists them page by page (notes-pages); POST and PUT refuse bad
-- input by field (notes-validate).
-- Exercise notes-crud: learn/03-database.md. Replace the body of this function.
local todo = require("todo")

return function(req, ctx) -- luacheck: no unused args
  return todo("notes-crud")
end
