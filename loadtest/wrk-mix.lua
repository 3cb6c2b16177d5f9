-- wrk script: a GET-heavy, authenticated mix for Rota (scripts/loadtest.sh, step "wrk").
--
--   wrk -t2 -c50 -d30s --latency -s loadtest/wrk-mix.lua http://127.0.0.1:3100 -- loadtest/out/pool.csv [PATH]
--
-- With PATH (e.g. /api/roadmaps/catalog) every request goes to that one path instead of the mix;
-- PATH "no-gsi" keeps the mix but drops its GSI-backed reads (feed pages and the dashboard).
--
-- Each request picks an endpoint by weight and a random pool account (loadtest/setup_pool.py:
-- email,password,access_token,refresh_token,user_id,roadmap_id,step_id,post_id) and sends its
-- access token (roadmaps are read with their owner's token). At the end it prints one line
--   WRKJSON {...}
-- with requests, requests/s, p50/p95/p99 (ms), non-2xx, 429 and socket errors, which
-- scripts/loadtest.sh collects.

local mix = {
  -- weight, kind
  { 25, "posts_new" },
  { 10, "posts_top" },
  { 15, "post_get" },
  { 10, "comments" },
  { 10, "dashboard" },
  {  8, "me" },
  {  7, "stats" },
  {  5, "catalog" },
  {  5, "roadmaps" },
  {  5, "roadmap_get" },
}

local accounts = {}
local posts = {}
local total_weight = 0
local counts = { non2xx = 0, r429 = 0, r5xx = 0 }

local function split(line)
  local out = {}
  for field in (line .. ","):gmatch("([^,]*),") do out[#out + 1] = field end
  return out
end

local function load_pool(path)
  local f = assert(io.open(path, "r"), "cannot open pool " .. path)
  local header = true
  for line in f:lines() do
    line = line:gsub("\r$", "") -- Python's csv writes CRLF
    if header then
      header = false
    else
      local c = split(line)
      if c[3] and c[3] ~= "" then
        accounts[#accounts + 1] = { token = c[3], roadmap = c[6], post = c[8] }
        if c[8] and c[8] ~= "" then posts[#posts + 1] = c[8] end
      end
    end
  end
  f:close()
  assert(#accounts > 0, "no accounts in " .. path)
  assert(#posts > 0, "no posts in " .. path)
end

-- threads, for done()
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  threads[#threads + 1] = thread
end

local fixed_path = nil

function init(args)
  load_pool(args[1] or "loadtest/out/pool.csv")
  fixed_path = args[2]
  if fixed_path == "no-gsi" then
    fixed_path = nil
    for _, m in ipairs(mix) do
      if m[2] == "posts_new" or m[2] == "posts_top" or m[2] == "dashboard" then m[1] = 0 end
    end
  end
  for _, m in ipairs(mix) do total_weight = total_weight + m[1] end
  math.randomseed(os.time() + (id or 0) * 7919)
end

local function pick()
  local r = math.random(total_weight)
  for _, m in ipairs(mix) do
    r = r - m[1]
    if r <= 0 then return m[2] end
  end
  return mix[1][2]
end

function request()
  local a = accounts[math.random(#accounts)]
  local auth = { ["Authorization"] = "Bearer " .. a.token }
  if fixed_path then
    return wrk.format("GET", fixed_path, auth)
  end
  local kind = pick()
  local path
  if kind == "posts_new" then
    path = "/api/community/posts?sort=new&limit=20"
  elseif kind == "posts_top" then
    path = "/api/community/posts?sort=top&limit=20"
  elseif kind == "post_get" then
    path = "/api/community/posts/" .. posts[math.random(#posts)]
  elseif kind == "comments" then
    path = "/api/community/posts/" .. posts[math.random(#posts)] .. "/comments?limit=20"
  elseif kind == "dashboard" then
    path = "/api/dashboard"
  elseif kind == "me" then
    path = "/api/users/me"
  elseif kind == "stats" then
    path = "/api/community/stats"
  elseif kind == "catalog" then
    path = "/api/roadmaps/catalog"
  elseif kind == "roadmaps" then
    path = "/api/roadmaps"
  else
    if a.roadmap ~= "" then
      path = "/api/roadmaps/" .. a.roadmap
    else
      path = "/api/roadmaps"
    end
  end
  return wrk.format("GET", path, auth)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    counts.non2xx = counts.non2xx + 1
    if status == 429 then counts.r429 = counts.r429 + 1 end
    if status >= 500 then counts.r5xx = counts.r5xx + 1 end
  end
  non2xx, r429, r5xx = counts.non2xx, counts.r429, counts.r5xx
end

function done(summary, latency, requests)
  local non2xx, r429, r5xx = 0, 0, 0
  for _, t in ipairs(threads) do
    non2xx = non2xx + (t:get("non2xx") or 0)
    r429 = r429 + (t:get("r429") or 0)
    r5xx = r5xx + (t:get("r5xx") or 0)
  end
  local e = summary.errors
  local sock = e.connect + e.read + e.write + e.timeout
  local secs = summary.duration / 1e6
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_s":%.2f,"rps":%.1f,"p50_ms":%.1f,"p95_ms":%.1f,"p99_ms":%.1f,' ..
    '"max_ms":%.1f,"non2xx":%d,"r429":%d,"r5xx":%d,"socket_errors":%d,"timeouts":%d}\n',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, non2xx, r429, r5xx, sock, e.timeout))
end
