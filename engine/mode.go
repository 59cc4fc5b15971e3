package engine

import (
	"slices"

	"github.com/pishm/pishm/transport"
)

// Mode is how workers publish their partial sums.
type Mode string

// The publishing strategies.
const (
	// Slots: each worker writes only its own padded slot; the parent
	// reduces in worker order after every child exits (wait-free).
	Slots Mode = "slots"
	// CAS: every worker adds into one shared float64 with a
	// compare-and-swap loop on its bits (lock-free).
	CAS Mode = "cas"
	// Mutex: every worker adds into the accumulator under a
	// cross-process semaphore.
	Mutex Mode = "mutex"
	// Goroutines: the same work in this process on goroutines, the
	// baseline a Go user would write.
	Goroutines Mode = "goroutines"
)

// Racy adds into the accumulator with a plain load, add and store: the
// classic lost update, for the contention benchmark to count what it
// loses. Modes does not list it, and the command line asks for a flag.
const Racy Mode = "racy"

// shmModes are the modes that publish through the segment.
var shmModes = []Mode{Slots, CAS, Mutex}

// The message-passing modes: each worker sends its exact accumulator (and
// its rounded value, worker index, range, timing) to the parent over one
// of these, and the parent merges the messages' accumulators and rounds
// once, so S is bit-identical to Slots; each message is checked against
// the worker's journal.
//
// Package transport implements them. Unix and TCP need package net and
// Redis needs go-redis, which engine does not link (every worker process
// would pay their initialisation): a program that uses those modes imports
// github.com/pishm/pishm/transport/netsock or .../transport/redis for its
// side effect; without it Run fails with an error naming the import.
const (
	File       Mode = "file"       // one file per worker in a private temp dir
	Pipe       Mode = "pipe"       // an anonymous pipe per worker (inherited fd)
	FIFO       Mode = "fifo"       // one named pipe all workers write to
	Unix       Mode = "unix"       // a unix stream socket the parent listens on
	TCP        Mode = "tcp"        // TCP on 127.0.0.1, kernel-chosen port
	Socketpair Mode = "socketpair" // a socketpair per worker (inherited fd)
	PosixMQ    Mode = "posixmq"    // a POSIX message queue
	SysVMQ     Mode = "sysvmq"     // a System V message queue
	Redis      Mode = "redis"      // RPUSH/BLPOP on a list of a real redis-server
)

// transportModes are the transport kinds the engine runs: those with a
// code in package transport's list.
var transportModes = func() []Mode {
	var m []Mode
	for _, k := range transport.Kinds() {
		if transport.Code(k) != 0 {
			m = append(m, Mode(k))
		}
	}
	return m
}()

// Modes lists every mode this build knows: shared memory, the in-process
// baseline, then the message-passing transports.
func Modes() []Mode {
	m := append(append([]Mode(nil), shmModes...), Goroutines)
	return append(m, transportModes...)
}

// IsTransport reports whether m passes messages instead of sharing memory.
func (m Mode) IsTransport() bool { return slices.Contains(transportModes, m) }

func (m Mode) valid() bool {
	return slices.Contains(shmModes, m) || m == Goroutines || m == Racy || slices.Contains(transportModes, m)
}
