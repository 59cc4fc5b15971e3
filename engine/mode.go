package engine

import (
	"slices"

	"github.com/pishm/pishm/transport"
)

// strategy is how workers publish their partial sums. Package lab names
// them for its users (lab.Mode, lab.WithMode): they are the comparison's
// knob, and every strategy gives the same bits.
type strategy string

// The publishing strategies.
const (
	// modeSlots: each worker writes only its own padded slot; the parent
	// reduces in worker order after every child exits (wait-free).
	modeSlots strategy = "slots"
	// modeCAS: every worker adds into one shared float64 with a
	// compare-and-swap loop on its bits (lock-free).
	modeCAS strategy = "cas"
	// modeMutex: every worker adds into the accumulator under a
	// cross-process semaphore.
	modeMutex strategy = "mutex"
	// modeGoroutines: the same work in this process on goroutines, the
	// baseline a Go user would write.
	modeGoroutines strategy = "goroutines"
)

// modeRacy adds into the accumulator with a plain load, add and store:
// the classic lost update, for the contention benchmark to count what it
// loses (lab.Racy, which asks for lab.AllowRacy).
const modeRacy strategy = "racy"

// shmModes are the modes that publish through the segment.
var shmModes = []strategy{modeSlots, modeCAS, modeMutex}

// The message-passing modes (lab.Pipe, ...): each worker sends its exact
// accumulator (and its rounded value, worker index, range, timing) to the
// parent over one of these, and the parent merges the messages'
// accumulators and rounds once, so the result is bit-identical to Slots;
// each message is checked against the worker's journal. Package transport
// implements them. Unix and TCP need package net and Redis needs
// go-redis, which engine does not link (every worker process would pay
// their initialisation): a program that uses those modes imports
// github.com/pishm/pishm/transport/netsock or .../transport/redis for its
// side effect; without it the call fails with an error naming the import.
const (
	modeFile  strategy = "file"
	modeRedis strategy = "redis"
)

// transportModes are the transport kinds the engine runs: those with a
// code in package transport's list.
var transportModes = func() []strategy {
	var m []strategy
	for _, k := range transport.Kinds() {
		if transport.Code(k) != 0 {
			m = append(m, strategy(k))
		}
	}
	return m
}()

// modes lists every mode this build knows: shared memory, the in-process
// baseline, then the message-passing transports.
func modes() []strategy {
	m := append(append([]strategy(nil), shmModes...), modeGoroutines)
	return append(m, transportModes...)
}

// isTransport reports whether m passes messages instead of sharing memory.
func (m strategy) isTransport() bool { return slices.Contains(transportModes, m) }

func (m strategy) valid() bool {
	return slices.Contains(shmModes, m) || m == modeGoroutines || m == modeRacy || slices.Contains(transportModes, m)
}
