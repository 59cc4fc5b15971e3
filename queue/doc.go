// Package queue spreads a reduction over many hosts through a Redis work
// queue: the Func a program registered with the engine (engine.Register),
// each chunk computed on its host by the multi-process shared-memory
// engine. The queue knows nothing of any Func but its name, its ops, its
// params and, if it has one, its closed form.
//
// A program that registers its Funcs submits a job (Submit: Func, N,
// Params) and waits for its engine.Result (Submission.Wait); the same
// program, run on other hosts, serves jobs (Serve). A worker whose program
// lacks the job's Func, or is another build, refuses the job with a dead
// letter saying so and takes no lease. pishm coordinate and pishm worker
// use the same machinery for the Funcs of package engine/pi.
//
// A coordinator (Coordinate, which Submit runs) cuts [0, N) into
// Job.Chunks contiguous chunks on the engine's grid of Job.Grain terms
// (Job.Bounds), queues their indices and gathers the results. Workers
// (Work), on any number of hosts, take chunks under leases: a token from
// the server (so leases are unique whatever the workers are called) with a
// deadline that the worker extends only while the engine's term count
// grows. A chunk whose engine stalls for Job.Lease is taken back, by the
// next worker that looks or by its own worker, which kills the stuck run.
// An idle worker may run a second copy of the chunk that has run longest
// (a straggler, as MapReduce does). One script sends a result and ends its
// lease, so a worker killed at any instant leaves both done or neither.
//
// A chunk's result is the exact state of its reduction (partial.Partial:
// the superaccumulator, or the extreme for Min and Max), so any honest
// worker sends the same bytes for it. The coordinator merges the accepted
// states exactly and rounds once: the job's value is that of
// engine.Reduce over [0, N) on one machine, bit for bit. Integrity comes
// from a Func's closed form, if it has one (each chunk within its
// bounds, the sum within SumRelTol, else ErrInexact), and for any Func from redundancy
// (Job.Redundancy k: k distinct workers per chunk, accepted when their
// states are equal; a disagreement goes to another worker, and a worker
// outvoted ShunAfter times is shunned).
//
// Results are kept in redis until the job's end, so a coordinator that
// dies or loses redis can be restarted and resume (Job.Retain bounds how
// long the keys wait); with a redis-server that persists (appendonly), a
// server restart mid-job costs nothing but the outage. Every key of a job
// has a TTL and the job's hash tag, so every script touches one cluster
// slot and runs on Redis Cluster (a redis.ClusterClient) and managed
// Redis; each script call does bounded work whatever the job's size. The
// keys and the scripts are listed at jobsKey in job.go and in scripts.go.
// Redis outages are retried with backoff for CoordinateOptions.Outage and
// WorkerOptions.Outage.
package queue
