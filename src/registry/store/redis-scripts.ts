// Server-side scripts of the Redis store. Each write and the event that announces it happen in
// one script, so writes are atomic across registries and pub/sub delivers events in index order.
//
// Layout under the prefix P:
//   P:svc:<name>  hash  rec (JSON: name, host, port, hostname, url, timestamp, metadata),
//                       status, hb (ms), health, ttl (lease ms), load (JSON, optional);
//                       PEXPIREd at the clean-up age, so Redis itself drops a silent record
//   P:names       zset  name -> last heartbeat (listing and clean-up)
//   P:lease       zset  name -> lease end; a member is removed (and an event sent) when it lapses
//   P:index       int   the change index
//   P:events      channel  {"i","t":"u"|"d","n",...} and {"t":"l","n","l"} for load
//   P:leader      string   holder of probe leadership, with a TTL
// Every script takes ARGV[1] = P. (Keys are built in the script: one Redis, not a cluster.)

const PRELUDE = `
local P = ARGV[1]
local function svc(n) return P .. ':svc:' .. n end
local function upsert_msg(n, idx)
  local f = redis.call('HMGET', svc(n), 'rec', 'status', 'hb', 'health', 'ttl', 'load')
  return '{"i":' .. idx .. ',"t":"u","n":' .. cjson.encode(n) .. ',"rec":' .. f[1] .. ',"s":' .. cjson.encode(f[2]) ..
    ',"hb":' .. f[3] .. ',"h":' .. cjson.encode(f[4]) .. ',"ttl":' .. f[5] .. ',"l":' .. (f[6] or 'null') .. '}'
end
local function publish_upsert(n)
  local idx = redis.call('INCR', P .. ':index')
  redis.call('PUBLISH', P .. ':events', upsert_msg(n, idx))
  return idx
end
local function publish_delete(n)
  local idx = redis.call('INCR', P .. ':index')
  redis.call('PUBLISH', P .. ':events', '{"i":' .. idx .. ',"t":"d","n":' .. cjson.encode(n) .. '}')
  return idx
end
-- refreshes expiry and indexes; returns 1 when the lease had lapsed (or is new)
local function touch(n, hb, ttl, age)
  redis.call('PEXPIRE', svc(n), age)
  redis.call('ZADD', P .. ':names', hb, n)
  return redis.call('ZADD', P .. ':lease', hb + ttl, n)
end
`;

