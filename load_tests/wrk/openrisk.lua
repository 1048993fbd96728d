-- wrk scenario for the OpenRisk API (openrisk-cache load tests).
--
--   wrk -t1 -c200 -d30s --latency -s load_tests/wrk/openrisk.lua http://127.0.0.1:8080
--
-- Environment:
--   TOKENS_FILE   users file written by load_tests/wrk/login.sh (or by load_tests/bench): one line per
--                 user, "token|can_write|tenant|id1,id2,...". Every user logged in to the simulator once.
--   MIX           default  the OpenRisk read mix plus WRITE_SHARE writes (Phase 5 comparison)
--                 read     the same reads, no writes
--                 hits     a small read set (warm it first: every request then is a cache hit)
--                 many     52 URLs per user (30 risks, 17 list pages of 1 or 2 risks, the 5 statistics),
--                          uniformly, for the first MANY_USERS users (default 8): 416 keys under
--                          scope: credential, bodies up to about 12 KB, 4 KB on average (warm it first)
--                 miss     reads with a unique search term each (every request is a cache miss)
--   WRITE_SHARE   share of writes in the default mix (default 0.05: half PATCH a risk, half add a plan)
--   HOT_IDS       risks per tenant read by id (default 50)
--   REPORT_FILE   where done() writes its JSON summary (default: stdout, one line prefixed "WRKJSON ")

local tokens_file = os.getenv("TOKENS_FILE") or "tokens.txt"
local mix = os.getenv("MIX") or "default"
local write_share = tonumber(os.getenv("WRITE_SHARE") or "0.05")
local hot_ids = tonumber(os.getenv("HOT_IDS") or "50")
local report_file = os.getenv("REPORT_FILE")
local many_users = tonumber(os.getenv("MANY_USERS") or "8")

if mix ~= "default" then write_share = 0 end

local users = {}
local threads = {}
local setup_count = 0

