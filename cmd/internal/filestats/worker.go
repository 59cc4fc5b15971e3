package filestats

import (
	"encoding/json"
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/pishm/pishm/cmd/internal/floatfile"
	"github.com/pishm/pishm/cmd/internal/stats"
)

// What a worker keeps between the pieces it reduces: the open files (one
// per file, whichever pass reads it) and the decoded plans, and how a
// piece is read out of a file.

// state is what a worker keeps for one call's params: the open file and
// the decoded plan. A pool worker serves both passes and keeps both.
type state struct {
	r    *floatfile.Reader
	plan *stats.Plan
	key  readerKey
}

// readerKey names an open file: the passes' params differ (pass 2's
// carries the plan) but share the reader, so that pass 2 finds the
// mapping pass 1 faulted in.
type readerKey struct {
	path   string
	layout floatfile.Layout
	mapped bool
}

type openReader struct {
	r    *floatfile.Reader
	refs int
}

var states = struct {
	sync.Mutex
	m       map[string]*state
	readers map[readerKey]*openReader
}{m: map[string]*state{}, readers: map[readerKey]*openReader{}}

// stateFor opens (once per worker) what params names. It panics on
// failure: the worker then dies with the message and the parent reports
// it. The command checks the file before any worker starts, so this is a
// file that changed under it.
func stateFor(raw []byte) *state {
	states.Lock()
	defer states.Unlock()
	if s, ok := states.m[string(raw)]; ok {
		return s
	}
	var p params
	if err := json.Unmarshal(raw, &p); err != nil {
		panic(fmt.Sprintf("filestats: bad params: %v", err))
	}
	if p.Plan != nil {
		if err := p.Plan.Prepare(); err != nil {
			panic(err)
		}
	}
	key := readerKey{p.Path, p.Layout, p.Mapped}
	o, ok := states.readers[key]
	if !ok {
		r, err := floatfile.Open(p.Path, p.Layout, p.Mapped)
		if err != nil {
			panic(err)
		}
		o = &openReader{r: r}
		states.readers[key] = o
	}
	o.refs++
	s := &state{r: o.r, plan: p.Plan, key: key}
	states.m[string(raw)] = s
	return s
}

// release forgets what stateFor opened for these params in this process,
// closing a file no params name any more: Compute calls it when it is
// done, for the pieces that ran in the calling process (the goroutines
// mode; a pool's workers exit with the pool).
func release(raws ...[]byte) {
	states.Lock()
	defer states.Unlock()
	for _, raw := range raws {
		s, ok := states.m[string(raw)]
		if !ok {
			continue
		}
		delete(states.m, string(raw))
		if o := states.readers[s.key]; o != nil {
			if o.refs--; o.refs == 0 {
				o.r.Close()
				delete(states.readers, s.key)
			}
		}
	}
}

// buffers are one piece's working memory, reused across pieces.
type buffers struct {
	f64 []float64
	f32 []float32
	sc  stats.Scratch
}

var bufPool = sync.Pool{New: func() any { return new(buffers) }}

// block is the most elements read and reduced at a time: 512 KiB of
// float64, so that a block (read by pread, or first touched in the
// mapping) is still in the core's L2 cache when a one-pass run's second
// look goes over it. A piece of the default grid can be far
// larger; cutting it into blocks changes nothing in its value (every Sum
// element is added exactly, counts and extremes do not depend on order).
const block = 1 << 16

// read calls f64 or f32 on the piece [lo, hi), block by block: in place
// where the file is mapped (the goroutine panicking, not crashing, if the
// file shrinks under it), else read into b.
func read(s *state, lo, hi uint64, b *buffers, f64 func([]float64), f32 func([]float32)) {
	if s.r.Mapped() {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	}
	for ; lo < hi; lo += min(hi-lo, block) {
		n := int(min(hi-lo, block))
		if s.r.Layout().Elem == floatfile.Float64 {
			f64(blockOf(s.r, lo, n, &b.f64, (*floatfile.Reader).F64, (*floatfile.Reader).ReadF64))
		} else {
			f32(blockOf(s.r, lo, n, &b.f32, (*floatfile.Reader).F32, (*floatfile.Reader).ReadF32))
		}
	}
}

// blockOf is the n elements of r from lo on: in place (inPlace) where r
// is mapped, else read (readInto) into *buf, grown as needed.
func blockOf[T float32 | float64](r *floatfile.Reader, lo uint64, n int, buf *[]T,
	inPlace func(*floatfile.Reader, uint64, uint64) []T, readInto func(*floatfile.Reader, uint64, []T) error) []T {
	if r.Mapped() {
		return inPlace(r, lo, uint64(n))
	}
	if cap(*buf) < n {
		*buf = make([]T, n)
	}
	xs := (*buf)[:n]
	if err := readInto(r, lo, xs); err != nil {
		panic(err)
	}
	return xs
}
