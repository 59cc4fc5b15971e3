package queue

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// The scripts make each step of the protocol atomic on the server. Every
// script takes all of the job's keys, in the order of keys.all, as KEYS
// (they share one hash tag, so one cluster slot), and touches no other.
//
// A script that writes a key gives it the job key's remaining TTL, so no
// key outlives the job key, whoever wrote it last; the coordinator renews
// them all (gatherScript). A script run after the job key is gone writes
// nothing and answers {"end", why} when the job ended (the end marker), or
// {"gone"} when its keys vanished (redis restarted without persistence, or
// the coordinator was away longer than Job.Retain).
const prelude = `
local K_job, K_coord, K_queue, K_leases, K_lease, K_copies, K_started, K_finished,
      K_attempts, K_errors, K_dead, K_results, K_seq, K_stats, K_who, K_got, K_shunned, K_issued, K_end = unpack(KEYS)
local ttl = redis.call('PTTL', K_job)
local function ended()
  local e = redis.call('GET', K_end)
  if e then return {'end', e} end
  return {'gone'}
end
local function keep(k) redis.call('PEXPIRE', k, math.max(ttl, 1)) end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- the lease value: "CHUNK KIND WORKER"
local function parse_lease(v) return string.match(v or '', '^(%d+) (%a+) (.*)$') end
-- drop lease tok (held on chunk c); returns the leases left on c
local function drop(tok, c)
  if redis.call('ZREM', K_leases, tok) == 0 then return -1 end
  redis.call('HDEL', K_lease, tok)
  local left = redis.call('HINCRBY', K_copies, c, -1)
  if left <= 0 then redis.call('HDEL', K_copies, c) end
  return left
end
`

// luaScript is a Lua script whose SHA-1 (redis.NewScript computes it) is
// made on first use, not at init: every pishm process links this package,
// and most never talk to redis.
type luaScript struct {
	get func() *redis.Script
}

func script(body string) *luaScript {
	return &luaScript{get: sync.OnceValue(func() *redis.Script { return redis.NewScript(prelude + body) })}
}

