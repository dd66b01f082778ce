-- wrk script: POST tracker-shaped events to /api/event, as a reverse proxy would forward
-- them (the server trusts 127.0.0.1 as proxy, so X-Forwarded-For is the visitor's IP).
-- Every simulated visitor (one IP) sends two events: a landing from WhatsApp on Android,
-- then an internal pageview; half the requests open a new visit and run the classifier.
-- User agents come from a small realistic set, as real traffic's do. Each wrk thread
-- (and each wrk process, by WRK_PROC) has visitors of its own.
--
-- The requests are built before the run (POOL a thread, default 1,200,000: 60,000/s a
-- thread for 20 s), so the load generator, which shares the machine's two cores with the
-- server, spends its time sending rather than formatting strings in Lua. Past the pool,
-- requests are built on the fly, continuing the same sequence: no visitor repeats.
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

local threads = 0
function setup(thread)
  thread:set("id", threads + 16 * tonumber(os.getenv("WRK_PROC") or "0"))
  threads = threads + 1
end

-- The c-th request of this thread.
local function make(c)
  local v = math.floor(c / 2)
  local a = v % #agents + 1
  local ip = (11 + id) .. "." .. (math.floor(v / 65536) % 256) .. "." .. (math.floor(v / 256) % 256) .. "." .. (v % 256)
  local page = "https://bench.test/articles/" .. (v % 5000)
  local body
  if c % 2 == 0 then
    body = '{"n":"pageview","u":"' .. page .. '","d":"bench.test","r":"android-app://com.whatsapp/","w":390}'
  else
    body = '{"n":"pageview","u":"' .. page .. '/more","d":"bench.test","r":"' .. page .. '","w":390}'
  end
  return wrk.format(nil, "/api/event", { ["User-Agent"] = agents[a], ["X-Forwarded-For"] = ip }, body)
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