export const SCRIPTS = {
  /** ARGV: P, name, rec, status, hb, health, ttl, age -> index */
  sbRegister: `${PRELUDE}
local n = ARGV[2]
redis.call('DEL', svc(n))
redis.call('HSET', svc(n), 'rec', ARGV[3], 'status', ARGV[4], 'hb', ARGV[5], 'health', ARGV[6], 'ttl', ARGV[7])
touch(n, tonumber(ARGV[5]), tonumber(ARGV[7]), ARGV[8])
return publish_upsert(n)`,

  /** ARGV: P, name, expectedRec, newRec, status|'', hb, ttl|'', age -> index, -1 unknown, -2 changed meanwhile */
  sbUpdate: `${PRELUDE}
local n = ARGV[2]
local cur = redis.call('HGET', svc(n), 'rec')
if not cur then return -1 end
if cur ~= ARGV[3] then return -2 end
redis.call('HSET', svc(n), 'rec', ARGV[4], 'hb', ARGV[6])
if ARGV[5] ~= '' then redis.call('HSET', svc(n), 'status', ARGV[5]) end
if ARGV[7] ~= '' then redis.call('HSET', svc(n), 'ttl', ARGV[7]) end
touch(n, tonumber(ARGV[6]), tonumber(redis.call('HGET', svc(n), 'ttl')), ARGV[8])
return publish_upsert(n)`,

  /** ARGV: P, name, hb, status|'', load|'', age -> index, 0 (nothing routable changed), -1 unknown */
  sbHeartbeat: `${PRELUDE}
local n = ARGV[2]
if redis.call('EXISTS', svc(n)) == 0 then return -1 end
local changed = 0
if ARGV[4] ~= '' and redis.call('HGET', svc(n), 'status') ~= ARGV[4] then
  redis.call('HSET', svc(n), 'status', ARGV[4])
  changed = 1
end
redis.call('HSET', svc(n), 'hb', ARGV[3])
if ARGV[5] ~= '' then
  redis.call('HSET', svc(n), 'load', ARGV[5])
  redis.call('PUBLISH', P .. ':events', '{"t":"l","n":' .. cjson.encode(n) .. ',"l":' .. ARGV[5] .. '}')
end
if touch(n, tonumber(ARGV[3]), tonumber(redis.call('HGET', svc(n), 'ttl')), ARGV[6]) == 1 then changed = 1 end
if changed == 1 then return publish_upsert(n) end
return 0`,

  /** ARGV: P, name, health, hb|'', age -> index, 0, -1 unknown */
  sbSetHealth: `${PRELUDE}
local n = ARGV[2]
if redis.call('EXISTS', svc(n)) == 0 then return -1 end
local changed = 0
if redis.call('HGET', svc(n), 'health') ~= ARGV[3] then
  redis.call('HSET', svc(n), 'health', ARGV[3])
  changed = 1
end
if ARGV[4] ~= '' then
  redis.call('HSET', svc(n), 'hb', ARGV[4])
  if touch(n, tonumber(ARGV[4]), tonumber(redis.call('HGET', svc(n), 'ttl')), ARGV[5]) == 1 then changed = 1 end
end
if changed == 1 then return publish_upsert(n) end
return 0`,

  /** ARGV: P, name -> 1 removed, 0 unknown (a record Redis already expired still gets its delete event) */
  sbRemove: `${PRELUDE}
local n = ARGV[2]
local existed = redis.call('DEL', svc(n))
local listed = redis.call('ZREM', P .. ':names', n)
redis.call('ZREM', P .. ':lease', n)
if listed == 1 then publish_delete(n) end
return existed`,

  /** ARGV: P, now -> names whose lease lapsed (each announced once) */
  sbExpireLeases: `${PRELUDE}
local names = redis.call('ZRANGEBYSCORE', P .. ':lease', '-inf', ARGV[2], 'LIMIT', 0, 1000)
local out = {}
for _, n in ipairs(names) do
  redis.call('ZREM', P .. ':lease', n)
  if redis.call('EXISTS', svc(n)) == 1 then
    publish_upsert(n)
    table.insert(out, n)
  end
end
return out`,

  /** ARGV: P, now, age -> names removed (heartbeat older than age) */
  sbCleanup: `${PRELUDE}
local cutoff = tonumber(ARGV[2]) - tonumber(ARGV[3])
local names = redis.call('ZRANGEBYSCORE', P .. ':names', '-inf', '(' .. cutoff, 'LIMIT', 0, 1000)
local out = {}
for _, n in ipairs(names) do
  local hb = redis.call('HGET', svc(n), 'hb')
  if (not hb) or tonumber(hb) < cutoff then
    redis.call('DEL', svc(n))
    redis.call('ZREM', P .. ':names', n)
    redis.call('ZREM', P .. ':lease', n)
    publish_delete(n)
    table.insert(out, n)
  end
end
return out`,

  /** ARGV: P, holder, ttl -> 1 when holder leads */
  sbLead: `
local k = ARGV[1] .. ':leader'
local cur = redis.call('GET', k)
if not cur then
  redis.call('SET', k, ARGV[2], 'PX', ARGV[3])
  return 1
end
if cur == ARGV[2] then
  redis.call('PEXPIRE', k, ARGV[3])
  return 1
end
return 0`,
} as const;

export type ScriptName = keyof typeof SCRIPTS;