// takeScript gives the caller a lease on a chunk: first one whose lease
// lapsed (its worker stopped making progress), then the head of the queue,
// then, if ARGV[4] > 0, a speculative second copy of the chunk that has run
// longest, when that is longer than ARGV[4] ms and nobody else runs a copy.
// With redundancy k = ARGV[6] > 1 every queue entry is one copy to compute,
// and a worker never gets a copy of a chunk it took before: such entries
// go back to the tail for another worker. A queue entry that is no chunk
// index goes to the dead letters at once (it can never succeed); a chunk
// taken more than ARGV[3] times goes there too, and the job fails. A
// shunned worker gets nothing. The script looks at no more than a few
// dozen entries, so a call is O(1) whatever the job's size.
// ARGV: worker, lease ms, max attempts, speculate-after ms, chunks, k.
// Returns {"lease", token, chunk, kind, attempt}, {"idle", skipped},
// {"dead", chunk}, {"shunned", why}, or ended().
var takeScript = script(`
if ttl < 0 then return ended() end
local why = redis.call('HGET', K_shunned, ARGV[1])
if why then return {'shunned', why} end
local k = tonumber(ARGV[6])
local now = now_ms()
local chunk, kind
local skipped = {}
local function mine(c) return k > 1 and redis.call('HEXISTS', K_who, c .. ' ' .. ARGV[1]) == 1 end
for _, tok in ipairs(redis.call('ZRANGEBYSCORE', K_leases, '-inf', now, 'LIMIT', 0, 16)) do
  local c, ckind, w = parse_lease(redis.call('HGET', K_lease, tok))
  if c then
    local left = drop(tok, c)
    if k > 1 then redis.call('HDEL', K_who, c .. ' ' .. w) end
    local needed = ckind ~= 'speculative' and (left <= 0 or k > 1)
    if needed and redis.call('SISMEMBER', K_finished, c) == 0 then
      redis.call('HINCRBY', K_stats, 'reclaimed', 1)
      if mine(c) then
        table.insert(skipped, c)
      else
        chunk, kind = c, 'reclaimed'
        break
      end
    end
  else
    redis.call('ZREM', K_leases, tok)
    redis.call('HDEL', K_lease, tok)
  end
end
for _ = 1, 64 do
  if chunk then break end
  local v = redis.call('LPOP', K_queue)
  if not v then break end
  local n = tonumber(v)
  if n == nil or string.format('%d', n) ~= v or n < 0 or n >= tonumber(ARGV[5]) then
    redis.call('RPUSH', K_dead, cjson.encode({entry = v, reason = 'not a chunk index of [0, ' .. ARGV[5] .. ')', worker = ARGV[1]}))
    keep(K_dead)
  elseif redis.call('SISMEMBER', K_finished, v) == 0 then
    if mine(v) then
      table.insert(skipped, v)
      if #skipped >= 16 then break end
    else
      chunk, kind = v, 'queued'
    end
  end
end
if #skipped > 0 then
  redis.call('RPUSH', K_queue, unpack(skipped))
  keep(K_queue)
end
if not chunk and k == 1 and tonumber(ARGV[4]) > 0 then
  local r = redis.call('ZRANGE', K_started, 0, 15, 'WITHSCORES')
  for i = 1, #r, 2 do
    local c, t = r[i], tonumber(r[i + 1])
    if t > now - tonumber(ARGV[4]) then break end
    if tonumber(redis.call('HGET', K_copies, c) or '0') == 1 and redis.call('SISMEMBER', K_finished, c) == 0 then
      chunk, kind = c, 'speculative'
      redis.call('HINCRBY', K_stats, 'speculative', 1)
      break
    end
  end
end
if not chunk then return {'idle', #skipped} end
local attempt = 0
if kind ~= 'speculative' then
  attempt = redis.call('HINCRBY', K_attempts, chunk, 1)
  keep(K_attempts)
  if attempt > tonumber(ARGV[3]) then
    local last = redis.call('HGET', K_errors, chunk) or 'its leases lapsed'
    redis.call('RPUSH', K_dead, cjson.encode({entry = chunk, reason = 'taken ' .. (attempt - 1) .. ' times without a result; last: ' .. last, worker = ARGV[1]}))
    keep(K_dead)
    return {'dead', chunk}
  end
  redis.call('ZADD', K_started, now, chunk)
  keep(K_started)
end
if k > 1 then
  redis.call('HSET', K_who, chunk .. ' ' .. ARGV[1], 1)
  keep(K_who)
end
local tok = redis.call('INCR', K_seq)
redis.call('ZADD', K_leases, now + tonumber(ARGV[2]), tok)
redis.call('HSET', K_lease, tok, chunk .. ' ' .. kind .. ' ' .. ARGV[1])
redis.call('HSET', K_issued, tok, chunk .. ' ' .. ARGV[1])
redis.call('HINCRBY', K_copies, chunk, 1)
for _, key in ipairs({K_seq, K_leases, K_lease, K_issued, K_copies, K_stats}) do keep(key) end
return {'lease', tostring(tok), chunk, kind, attempt}`)

// renewScript checks a lease and, if ARGV[4] is "1", moves its deadline
// to ARGV[3] ms from now. ARGV: token, chunk, lease ms, extend. Returns
// {"ok"}, {"lost"} (another worker reclaimed it), {"finished"} (another
// copy sent the chunk's result; the lease is dropped), or ended().
var renewScript = script(`
if ttl < 0 then return ended() end
if redis.call('SISMEMBER', K_finished, ARGV[2]) == 1 then
  drop(ARGV[1], ARGV[2])
  return {'finished'}
end
if not redis.call('ZSCORE', K_leases, ARGV[1]) then return {'lost'} end
if ARGV[4] == '1' then redis.call('ZADD', K_leases, 'XX', now_ms() + tonumber(ARGV[3]), ARGV[1]) end
return {'ok'}`)

