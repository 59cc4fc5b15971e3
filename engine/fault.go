package engine

// faultHook, when set (by this package's tests only), is called at named
// points of a worker's life so that a test can SIGKILL a real worker
// exactly there (see "Faults" in protocol.go):
//
//	attach        before attaching to the segment
//	arrived       attached, before waiting for a call
//	claim-next    dynamic: a chunk index taken from the counter, not yet claimed
//	claim         dynamic: a chunk claimed in the table, not yet summed
//	sum           a piece summed, not yet published
//	accum         cas, mutex (inside the lock) and racy: added into the
//	              accumulator, not yet journaled
//	journal-half  the new journal entry written, not yet made active
//	journal       dynamic: journaled, the chunk not yet marked done
//	done          the call marked finished
var faultHook func(point string)

func fault(point string) {
	if faultHook != nil {
		faultHook(point)
	}
}

// faultGen is the call a worker is running, for faultHook's tests that
// kill in one call only.
var faultGen uint32
