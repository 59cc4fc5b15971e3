package engine

// faultHook, when set (by this package's tests only), is called at named
// points of a child's life so that a test can SIGKILL a real child exactly
// there:
//
//	attach     before attaching to the segment
//	arrived    at the start barrier
//	sum        after the first chunk is published
//	published  mid-publish: for cas after the CAS and before the journal,
//	           for mutex inside the critical section, holding the lock
//	done       after everything is published, before exit
var faultHook func(point string)

func fault(point string) {
	if faultHook != nil {
		faultHook(point)
	}
}
