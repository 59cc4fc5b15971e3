package queue

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/pishm/pishm/engine/catalog"
	"github.com/pishm/pishm/engine/partial"
)

// record is one chunk's result as a worker sends it, JSON in the results
// list: the chunk's exact state (partial.Partial's binary form, base64),
// and its value's float64 bits in hex, for people.
type record struct {
	Protocol int    `json:"v"`
	Job      string `json:"job"`
	Chunk    int64  `json:"chunk"`
	Partial  []byte `json:"partial"`
	Bits     string `json:"bits"`
	Elapsed  int64  `json:"ns"` // the engine's compute time for the chunk
	Worker   string `json:"worker"`
	Build    string `json:"build"`
	// Lease is the token of the lease the record answers: the job's
	// scripts issued it for Chunk to Worker, or the record is refused.
	Lease string `json:"lease"`
	// MAC is the record's HMAC-SHA256 under the job key (see auth.go),
	// for a job that has one.
	MAC string `json:"mac,omitempty"`
}

// newRecord is the record of chunk's state p, computed in d by worker
// under lease token, signed with key if it is not nil.
func newRecord(j Job, chunk int, p partial.Partial, d time.Duration, worker, token string, key []byte) record {
	b, _ := p.MarshalBinary()
	r := record{Protocol: Protocol, Job: j.ID, Chunk: int64(chunk), Partial: b,
		Bits: fmt.Sprintf("%016x", math.Float64bits(p.Value())), Elapsed: int64(d), Worker: worker, Build: BuildStamp(), Lease: token}
	if key != nil {
		r.MAC = mac(key, r)
	}
	return r
}

func (r record) marshal() string {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// parseRecord decodes a record of job j; the error says why it is none.
func parseRecord(j Job, s string) (record, partial.Partial, error) {
	var r record
	var p partial.Partial
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return r, p, fmt.Errorf("not a result record: %v", err)
	}
	if r.Protocol != Protocol {
		return r, p, fmt.Errorf("protocol %d, want %d (worker %q, build %q)", r.Protocol, Protocol, r.Worker, r.Build)
	}
	if r.Job != j.ID {
		return r, p, fmt.Errorf("a result of job %q", r.Job)
	}
	if r.Chunk < 0 || r.Chunk >= int64(j.Chunks) {
		return r, p, fmt.Errorf("chunk %d out of [0, %d)", r.Chunk, j.Chunks)
	}
	if err := p.UnmarshalBinary(r.Partial); err != nil {
		return r, p, fmt.Errorf("chunk %d: %v", r.Chunk, err)
	}
	if got := catalog.FormatOps(p.Ops()); got != j.Op {
		return r, p, fmt.Errorf("chunk %d: a partial of ops %q, want %q", r.Chunk, got, j.Op)
	}
	if b := fmt.Sprintf("%016x", math.Float64bits(p.Value())); b != r.Bits {
		return r, p, fmt.Errorf("chunk %d: bits %q are not its partial's %s", r.Chunk, r.Bits, b)
	}
	return r, p, nil
}
