--[[
  jobcast: append entries to a job's output (or its log, or both lists' kind of stream) and
  announce them on the queue's event stream, atomically, so every entry has its place (seq)
  and its event.

  KEYS[1] the job's hash            (the job must exist)
  KEYS[2] the entries' list         <prefix>:<queue>:<id>:output, or :logs (BullMQ's job log)
  KEYS[3] the queue's event stream  <prefix>:<queue>:events
  KEYS[4] the queue's meta hash     (opts.maxLenEvents, as BullMQ trims)
  ARGV[1] job id
  ARGV[2] kind: "output" or "log" (the event's name, and the seq counter's field)
  ARGV[3] keep: at most this many entries stay in the list (0: all)
  ARGV[4] ttl in seconds for the list (0: none)
  ARGV[5] max bytes per job and kind (0: no bound)
  ARGV[6] max entries per job and kind (0: no bound)
  ARGV[7..] the entries, in order
  Returns {first seq, count written, total bytes}, or -1 if the job is gone, or
  {-2, next seq, bytes, "bytes" | "entries"} when a bound stopped it (what fitted is kept).
]]
local rcall = redis.call
if rcall("EXISTS", KEYS[1]) == 0 then return -1 end
local kind = ARGV[2]
local seqField = "jc" .. kind .. "seq"
local bytesField = "jc" .. kind .. "bytes"
local keep = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local maxBytes = tonumber(ARGV[5])
local maxEntries = tonumber(ARGV[6])
local maxEvents = tonumber(rcall("HGET", KEYS[4], "opts.maxLenEvents")) or 10000
local bytes = tonumber(rcall("HGET", KEYS[1], bytesField)) or 0
local first = tonumber(rcall("HGET", KEYS[1], seqField)) or 0
local written = 0

local function push(entry)
  rcall("RPUSH", KEYS[2], entry)
  rcall("XADD", KEYS[3], "MAXLEN", "~", maxEvents, "*", "event", kind, "jobId", ARGV[1],
        "seq", first + written, "text", entry)
  bytes = bytes + #entry
  written = written + 1
end

-- What fits of an entry past the bound: cut before a UTF-8 character's start (a
-- continuation byte is 0x80-0xBF), so no character is split.
local function fitting(entry)
  local cut = maxBytes - bytes
  while cut > 0 do
    local after = entry:byte(cut + 1)
    if after < 128 or after >= 192 then break end
    cut = cut - 1
  end
  return entry:sub(1, cut)
end

local stopped = nil
for i = 7, #ARGV do
  local entry = ARGV[i]
  if maxEntries > 0 and first + written >= maxEntries then
    stopped = "entries"
    break
  end
  if maxBytes > 0 and bytes + #entry > maxBytes then
    entry = fitting(entry)
    if #entry > 0 then push(entry) end
    stopped = "bytes"
    break
  end
  push(entry)
end
rcall("HSET", KEYS[1], seqField, first + written, bytesField, bytes)
if written > 0 then
  if keep > 0 then rcall("LTRIM", KEYS[2], -keep, -1) end
  if ttl > 0 then rcall("EXPIRE", KEYS[2], ttl) end
end
if stopped then return {-2, first + written, bytes, stopped} end
return {first, written, bytes}