// ackScript publishes a chunk's result and ends its lease in one step: a
// worker killed at any instant leaves either both done or neither. The
// result goes in even if the lease was reclaimed meanwhile (it is a
// duplicate then, and the coordinator checks that the two agree). The
// chunk is finished once it has k results. A result must answer a lease
// this job issued for that chunk to that worker (K_issued), or it is
// refused and nothing changes. ARGV: record, token, chunk, k, worker.
// Returns {"ok", held (0/1), late (0/1: the chunk was finished already)},
// {"refused"} or ended().
var ackScript = script(`
if ttl < 0 then return ended() end
if redis.call('HGET', K_issued, ARGV[2]) ~= ARGV[3] .. ' ' .. ARGV[5] then return {'refused'} end
redis.call('RPUSH', K_results, ARGV[1])
keep(K_results)
local held = drop(ARGV[2], ARGV[3]) >= 0 and 1 or 0
local late = redis.call('SISMEMBER', K_finished, ARGV[3])
local got = redis.call('HINCRBY', K_got, ARGV[3], 1)
keep(K_got)
if got >= tonumber(ARGV[4]) then
  redis.call('SADD', K_finished, ARGV[3])
  keep(K_finished)
  redis.call('ZREM', K_started, ARGV[3])
end
return {'ok', held, late}`)

// nackScript gives a lease back: the chunk goes to the head of the queue
// unless it is finished, or (k = 1) another copy runs. With ARGV[4] "1"
// (the worker was stopped, the chunk did nothing wrong) the attempt is not
// counted and the worker may take the chunk again; otherwise ARGV[3] is
// kept as the chunk's last error. ARGV: token, chunk, reason, forgive, k,
// worker. Returns {"ok"}, {"lost"} or ended().
var nackScript = script(`
if ttl < 0 then return ended() end
local left = drop(ARGV[1], ARGV[2])
if left < 0 then return {'lost'} end
if ARGV[4] == '1' then
  redis.call('HINCRBY', K_attempts, ARGV[2], -1)
  redis.call('HDEL', K_who, ARGV[2] .. ' ' .. ARGV[6])
else
  redis.call('HSET', K_errors, ARGV[2], ARGV[3])
  keep(K_errors)
end
if (left <= 0 or tonumber(ARGV[5]) > 1) and redis.call('SISMEMBER', K_finished, ARGV[2]) == 0 then
  redis.call('LPUSH', K_queue, ARGV[2])
  keep(K_queue)
end
return {'ok'}`)

// banScript records why worker ARGV[1] takes no more chunks (ARGV[2]):
// the coordinator shuns it, or it refuses the job itself (another build,
// a Func it lacks). The first time, ARGV[3] (JSON) goes to the dead
// letters, so that the coordinator reports it. ARGV: worker, why, dead
// letter. Returns {"ok", new (0/1)} or ended().
var banScript = script(`
if ttl < 0 then return ended() end
local new = redis.call('HSETNX', K_shunned, ARGV[1], ARGV[2])
keep(K_shunned)
if new == 1 and ARGV[3] ~= '' then
  redis.call('RPUSH', K_dead, ARGV[3])
  keep(K_dead)
end
return {'ok', new}`)

// claimScript makes the caller (token ARGV[2]) the job's coordinator.
// A job that ended done or failed is never run again: while its end
// marker lasts (Job.Retain) the caller gets the marker instead, to report.
// A job key that exists is resumed as it is; otherwise ARGV[1] becomes the
// job, and any leftover of an earlier run goes (a cancelled job's marker
// too: cancelling is no outcome). ARGV: job JSON, token, lease ms, retain
// ms. Returns {"ended", marker}, {"busy", holder, its PTTL ms}, {"resume",
// job JSON} or {"new"}.
var claimScript = script(`
local e = redis.call('GET', K_end)
if e and (string.sub(e, 1, 4) == 'done' or string.sub(e, 1, 6) == 'failed') then return {'ended', e} end
local holder = redis.call('GET', K_coord)
if holder and holder ~= ARGV[2] then return {'busy', holder, redis.call('PTTL', K_coord)} end
local cur = redis.call('GET', K_job)
redis.call('SET', K_coord, ARGV[2], 'PX', ARGV[3])
if cur then return {'resume', cur} end
for i, k in ipairs(KEYS) do if i ~= 2 then redis.call('UNLINK', k) end end
redis.call('SET', K_job, ARGV[1], 'PX', ARGV[4])
return {'new'}`)

