-- wrk script: POST tracker-shaped events to /api/event, each with its own path so the
-- store sees distinct rows; a browser user agent so the bot filter lets them through.
counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain"
wrk.headers["User-Agent"] = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"

request = function()
  counter = counter + 1
  local body = '{"n":"pageview","u":"https://bench.test/articles/' .. (counter % 5000) ..
    '","d":"bench.test","r":"android-app://com.whatsapp/","w":390}'
  return wrk.format(nil, "/api/event", nil, body)
end
