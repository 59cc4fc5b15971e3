// Package engine reduces a Func of yours over n terms on worker
// processes that meet in a shared-memory segment: the sum (or minimum, or
// maximum) of f over [0, n), correctly rounded, the same bits for any
// number of workers, mode, schedule, one-shot or pooled, and checked
// against the Func's closed form when it has one.
//
// Three things make a program that uses it:
//
//  1. Register the Func by name from an init function:
//     Register("squares", f, []partial.Op{partial.Sum}). A Func has the
//     shape func(params []byte, lo, hi uint64) float64 and reduces the
//     terms [lo, hi); a VectorFunc adds k values at once into a Vector,
//     each under its own partial.Op. WithClosedForm gives a Sum Func its
//     exact sum, and every result is checked against it.
//  2. Call the child hook first thing in main (and in a test binary's
//     TestMain), as below: workers are re-executions of the binary that
//     find the Func by name.
//  3. Reduce: Reduce(ctx, "squares", n, opts...) starts workers for the
//     call; NewPool starts them once and its Reduce reuses them, a call
//     costing a futex wake-up. Both take the same CallOptions and return
//     the same Result; a Pool's own settings (its workers, capacities)
//     are PoolOptions, given to NewPool (or to a one-shot Reduce, which
//     is a Pool of one call).
//
// The hook:
//
//	func main() {
//		if engine.IsChild() {
//			os.Exit(engine.ChildMain())
//		}
//		...
//	}
//
// Every option applies where it is given or is refused: a PoolOption on a
// Pool's call does not compile, and a Pool's capacity given to a one-shot
// call is a *ConfigError. Every error is errors.Is-able to a sentinel
// (ErrWorkerDied, ErrFuncPanicked, ErrInexact, ErrPoolClosed, ...) and
// errors.As-able to a typed error with fields (*WorkerError,
// *ConfigError): a Func's panic reads the same whether it happened in a
// worker process or the calling one.
//
// Package engine/partial holds the ops (Sum, Min, Max) and the exact
// state a call returns in Result.Partial, to merge with other ranges' or
// send elsewhere. The ways of publishing (lab.Slots, lab.CAS, lab.Mutex;
// the message transports) and the knobs that compare them live in
// package engine/lab; package engine/catalog tells what fixes a result's
// bits (for the queue); package shared holds arrays a Func reads in its
// workers without a copy.
//
// Inside, package engine owns the worker protocol (protocol.go: the
// segment's control block, slots and journals, the calls, the faults) and
// the strategies; engine/internal/spawn is the only code that starts and
// reaps processes, engine/internal/fold the exact running reduction that
// the segment holds, engine/internal/kernel the assembly loops; shmem
// lays out bytes, sem locks a word.
package engine
