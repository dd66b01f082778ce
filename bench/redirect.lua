-- wrk script: follow short links as people do (wrk does not follow the redirect, so
-- each request is one click). Clicks come from many visitors (X-Forwarded-For, the server
-- trusts 127.0.0.1 as proxy), from a realistic set of phones and desktops, on SLUGS
-- links; one request in ten is a QR scan (?qr=1) and one in twenty a WhatsApp preview
-- fetch, so every kind of request is classified and recorded during the run.
counter = 0
local slugs = tonumber(os.getenv("SLUGS") or "50")
local agents = {
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
  "Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Mobile Safari/537.36",
  "WhatsApp/2.23.20.0 A",
}

request = function()
  counter = counter + 1
  local a = counter % 5 + 1
  if counter % 20 == 0 then a = 6 end
  local ip = "12." .. (math.floor(counter / 65536) % 256) .. "." .. (math.floor(counter / 256) % 256) .. "." .. (counter % 256)
  local path = "/l/bench" .. (counter % slugs)
  if counter % 10 == 0 then path = path .. "?qr=1" end
  return wrk.format("GET", path, { ["User-Agent"] = agents[a], ["X-Forwarded-For"] = ip })
end
