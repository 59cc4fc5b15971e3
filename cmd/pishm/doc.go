// Command pishm computes pi from the series S_n = sum_{k<n} 1/(2k+1)^2 on
// child processes that share a memory segment, and checks the result
// against the exact partial sum.
//
// Usage:
//
//	pishm [flags]
//	pishm info
//	pishm gc
//	pishm version
//	pishm help [command]
//	pishm coordinate -redis URL -n N -chunks C [flags]
//	pishm worker -redis URL [flags]
//	pishm bench [-quick] [-compare] [-count K] [-json|-csv] [-svg FILE]
//	pishm stats [-workers W] [-mode M] [-json] [-bins B] [-range LO:HI] [-type f64|f32] FILE
//
// info lists the CPU's kernels and the slot geometry; gc removes what a
// pishm killed outright may have left (named segments of older versions,
// message-passing temp dirs and queues), and only where the creator is dead
// (pid and start time). version prints the module
// version, the Go version, the VCS revision and the build settings that
// change the code (CGO_ENABLED, GOAMD64 or GOARM64, -tags). help is -h;
// help bench, help coordinate and help worker give a subcommand's flags.
// coordinate queues the chunks of one job in a redis-server and reduces the
// results in chunk order; worker, on any number of hosts, takes chunks and
// computes each with the local engine (see the queue package). bench runs
// the comparison matrix of strategies, transports and scaling. stats
// gives the count, exact sum, mean, variance, extremes and histogram of a
// file of float64s or float32s (raw or .npy), the same bits for any
// workers and mode.
//
// The parent creates a segment (POSIX shared memory under /dev/shm, or a
// file with -shm=file -path=FILE), re-executes itself once per worker, and
// gathers the workers' partial sums by the strategy -mode names:
//
//	slots       each worker writes its own cache-line-padded slot (wait-free)
//	cas         every worker adds into one shared float64 by compare-and-swap
//	mutex       every worker adds under a cross-process lock (a pid-word futex mutex)
//	goroutines  the same work on goroutines in one process (the baseline)
//
// and, for comparison, message passing: each worker sends its partial
// (float64 bits) over file, pipe, fifo, unix, tcp, socketpair, posixmq,
// sysvmq or redis (a real redis-server at -redis), and S comes out
// bit-identical to slots.
//
// -path refuses an existing file unless -force is given; with -force the
// existing file is deleted, replaced by the segment, and the segment is
// removed after the run, so the file is gone afterwards. -path never
// follows a symlink.
//
// With -json the result is one object: n, workers, mode, kernel, shm,
// sched, pi, pi_error, sum, sum_exact, sum_rel_error, elapsed_ns, wall_ns,
// terms_per_sec, publishes and workers_detail; publish (static: the most
// terms a worker summed between two publishes, -publish or its whole share)
// or chunk (dynamic: terms per chunk); pi_extrapolated and
// pi_extrapolated_error with -extrapolate; failures, rebuilt, lost_sum,
// offset and pad when they apply; error when the run failed (the object is
// printed then too, and the exit status is the failure's).
//
// The commands that need more than the plain run links (stats, bench,
// coordinate, worker, and the modes unix, tcp and redis) are pishm-full's:
// pishm runs the pishm-full beside it (or on PATH) in its place, with the
// same arguments, so that the plain run's process starts without the
// network, Redis and file-format code those need (see docs/running.md).
//
// A child is recognised by the PISHM_SEGMENT and PISHM_WORKER environment
// variables the parent sets; nothing else should set them. PISHM_KERNEL
// overrides -kernel=auto.
//
// Exit status:
//
//	0              success (and -h, help)
//	1              a failure at run time: a worker that died with no retry
//	               left, -timeout, an unreachable redis-server
//	2              bad input: a flag the parser rejects (one line, then a
//	               pointer to -h), a bad value, a -path that exists (without
//	               -force) or whose directory does not, a -redis URL with no
//	               redis scheme, an unknown PISHM_KERNEL
//	129, 130, 143  stopped by SIGHUP, SIGINT or SIGTERM (128 + the signal);
//	               stderr says "pishm: stopped by SIGTERM"
//
// # Example
//
//	$ pishm -n 1e9 -mode=slots -workers 2
//	pi        3.1415926532714833  (error -3.183e-10 against math.Pi: the truncation of the series at n terms)
//	S_n       1.2337005498861697  (exact 1.2337005498861697, relative error +0.00e+00)
//	n         1000000000 terms, 2 workers, mode slots, kernel avx512, shm posix, sched static, spawn fork
//	time      50.862ms wall, 45.992ms work, 2.17e+10 terms/s
package main
