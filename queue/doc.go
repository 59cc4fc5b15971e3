// Package queue spreads the pi series over many hosts through a Redis work
// queue, each chunk computed on its host by the multi-process
// shared-memory engine.
//
// A coordinator (Coordinate) cuts [0, N) into Job.Chunks contiguous chunks
// with fixed boundaries (Job.Bounds), queues their indices and gathers the
// results. Workers (Work), on any number of hosts, take chunks under
// leases: a token from the server (so leases are unique whatever the
// workers are called) with a deadline that the worker extends only while
// the engine's term count grows. A chunk whose engine stalls for Job.Lease
// is taken back, by the next worker that looks or by its own worker, which
// kills the stuck run. An idle worker may run a second copy of the chunk
// that has run longest (a straggler, as MapReduce does). One script sends
// a result and ends its lease, so a worker killed at any instant leaves
// both done or neither.
//
// Results are kept in redis until the job's end, so a coordinator that
// dies or loses redis can be restarted and resume (Job.Retain bounds how
// long the keys wait). The coordinator checks every result against its
// chunk's closed-form sum (Job.Exact): non-finite or out-of-bounds values
// are rejected and the chunk recomputed; for a reproducible job two valid
// results that differ send the chunk to a third run. It reduces the
// partials in chunk order with a compensated sum, so the result is
// bit-identical to Local, and fails the job (ErrInexact) if S_n is not the
// closed form's within SumRelTol.
//
// Every key of a job has a TTL; the keys and the scripts are listed at
// jobsKey in job.go and in scripts.go. Redis outages are retried with
// backoff for CoordinateOptions.Outage and WorkerOptions.Outage.
package queue
