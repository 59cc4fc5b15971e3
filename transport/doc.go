// Package transport carries each worker's result (a Message: its exact sum
// as a superacc accumulator, that sum rounded or the Min/Max extreme, its
// range and timing) from a child process to the parent by message passing,
// as an alternative to writing it into a shared-memory slot. Every record
// is MessageSize bytes, small enough for one atomic pipe write and for the
// default message size limits of POSIX and System V queues.
//
// The parent makes one Collector per run. For each worker i it calls
// Child(i), starts the child with the returned environment entries appended
// to its own and the returned files as exec.Cmd.ExtraFiles (the k-th file is
// fd 3+k in the child), then calls Started(i); when the child exits with
// status 0 it calls Exited(i). Collect waits for one record from every
// worker, and Close removes whatever the run created. The child, the same
// binary re-executed, calls Send once.
//
// Kinds (see Kinds), and the package that registers each:
//
//	file        one file per worker in a private 0700 temp dir, read at Exited
//	pipe        one anonymous pipe per worker, write end inherited as fd 3
//	fifo        one named pipe in a private temp dir shared by all workers
//	unix        a unix stream socket listening in a private temp dir (transport/netsock)
//	tcp         a listener on 127.0.0.1 with a kernel-chosen port (transport/netsock)
//	socketpair  one AF_UNIX socketpair per worker, one end inherited as fd 3
//	posixmq     a POSIX message queue (raw mq_* syscalls), unlinked at Close
//	sysvmq      a System V message queue (msgget, a random key), removed at Close
//	redis       RPUSH to a per-run random list, BLPOP in the parent, DEL at Close (transport/redis)
//
// This package implements the kinds that need neither package net nor a
// client library, so that a worker process which links it initialises
// little. unix and tcp live in transport/netsock and redis in
// transport/redis: a program that wants them imports those packages for
// their side effect, and they Register themselves. NewCollector and Send
// for a kind that is not linked in fail with ErrNotLinked, naming the
// package to import (see Import). Register adds a kind; a backend is a
// Backend built on the run's Core.
//
// Per-worker channels (file, pipe, socketpair, and unix/tcp connections,
// which open with a hello naming the worker) know which worker a record came
// from, so a record for another worker is an error (ErrWrongWorker). On the
// shared channels (fifo, posixmq, sysvmq, redis) only the record names its
// worker. unix and tcp connections must first present a per-run random token
// (a stray local connection is dropped, not counted).
//
// The child reads these environment variables, all set by Child:
//
//	PISHM_TRANSPORT            the kind
//	PISHM_TRANSPORT_WORKER     the worker index; Send refuses a Message for another
//	PISHM_TRANSPORT_ADDR       file/fifo/socket path, host:port, queue name or id, redis key
//	PISHM_TRANSPORT_FD         the inherited descriptor (pipe, socketpair)
//	PISHM_TRANSPORT_TOKEN      the hello token (unix, tcp)
//	PISHM_TRANSPORT_REDIS_URL  the redis URL (it may carry a password)
//
// fifo, socketpair, posixmq and sysvmq are implemented for Linux only;
// elsewhere NewCollector and Send return an error wrapping ErrUnsupported.
//
// The named resources (temp dirs, POSIX and System V queues) name their
// creator, by pid and start time, and a manifest in os.TempDir() lists each
// before it exists; Close removes both. GC removes those of a creator that
// died without closing (SIGKILL), and only those (see res.go and GC); the
// first NewCollector of each process runs it, so a killed program's names
// go with the next run.
//
// A Collect that fails early leaves the children running: Close makes their
// later sends fail (the dir, FIFO, socket, queue or redis run key is gone)
// rather than leave anything behind, and ending them is the caller's job.
package transport
