-- wrk's script for make bench: POST pre-built multipart uploads of distinct pictures with a bearer token.
--
--   wrk -t T -c C -d Ds -s loadtest/wrk_uploads.lua URL -- DIR EXPECT T
--
-- DIR holds bodies.bin (the bodies one after another), lengths (each body's length, one a line), token and
-- content-type, written by loadtest/wrk.py. init reads the lengths, the token and the content type;
-- thread k of T sends bodies k, k+T, k+2T, … (no two threads send the same picture), each read from
-- bodies.bin and built with wrk.format when first sent.
-- EXPECT: "false" or "true" (the answer's "cached" must be that), or "any". done() prints one WRK_JSON line.

local threads = {}
local created = 0

function setup(thread)
  thread:set("id", created)
  created = created + 1
  table.insert(threads, thread)
end

local function read(path)
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  return data
end

local bodies, headers = nil, nil
local offsets, lengths, built = {}, {}, {}
local KEEP = 256 -- requests of a pool this small are kept once built (the cached path asks for them again)
local position = 0
local needle = nil
mismatches = 0
bad_status = 0
first_error = ""

function init(args)
  local dir, expect, thread_count = args[1], args[2], tonumber(args[3])
  if expect ~= "any" then
    needle = '"cached":' .. expect
  end
  headers = {
    ["Authorization"] = "Bearer " .. read(dir .. "/token"),
    ["Content-Type"] = read(dir .. "/content-type"),
  }
  bodies = assert(io.open(dir .. "/bodies.bin", "rb"))
  local id = wrk.thread:get("id")
  local index, offset = 0, 0
  for line in io.lines(dir .. "/lengths") do
    local length = tonumber(line)
    if index % thread_count == id then
      offsets[#offsets + 1], lengths[#lengths + 1] = offset, length
    end
    index, offset = index + 1, offset + length
  end
  assert(#offsets > 0, "no bodies for thread " .. id)
end

-- A request is read and built when it is first sent, so start-up costs nothing with thousands of bodies
-- (and wrk's CPU is spent on the load it measures); a small pool is kept once built.
function request()
  position = position % #offsets + 1
  local built_request = built[position]
  if built_request == nil then
    bodies:seek("set", offsets[position])
    built_request = wrk.format("POST", nil, headers, bodies:read(lengths[position]))
    if #offsets <= KEEP then
      built[position] = built_request
    end
  end
  return built_request
end

local function remember(text)
  if first_error == "" then
    first_error = text:sub(1, 200):gsub("%c", " ")
  end
end

function response(status, headers, body)
  if status ~= 200 then
    bad_status = bad_status + 1
    remember("HTTP " .. status .. ": " .. body)
  elseif needle ~= nil and not body:find(needle, 1, true) then
    mismatches = mismatches + 1
    remember("expected " .. needle .. ": " .. body)
  end
end

function done(summary, latency, requests)
  local mismatched, bad, first = 0, 0, ""
  for _, thread in ipairs(threads) do
    mismatched = mismatched + thread:get("mismatches")
    bad = bad + thread:get("bad_status")
    if first == "" then
      first = thread:get("first_error")
    end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
      .. '"timeout": %d, "bad_status": %d, "mismatches": %d, "mean_us": %.1f, "p50_us": %d, '
      .. '"p95_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, bad, mismatched,
    latency.mean, latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max
  ))
  io.write("WRK_FIRST_ERROR " .. first .. "\n")
end
