// Package queue spreads the pi series over many hosts through a Redis work
// queue, each chunk computed on its host by the multi-process
// shared-memory engine.
//
// A coordinator (Coordinate) cuts [0, N) into Job.Chunks contiguous chunks
// with fixed boundaries (Job.Bounds), pushes their indices to a list, and
// waits for results. Workers (Work), on any number of hosts, take chunks
// with the reliable-queue pattern: BLMOVE moves a chunk from the queue into
// the worker's own processing list, the worker computes it with engine.Run,
// then one script pushes the result (the partial's float64 bits) and
// removes the chunk from the processing list (LREM). While it works, a
// worker renews a heartbeat key whose TTL is Job.Heartbeat; the coordinator
// moves the processing list of a worker whose key has expired back to the
// queue, so a worker killed mid-chunk loses nothing. A chunk that ends up
// computed twice (its worker was only slow) gives two results: the first
// wins, the rest are counted as duplicates.
//
// The coordinator reduces the partials in chunk order with a compensated
// (double-double) sum, and every setting that changes a chunk's bits (the
// engine's worker count, mode, kernel and inner chunk) is part of the Job,
// not of the host, so the result is bit-identical to Local, which computes
// the same chunks one after another on one machine.
//
// The keys of a job are listed at jobsKey in job.go. The coordinator
// deletes them all before Coordinate returns, on success, failure or
// cancellation; if it is killed outright they expire within a minute.
package queue