// gatherScript is the coordinator's tick: it checks that the job is still
// there and still its own, renews its presence (TTL Job.Lease) and every
// key's TTL (Job.Retain) when ARGV[6] is "1", and returns what is new in
// the results and dead letters. ARGV: token, lease ms, retain ms, results
// cursor, dead cursor, renew.
// Returns {"ok", records, dead letters, results length, queue length,
// leases, dead letters length, issued}, {"usurped", holder}, or ended(),
// where issued[i] is what K_issued says of the lease token records[i]
// names ("CHUNK WORKER", or "" for a token never issued, or none). At
// most 1000 results and 100 dead letters come per call.
var gatherScript = script(`
if ttl < 0 then return ended() end
local holder = redis.call('GET', K_coord)
if holder and holder ~= ARGV[1] then return {'usurped', holder} end
redis.call('SET', K_coord, ARGV[1], 'PX', ARGV[2])
if ARGV[6] == '1' then
  for i, k in ipairs(KEYS) do if i ~= 2 and i ~= #KEYS then redis.call('PEXPIRE', k, ARGV[3]) end end
end
local rc, dc = tonumber(ARGV[4]), tonumber(ARGV[5])
local recs = redis.call('LRANGE', K_results, rc, rc + 999)
local issued = {}
for i, r in ipairs(recs) do
  local ok, d = pcall(cjson.decode, r)
  local t = ok and type(d) == 'table' and d['lease']
  issued[i] = (type(t) == 'string' and redis.call('HGET', K_issued, t)) or ''
end
return {'ok', recs, redis.call('LRANGE', K_dead, dc, dc + 99),
  redis.call('LLEN', K_results), redis.call('LLEN', K_queue), redis.call('ZCARD', K_leases), redis.call('LLEN', K_dead), issued}`)

// requeueScript puts chunks ARGV[2:] on the queue (again): the chunks of
// a new job, or those of a resumed one that have no valid result and are
// nowhere else. ARGV: token, chunks. Returns {"ok"}, {"usurped"} or
// ended().
var requeueScript = script(`
if ttl < 0 then return ended() end
if redis.call('GET', K_coord) ~= ARGV[1] then return {'usurped'} end
for i = 2, #ARGV do
  redis.call('SREM', K_finished, ARGV[i])
  redis.call('RPUSH', K_queue, ARGV[i])
end
keep(K_queue)
return {'ok'}`)

// endScript ends the job: it deletes every key but the end marker, which
// it sets to ARGV[2] for ARGV[3] ms: "done" and the outcome (see
// endMarker), or why the job failed or was cancelled, so that workers
// still at it learn how the job ended instead of finding it gone, and a
// late coordinator reports the outcome instead of running the job again. It does nothing to a job another coordinator took over.
// ARGV: token, end text, end TTL ms. Returns {"ok"} or {"usurped"}.
var endScript = script(`
local holder = redis.call('GET', K_coord)
if holder and holder ~= ARGV[1] then return {'usurped'} end
for i = 1, #KEYS - 1 do redis.call('UNLINK', KEYS[i]) end
redis.call('SET', K_end, ARGV[2], 'PX', ARGV[3])
return {'ok'}`)

// run runs s on job id's keys and returns its reply as a list.
func run(ctx context.Context, c redis.UniversalClient, s *luaScript, id string, args ...any) ([]any, error) {
	v, err := s.get().Run(ctx, c, keysOf(id).all(), args...).Slice()
	if err != nil {
		return nil, err
	}
	if len(v) == 0 {
		return nil, errorf("empty script reply")
	}
	return v, nil
}

// str and num read a script reply's fields.
func str(v []any, i int) string {
	if i < len(v) {
		if s, ok := v[i].(string); ok {
			return s
		}
	}
	return ""
}

func num(v []any, i int) int64 {
	if i < len(v) {
		if n, ok := v[i].(int64); ok {
			return n
		}
	}
	return 0
}

func strs(v []any, i int) []string {
	var out []string
	if i < len(v) {
		l, _ := v[i].([]any)
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}
