-- todo.lua: what an unsolved exercise answers. require("todo")("greet-name") returns a 501
-- response naming the exercise, so `scripts/learn check` can say which lesson to read.
return function(exercise)
  return {
    status = 501,
    body = {
      error = "not_implemented",
      message = "exercise " .. exercise .. " is not solved yet: scripts/learn hint " .. exercise,
    },
  }
end
