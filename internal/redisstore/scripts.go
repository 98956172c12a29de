package redisstore

import "github.com/redis/go-redis/v9"

// The Lua scripts run atomically inside Redis: every write checks its
// precondition, bumps the version, changes the samples and appends the
// change to the stream in one step, so two replicas can never interleave
// half-writes or lose an update silently.
//
// Keys (in this order for every script):
//
//	KEYS[1] meta     hash: version, next_id, initial_next
//	KEYS[2] samples  hash: id -> sample JSON
//	KEYS[3] etags    hash: id -> ETag of the sample
//	KEYS[4] initial  hash: id -> sample JSON of the loaded set (for a reset)
//	KEYS[5] ietags   hash: id -> ETag of the loaded set's samples
//	KEYS[6] changes  stream of changes: v, op, id, s (sample JSON), e (ETag)
//
// Errors come back as error replies whose first word the Go side maps to a
// domain error kind: NOTFOUND, PRECONDITION, CONFLICT, NOTSEEDED.

// seedScript fills an empty namespace with the loaded set. It does nothing
// (and returns 0) when the namespace is already seeded, so any number of
// replicas may race to seed it. ARGV: stream max length, then triples of
// id, sample JSON, ETag.
var seedScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local maxid = 0
for i = 2, #ARGV, 3 do
  local id = tonumber(ARGV[i])
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i+1])
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i+2])
  redis.call('HSET', KEYS[4], ARGV[i], ARGV[i+1])
  redis.call('HSET', KEYS[5], ARGV[i], ARGV[i+2])
  if id > maxid then maxid = id end
end
redis.call('HSET', KEYS[1], 'version', 1, 'next_id', maxid + 1, 'initial_next', maxid + 1)
redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[1], '*', 'v', 1, 'op', 'seed')
return 1
`)

// putScript creates or replaces a sample. ARGV: stream max length, id,
// sample JSON, ETag, If-Match ("" for none, "*" for any existing sample,
// "!" for "must not exist": a create with a reserved id). Returns {version,
// created}.
var putScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('NOTSEEDED the training set is not in Redis') end
local id = ARGV[2]
local ifmatch = ARGV[5]
local cur = redis.call('HGET', KEYS[3], id)
if ifmatch == '!' then
  if cur then return redis.error_reply('CONFLICT sample ' .. id .. ' exists') end
elseif ifmatch ~= '' then
  if not cur then return redis.error_reply('PRECONDITION If-Match given but sample ' .. id .. ' does not exist') end
  if ifmatch ~= '*' and ifmatch ~= cur then
    return redis.error_reply('PRECONDITION sample ' .. id .. ' has changed: its ETag is now ' .. cur .. '; fetch it again and retry')
  end
end
local v = redis.call('HINCRBY', KEYS[1], 'version', 1)
local nextid = tonumber(redis.call('HGET', KEYS[1], 'next_id'))
if tonumber(id) + 1 > nextid then redis.call('HSET', KEYS[1], 'next_id', tonumber(id) + 1) end
redis.call('HSET', KEYS[2], id, ARGV[3])
redis.call('HSET', KEYS[3], id, ARGV[4])
redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[1], '*', 'v', v, 'op', 'put', 's', ARGV[3])
local created = 0
if not cur then created = 1 end
return {v, created}
`)

// reserveScript hands out the next id for a create (and moves the counter
// past it), so that the ETag, which covers the id, can be computed before
// the write. Returns the id.
var reserveScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('NOTSEEDED the training set is not in Redis') end
return redis.call('HINCRBY', KEYS[1], 'next_id', 1) - 1
`)

// deleteScript removes a sample. ARGV: stream max length, id, If-Match.
// Returns the new version.
var deleteScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('NOTSEEDED the training set is not in Redis') end
local id = ARGV[2]
local cur = redis.call('HGET', KEYS[3], id)
if not cur then return redis.error_reply('NOTFOUND no sample with id ' .. id) end
if ARGV[3] ~= '' and ARGV[3] ~= '*' and ARGV[3] ~= cur then
  return redis.error_reply('PRECONDITION sample ' .. id .. ' has changed: its ETag is now ' .. cur .. '; fetch it again and retry')
end
if redis.call('HLEN', KEYS[2]) <= 1 then
  return redis.error_reply('CONFLICT cannot delete the last sample: a training set needs at least one')
end
local v = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HDEL', KEYS[2], id)
redis.call('HDEL', KEYS[3], id)
redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[1], '*', 'v', v, 'op', 'delete', 'id', id)
return v
`)

// resetScript restores the loaded set; ids used since stay used. ARGV:
// stream max length. Returns the new version.
var resetScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('NOTSEEDED the training set is not in Redis') end
local v = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('COPY', KEYS[4], KEYS[2], 'REPLACE')
redis.call('COPY', KEYS[5], KEYS[3], 'REPLACE')
local nextid = tonumber(redis.call('HGET', KEYS[1], 'next_id'))
local inext = tonumber(redis.call('HGET', KEYS[1], 'initial_next'))
if inext > nextid then redis.call('HSET', KEYS[1], 'next_id', inext) end
redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[1], '*', 'v', v, 'op', 'reset')
return v
`)

// loadScript reads the whole state in one atomic step: {version, next_id,
// last stream id, current samples (flat id/json), initial samples}.
var loadScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('NOTSEEDED the training set is not in Redis') end
local meta = redis.call('HMGET', KEYS[1], 'version', 'next_id')
local last = redis.call('XREVRANGE', KEYS[6], '+', '-', 'COUNT', 1)
local lastid = '0-0'
if #last > 0 then lastid = last[1][1] end
return {meta[1], meta[2], lastid, redis.call('HVALS', KEYS[2]), redis.call('HVALS', KEYS[4])}
`)
