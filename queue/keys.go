package queue

// The keys. Every key of a job carries the job's ID as a hash tag (the
// braces), so all of them are in one cluster slot and every script
// declares the keys it touches in KEYS. Every key has a TTL: the job's
// keys take the job key's remaining TTL whenever a script writes them, and
// the coordinator renews them all to Job.Retain.
//
//	pishm:queue:jobs             set of job IDs, for workers without -job
//	pishm:queue:{ID}:job         the Job as JSON; gone means gone
//	pishm:queue:{ID}:coord       the live coordinator's token, TTL Job.Lease
//	pishm:queue:{ID}:queue       list of chunk indices waiting
//	pishm:queue:{ID}:leases      zset lease token -> deadline (ms, server clock)
//	pishm:queue:{ID}:lease       hash lease token -> "CHUNK WORKER"
//	pishm:queue:{ID}:copies      hash chunk -> leases held on it
//	pishm:queue:{ID}:started     zset chunk -> when its current lease began
//	pishm:queue:{ID}:finished    set of chunks that have a result
//	pishm:queue:{ID}:attempts    hash chunk -> times taken (not speculatively)
//	pishm:queue:{ID}:errors      hash chunk -> why its last attempt failed
//	pishm:queue:{ID}:dead        list of dead letters (JSON)
//	pishm:queue:{ID}:results     list of result records (JSON), kept to the end
//	pishm:queue:{ID}:seq         counter of lease tokens
//	pishm:queue:{ID}:stats       hash of counters (reclaimed, speculative)
//	pishm:queue:{ID}:who         hash "CHUNK WORKER" -> 1: who took a copy
//	                             (Redundancy > 1, so that copies go to
//	                             distinct workers)
//	pishm:queue:{ID}:got         hash chunk -> results sent
//	pishm:queue:{ID}:shunned     hash worker -> why it takes no chunk: shunned
//	                             by the coordinator, or it refused the job
//	pishm:queue:{ID}:issued      hash lease token -> "CHUNK WORKER" of every
//	                             lease ever issued: a result counts only if it
//	                             answers one (see ackScript, gatherScript)
//	pishm:queue:{ID}:end         "done" and its outcome, or why it failed or
//	                             was cancelled: the only key left after the
//	                             end, for Job.Retain (cancelled: endTTL)
const jobsKey = "pishm:queue:jobs"

type keys struct{ base string }

func keysOf(id string) keys { return keys{"pishm:queue:{" + id + "}"} }

func (k keys) job() string      { return k.base + ":job" }
func (k keys) coord() string    { return k.base + ":coord" }
func (k keys) queue() string    { return k.base + ":queue" }
func (k keys) leases() string   { return k.base + ":leases" }
func (k keys) lease() string    { return k.base + ":lease" }
func (k keys) copies() string   { return k.base + ":copies" }
func (k keys) started() string  { return k.base + ":started" }
func (k keys) finished() string { return k.base + ":finished" }
func (k keys) attempts() string { return k.base + ":attempts" }
func (k keys) errors() string   { return k.base + ":errors" }
func (k keys) dead() string     { return k.base + ":dead" }
func (k keys) results() string  { return k.base + ":results" }
func (k keys) seq() string      { return k.base + ":seq" }
func (k keys) stats() string    { return k.base + ":stats" }
func (k keys) who() string      { return k.base + ":who" }
func (k keys) got() string      { return k.base + ":got" }
func (k keys) shunned() string  { return k.base + ":shunned" }
func (k keys) issued() string   { return k.base + ":issued" }
func (k keys) end() string      { return k.base + ":end" }

// all lists every key of the job but end, in the order the scripts take
// them (see scripts.go).
func (k keys) all() []string {
	return []string{k.job(), k.coord(), k.queue(), k.leases(), k.lease(), k.copies(), k.started(),
		k.finished(), k.attempts(), k.errors(), k.dead(), k.results(), k.seq(), k.stats(), k.who(), k.got(),
		k.shunned(), k.issued(), k.end()}
}
