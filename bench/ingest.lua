-- wrk script: POST tracker-shaped events to /api/event, as a reverse proxy would forward
-- them (the server trusts 127.0.0.1 as proxy, so X-Forwarded-For is the visitor's IP).
-- Every simulated visitor (one IP) sends two events: a landing from WhatsApp on Android,
-- then an internal pageview; half the requests open a new visit and run the classifier.
-- User agents come from a small realistic set, as real traffic's do.
counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain"
local agents = {
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
  "Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Mobile Safari/537.36",
  "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
}

request = function()
  counter = counter + 1
  local v = math.floor(counter / 2)
  local a = v % #agents + 1
  local ip = "11." .. (math.floor(v / 65536) % 256) .. "." .. (math.floor(v / 256) % 256) .. "." .. (v % 256)
  local page = "https://bench.test/articles/" .. (v % 5000)
  local body
  if counter % 2 == 0 then
    body = '{"n":"pageview","u":"' .. page .. '","d":"bench.test","r":"android-app://com.whatsapp/","w":390}'
  else
    body = '{"n":"pageview","u":"' .. page .. '/more","d":"bench.test","r":"' .. page .. '","w":390}'
  end
  return wrk.format(nil, "/api/event", { ["User-Agent"] = agents[a], ["X-Forwarded-For"] = ip }, body)
end
