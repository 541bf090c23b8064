-- wrk script of bench.ingest: POSTs the body template of bench/ingest/alerts.py with a fresh 8-digit
-- token per request (distinct fingerprints, like the httpx generator), counts answers by status and
-- requests sent, and prints one JSON line of results in done().
--   BENCH_BODY=<template file> BENCH_TOKENS=<n> wrk -t T -c C -d D -s wrk.lua <url> -- T
local file = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
local template = file:read("*a")
file:close()
local tokens = tonumber(os.getenv("BENCH_TOKENS"))
local parts, start = {}, 1
while true do
  local i, j = string.find(template, "@@@@@@@@", start, true)
  if not i then
    parts[#parts + 1] = string.sub(template, start)
    break
  end
  parts[#parts + 1] = string.sub(template, start, i - 1)
  start = j + 1
end

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

function init(args)
  step = tonumber(args[1])
  counter = id + tonumber(args[2] or "0")
  sent = 0
  statuses = {}
  headers = {["Content-Type"] = "application/json"}
end

function request()
  local token = string.format("%08d", counter % tokens)
  counter = counter + step
  sent = sent + 1
  return wrk.format("POST", nil, headers, table.concat(parts, token))
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local sent_total, by_status = 0, {}
  for _, thread in ipairs(threads) do
    sent_total = sent_total + thread:get("sent")
    for status, n in pairs(thread:get("statuses")) do
      by_status[status] = (by_status[status] or 0) + n
    end
  end
  local items = {}
  for status, n in pairs(by_status) do
    items[#items + 1] = string.format('"%d": %d', status, n)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH-RESULT {"duration_us": %d, "requests": %d, "sent": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"statuses": {%s}, "errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}}\n',
    summary.duration, summary.requests, sent_total, latency:percentile(50), latency:percentile(99),
    table.concat(items, ", "), e.connect, e.read, e.write, e.timeout))
end