local function split(s, sep)
  local out = {}
  for part in string.gmatch(s, "([^" .. sep .. "]+)") do out[#out + 1] = part end
  return out
end

local function load_users()
  local f = io.open(tokens_file, "r")
  if not f then error("cannot open TOKENS_FILE " .. tokens_file .. " (run load_tests/wrk/login.sh first)") end
  for line in f:lines() do
    local p = split(line, "|")
    if #p >= 4 then
      users[#users + 1] = { auth = "Bearer " .. p[1], writer = p[2] == "1", tenant = p[3], ids = split(p[4], ",") }
    end
  end
  f:close()
  if #users == 0 then error("no users in " .. tokens_file) end
end

-- The read mix: weight, then a function(user) returning a path.
local statuses = { "OPEN", "IN_PROGRESS", "MITIGATED", "DRAFT" }
local severities = { "HIGH", "CRITICAL", "MEDIUM", "LOW" }
local words = { "data", "access", "vendor", "cloud", "phishing", "backup" }

local function hot(u)
  local n = math.min(hot_ids, #u.ids)
  return u.ids[math.random(n)]
end

local read_mix = {
  { 25, function(u) return "/api/v1/risks?page=" .. math.random(5) .. "&limit=20" end },            -- list pages
  { 10, function(u) return "/api/v1/risks?status=" .. statuses[math.random(#statuses)] .. "&limit=20" end },
  { 5,  function(u) return "/api/v1/risks?criticality=" .. severities[math.random(#severities)] .. "&sort_by=score&sort_dir=desc" end },
  { 15, function(u) return "/api/v1/stats" end },                                                    -- dashboard
  { 10, function(u) return "/api/v1/stats/risk-matrix" end },
  { 5,  function(u) return "/api/v1/stats/trends" end },
  { 25, function(u) return "/api/v1/risks/" .. hot(u) end },                                       -- risk by id
  { 5,  function(u) return "/api/v1/risks?q=" .. words[math.random(#words)] end },                   -- search
}
local hits_mix = {
  { 30, function(u) return "/api/v1/stats" end },
  { 20, function(u) return "/api/v1/stats/risk-matrix" end },
  { 20, function(u) return "/api/v1/risks?page=1&limit=20" end },
  { 30, function(u) return "/api/v1/risks/" .. u.ids[math.random(math.min(10, #u.ids))] end },
}
-- The many-keys set of one user: the same 52 paths for every user (each user's own entries).
local function many_paths(u)
  local paths = {}
  for i = 1, math.min(30, #u.ids) do paths[#paths + 1] = "/api/v1/risks/" .. u.ids[i] end
  -- Pages of one or two risks: a simulated risk is 2 to 6 KB, so the bodies stay in the workload's 0.3 to
  -- 8 KB range (pages of 5 to 50 risks, as before 2026-12-06, made the mean body 28 KB and the largest 187 KB).
  for page = 1, 9 do paths[#paths + 1] = "/api/v1/risks?page=" .. page .. "&limit=1" end
  for page = 1, 8 do paths[#paths + 1] = "/api/v1/risks?page=" .. page .. "&limit=2" end
  for _, p in ipairs({ "", "/risk-matrix", "/trends", "/risk-distribution", "/mitigation-metrics" }) do
    paths[#paths + 1] = "/api/v1/stats" .. p
  end
  return paths
end

local total_weight = 0
local active_mix

local counter = 0
-- Globals of each thread's Lua state, so that done() can read them with thread:get().
reads, writes = 0, 0

function setup(thread)
  setup_count = setup_count + 1
  thread:set("tid", setup_count)
  threads[#threads + 1] = thread
end

function init(args)
  load_users()
  if mix == "many" then
    while #users > many_users do table.remove(users) end
    for _, u in ipairs(users) do u.many = many_paths(u) end
  end
  active_mix = (mix == "hits") and hits_mix or read_mix
  for _, e in ipairs(active_mix) do total_weight = total_weight + e[1] end
  math.randomseed(os.time() + (tid or 0) * 7919 + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
end

local function pick_read(u)
  if mix == "many" then return u.many[math.random(#u.many)] end
  if mix == "miss" then
    counter = counter + 1
    return "/api/v1/risks?limit=5&q=zz" .. tostring(tid or 0) .. "x" .. math.random(1000000000) .. "n" .. counter
  end
  local r = math.random() * total_weight
  for _, e in ipairs(active_mix) do
    r = r - e[1]
    if r <= 0 then return e[2](u) end
  end
  return active_mix[1][2](u)
end

local json_headers = nil

function request()
  local u = users[math.random(#users)]
  if write_share > 0 and math.random() < write_share then
    -- A write by a user who may write (admin or analyst of some tenant).
    local w = u
    for _ = 1, 8 do
      if w.writer then break end
      w = users[math.random(#users)]
    end
    if w.writer then
      writes = writes + 1
      local id = w.ids[math.random(#w.ids)]
      local h = { ["Authorization"] = w.auth, ["Content-Type"] = "application/json" }
      if math.random() < 0.5 then
        local body = string.format('{"impact":%d,"probability":%d}', math.random(5), math.random(5))
        return wrk.format("PATCH", "/api/v1/risks/" .. id, h, body)
      else
        return wrk.format("POST", "/api/v1/risks/" .. id .. "/mitigations", h,
          '{"title":"load test plan","priority":"MEDIUM"}')
      end
    end
  end
  reads = reads + 1
  return wrk.format("GET", pick_read(u), { ["Authorization"] = u.auth })
end

function done(summary, latency, requests)
  local r, w = 0, 0
  for _, t in ipairs(threads) do
    r = r + (t:get("reads") or 0)
    w = w + (t:get("writes") or 0)
  end
  local e = summary.errors
  local out = string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"reads_sent":%d,"writes_sent":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p95":%d,"p99":%d,"p999":%d}}',
    summary.requests, summary.duration, summary.bytes, r, w,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99),
    latency:percentile(99.9))
  if report_file then
    local f = io.open(report_file, "w")
    f:write(out, "\n")
    f:close()
  end
  io.write("WRKJSON ", out, "\n")
end
