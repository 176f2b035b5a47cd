/**
 * The store's side of the limits: three Lua scripts, each one atomic round trip. Time comes from the
 * store's `TIME` (microseconds), so gateways with skewed clocks decide alike. The bucket arithmetic
 * is `bucket.ts`'s, line for line. A bucket is the string "level at capacity" (requests or tokens
 * used, as of `at` in microseconds, charged against `capacity`); leases are a sorted set of lease
 * ids scored by their expiry.
 */

/** Shared by the three scripts: the store's clock, bucket reads and writes. */
const PRELUDE = `
local MINUTE = 60000000
local EPSILON = 1e-9
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
-- Integers as plain digits: Lua's own number-to-string keeps only 14 significant digits.
local function int(x) return string.format('%.0f', x) end
local function level(key, capacity)
  local value = redis.call('GET', key)
  if not value then return 0 end
  local used, at, charged = string.match(value, '^(%S+) (%S+) (%S+)$')
  used = tonumber(used)
  at = tonumber(at)
  charged = tonumber(charged)
  if not used or not at or not charged then return 0 end
  -- A lowered limit shrinks the level in proportion; a raised one keeps it.
  if capacity < charged then used = used * capacity / charged end
  local elapsed = now - at
  if elapsed < 0 then elapsed = 0 end
  local x = used - elapsed * capacity / MINUTE
  if x < 0 then return 0 end
  return x
end
local function save(key, capacity, used)
  if used <= 0 then
    redis.call('DEL', key)
    return
  end
  -- Kept until it has drained, plus a second: an idle key costs the store nothing.
  local ttl = math.ceil(used * MINUTE / capacity / 1000) + 1000
  redis.call('SET', key, string.format('%.17g', used) .. ' ' .. int(now) .. ' ' .. int(capacity), 'PX', int(ttl))
end
local function wait(used, capacity)
  local over = used - (capacity - 1)
  if over <= EPSILON then return 0 end
  return math.ceil(over * MINUTE / capacity)
end
local function remaining(used, capacity)
  if capacity <= 0 then return 0 end
  local r = math.floor(capacity - used + EPSILON)
  if r < 0 then return 0 end
  return r
end
local function reset(used, capacity)
  if capacity <= 0 then return 0 end
  return math.ceil(used * MINUTE / capacity)
end
`;

/**
 * KEYS: rpm bucket, tpm bucket, lease set. ARGV: rpm, tpm, concurrency (0 = none), lease id,
 * lease ms, concurrency retry us. Checks every limit before it charges any, so a refused request
 * costs nothing. Returns { ok, refused by (1 rpm, 2 tpm, 3 concurrency), wait us, requests left,
 * requests reset us, tokens left, tokens reset us, leases held }.
 */
export const ADMIT_LUA = `${PRELUDE}
local rpm = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
local concurrency = tonumber(ARGV[3])
local rpmUsed, tpmUsed, held = 0, 0, 0
local refusedBy, waitUs = 0, 0
if rpm > 0 then
  rpmUsed = level(KEYS[1], rpm)
  local w = wait(rpmUsed, rpm)
  if w > waitUs then refusedBy, waitUs = 1, w end
end
if tpm > 0 then
  tpmUsed = level(KEYS[2], tpm)
  local w = wait(tpmUsed, tpm)
  if w > waitUs then refusedBy, waitUs = 2, w end
end
if concurrency > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', int(now))
  held = redis.call('ZCARD', KEYS[3])
  if held >= concurrency then
    local w = tonumber(ARGV[6])
    if w > waitUs then refusedBy, waitUs = 3, w end
  end
end
local ok = 0
if refusedBy == 0 then
  ok = 1
  if rpm > 0 then
    rpmUsed = rpmUsed + 1
    save(KEYS[1], rpm, rpmUsed)
  end
  if concurrency > 0 then
    redis.call('ZADD', KEYS[3], int(now + tonumber(ARGV[5]) * 1000), ARGV[4])
    redis.call('PEXPIRE', KEYS[3], ARGV[5])
    held = held + 1
  end
end
return { ok, refusedBy, waitUs, remaining(rpmUsed, rpm), reset(rpmUsed, rpm), remaining(tpmUsed, tpm), reset(tpmUsed, tpm), held }
`;

/** KEYS: tpm bucket, lease set. ARGV: tpm (0 = none), tokens used, lease id ('' = none). */
export const SETTLE_LUA = `${PRELUDE}
local tpm = tonumber(ARGV[1])
local tokens = tonumber(ARGV[2])
if tpm > 0 and tokens > 0 then save(KEYS[1], tpm, level(KEYS[1], tpm) + tokens) end
if ARGV[3] ~= '' then redis.call('ZREM', KEYS[2], ARGV[3]) end
return 1
`;

/**
 * KEYS: lease set. ARGV: lease ms, lease ids. Pushes the expiry of running requests' leases; puts
 * back any the store lost (a restarted store), so running requests count again.
 */
export const RENEW_LUA = `${PRELUDE}
local expiry = int(now + tonumber(ARGV[1]) * 1000)
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], expiry, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return #ARGV - 1
`;
