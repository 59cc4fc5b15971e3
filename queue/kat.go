package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
)

// checkTerms is how many terms each of a job's two check ranges has.
const checkTerms = 1024

// knownAnswer is the identity of what j's Func computes in this program:
// the hash of the exact states it gives over two small ranges of the job,
// its first and its last checkTerms terms (one piece each, with the job's
// params), computed here on goroutines. Two programs whose Func computes
// other bits anywhere in those ranges (a changed constant, another
// formula) differ, whatever their build stamps say: the coordinator puts
// its answer in the job (Job.Check), and a worker whose answer differs
// refuses the job. It catches a change that shows in those ranges; one
// that does not is redundancy's to catch.
func knownAnswer(ctx context.Context, j Job) (string, error) {
	h := sha256.New()
	m := min(j.N, checkTerms)
	for _, lo := range []uint64{0, j.N - m} {
		r, err := engine.Reduce(ctx, j.Func, m, engine.WithWorkers(1), lab.WithMode(lab.Goroutines),
			engine.WithOffset(lo), engine.WithGrain(m), engine.WithParams(j.Params))
		if err != nil && !errors.Is(err, engine.ErrInexact) {
			return "", err // a closed form that refutes the range is the chunks' check's to report
		}
		p := r.Partial
		b, _ := p.MarshalBinary()
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}
