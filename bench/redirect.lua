-- wrk script: follow short links as people do (wrk does not follow the redirect, so
-- each request is one click). Clicks come from many visitors (X-Forwarded-For, the server
-- trusts 127.0.0.1 as proxy; each wrk thread has visitors of its own), from a realistic
-- set of phones and desktops, on SLUGS links; one request in ten is a QR scan (?qr=1)
-- and one in twenty a WhatsApp preview fetch, so every kind of request is classified and
-- recorded during the run.
--
-- As in ingest.lua, the requests are built before the run (POOL a thread, default
-- 1,200,000) and on the fly past the pool, continuing the same sequence.
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

local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

-- The c-th request of this thread.
local function make(c)
  local a = c % 5 + 1
  if c % 20 == 0 then a = 6 end
  local ip = (12 + id) .. "." .. (math.floor(c / 65536) % 256) .. "." .. (math.floor(c / 256) % 256) .. "." .. (c % 256)
  local path = "/l/bench" .. (c % slugs)
  if c % 10 == 0 then path = path .. "?qr=1" end
  return wrk.format("GET", path, { ["User-Agent"] = agents[a], ["X-Forwarded-For"] = ip })
end

local pool, size = {}, 0
function init(args)
  id = id or 0
  size = tonumber(os.getenv("POOL") or "1200000")
  for c = 1, size do pool[c] = make(c) end
end

request = function()
  counter = counter + 1
  return pool[counter] or make(counter)
end
