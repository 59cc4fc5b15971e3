package queue

import "github.com/redis/go-redis/v9"

// The scripts make each step of the protocol atomic on the server. Every
// write a worker makes (except BLMOVE, which only moves an element that
// exists) first checks that the job's key exists, so a worker that
// outlives the job cannot create keys after the coordinator removed them.
//
// The reaper, keepalive and cleanup scripts derive the per-worker keys from
// the workers set (the ARGV prefixes): those keys share the job's hash tag,
// so they are in the same cluster slot as the declared ones.

// heartbeatScript registers a worker and renews its heartbeat.
// KEYS: job, workers, hb, proc, done. ARGV: worker, heartbeat TTL ms, key TTL ms.
// Returns 0 when the job is gone, 2 when it is done, 1 otherwise.
var heartbeatScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[5]) == 1 then return 2 end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
redis.call('PEXPIRE', KEYS[4], ARGV[3])
return 1`)

// ackScript publishes a chunk's result and acknowledges the chunk in one
// step. KEYS: job, results, proc. ARGV: record, chunk.
// Returns -1 when the job is gone, else how many copies of the chunk left
// the processing list (0: it had been requeued meanwhile).
var ackScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('RPUSH', KEYS[2], ARGV[1])
return redis.call('LREM', KEYS[3], 1, ARGV[2])`)

// leaveScript unregisters a worker, first returning whatever its
// processing list holds to the queue. KEYS: job, queue, proc, hb, workers.
// ARGV: worker. Returns the number of chunks returned.
var leaveScript = redis.NewScript(`
local moved = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  while redis.call('LMOVE', KEYS[3], KEYS[2], 'LEFT', 'LEFT') do moved = moved + 1 end
  redis.call('SREM', KEYS[5], ARGV[1])
end
redis.call('DEL', KEYS[3], KEYS[4])
return moved`)

// reapScript requeues the chunks of every worker whose heartbeat key has
// expired and forgets that worker. KEYS: job, queue, workers, results.
// ARGV: proc prefix, hb prefix. Returns {requeued, queue length, results
// length, the chunks held by live workers}.
var reapScript = redis.NewScript(`
local moved = 0
local held = {}
for _, w in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local proc = ARGV[1] .. w
  if redis.call('EXISTS', ARGV[2] .. w) == 0 then
    while redis.call('LMOVE', proc, KEYS[2], 'RIGHT', 'LEFT') do moved = moved + 1 end
    redis.call('SREM', KEYS[3], w)
  else
    for _, c in ipairs(redis.call('LRANGE', proc, 0, -1)) do held[#held + 1] = c end
  end
end
return {moved, redis.call('LLEN', KEYS[2]), redis.call('LLEN', KEYS[4]), held}`)

// keepaliveScript renews the TTL that removes a job's keys if its
// coordinator dies without cleaning up. KEYS: job, queue, workers,
// results, done. ARGV: TTL ms, proc prefix.
var keepaliveScript = redis.NewScript(`
for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, ARGV[1]) end
for _, w in ipairs(redis.call('SMEMBERS', KEYS[3])) do redis.call('PEXPIRE', ARGV[2] .. w, ARGV[1]) end
return 1`)

// cleanupScript deletes a job's keys, the job key first in the same atomic
// step, so no worker script writes after it. KEYS: job, queue, workers,
// results, done. ARGV: proc prefix, hb prefix. Returns the keys deleted.
var cleanupScript = redis.NewScript(`
local n = 0
for _, w in ipairs(redis.call('SMEMBERS', KEYS[3])) do n = n + redis.call('DEL', ARGV[1] .. w, ARGV[2] .. w) end
return n + redis.call('DEL', unpack(KEYS))`)
