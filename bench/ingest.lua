-- wrk script: POST tracker-shaped events to /api/event. Every simulated visitor sends two
-- events (a landing from WhatsApp on Android, then an internal pageview), so half the
-- requests open a new visit and run the classifier; paths vary so rows are distinct.
counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain"

request = function()
  counter = counter + 1
  local visitor = math.floor(counter / 2)
  local body
  if counter % 2 == 0 then
    body = '{"n":"pageview","u":"https://bench.test/articles/' .. (visitor % 5000) ..
      '","d":"bench.test","r":"android-app://com.whatsapp/","w":390}'
  else
    body = '{"n":"pageview","u":"https://bench.test/articles/' .. (visitor % 5000) ..
      '/more","d":"bench.test","r":"https://bench.test/articles/' .. (visitor % 5000) .. '","w":390}'
  end
  -- The visitor id hashes IP and user agent: a distinct user agent per visitor.
  local headers = { ["User-Agent"] = "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/" .. visitor ..
    ") AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36" }
  return wrk.format(nil, "/api/event", headers, body)
end
