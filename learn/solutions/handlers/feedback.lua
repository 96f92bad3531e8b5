-- Reference solution of feedback-metric (learn/07-monitoring.md).
-- The rating becomes a CloudWatch metric through the EMF document the runtime writes once per
-- invocation; the log line says what happened without the comment (free text may hold
-- personal data: log that there was one and how long it was, not what it said).
return function(req, ctx)
  local body = req.json
  local rating = type(body) == "table" and body.rating or nil
  if math.type(rating) ~= "integer" or rating < 1 or rating > 5 then
    ctx.fail(400, "rating must be an integer from 1 to 5",
      { code = "validation", field = "rating" })
  end
  local comment = body.comment
  if comment ~= nil and (type(comment) ~= "string" or #comment > 2000) then
    ctx.fail(400, "comment must be a string of at most 2000 bytes",
      { code = "validation", field = "comment" })
  end
  ctx.metric("FeedbackRating", rating, "None")
  ctx.log.info("feedback received", {
    rating = rating, hasComment = comment ~= nil and comment ~= "", commentBytes = #(comment or ""),
  })
  return { status = 202, body = { received = true } }
end
