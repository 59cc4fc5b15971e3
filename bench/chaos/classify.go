package main

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// tolerance is the relative distance from the closed form within which a
// sum counts as exact (lab.Tolerance: the kernels and the shared
// accumulators stay well inside it).
const tolerance = 1e-15

// class is how a run ended.
type class int

const (
	exact class = iota // exit 0 and S within tolerance
	clean              // non-zero exit with one line "pishm: ..." on stderr
	wrong              // exit 0 with S off, no valid JSON, a crash dump, an unclean error
	hung               // no exit within the limit
	numClasses
)

func (c class) String() string {
	return [...]string{"exact", "clean", "wrong", "hung"}[c]
}

// result is the part of pishm -json that the check reads.
type result struct {
	N           uint64  `json:"n"`
	Sum         float64 `json:"sum"`
	SumExact    float64 `json:"sum_exact"`
	SumRelError float64 `json:"sum_rel_error"`
	Failures    []struct {
		Worker int    `json:"worker"`
		How    string `json:"how"`
		When   string `json:"when"`
		Action string `json:"action"`
	} `json:"failures"`
}

// crashMarkers are what the Go runtime prints when a program dies of a
// panic or a fatal signal.
var crashMarkers = []string{"panic:", "fatal error:", "goroutine ", "SIGSEGV", "SIGBUS", "unexpected signal"}

// outcome is a classified run.
type outcome struct {
	class    class
	detail   string // why, in a few words
	gated    bool   // clean, and the error is pishm's exact check (ErrInexact)
	failures int    // failures pishm reported in its JSON (exit 0)
}

// classify judges one run of pishm -json -n n by its exit status (rc, -1
// when a signal ended it) and output.
func classify(n uint64, rc int, stdout, stderr string) outcome {
	for _, m := range crashMarkers {
		if strings.Contains(stderr, m) {
			return outcome{class: wrong, detail: fmt.Sprintf("crash dump on stderr (exit %d, %q)", rc, firstLine(stderr))}
		}
	}
	if rc < 0 {
		return outcome{class: wrong, detail: "pishm itself was killed by a signal"}
	}
	if rc != 0 {
		msg := strings.TrimRight(stderr, "\n")
		if !strings.HasPrefix(msg, "pishm: ") || strings.Contains(msg, "\n") {
			return outcome{class: wrong, detail: fmt.Sprintf("exit %d without a one-line error: %q", rc, firstLine(stderr))}
		}
		return outcome{class: clean, detail: msg, gated: strings.Contains(msg, "the sum is wrong")}
	}
	var r result
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		return outcome{class: wrong, detail: "exit 0 without valid JSON: " + err.Error()}
	}
	o := outcome{failures: len(r.Failures)}
	ref := closedForm(n)
	switch {
	case r.N != n:
		o.class, o.detail = wrong, fmt.Sprintf("exit 0 with n = %d, asked for %d", r.N, n)
	case !(math.Abs(r.SumExact-ref) <= tolerance*ref):
		o.class, o.detail = wrong, fmt.Sprintf("exit 0 with sum_exact %v, the asymptotic form gives %v", r.SumExact, ref)
	case !(math.Abs(r.Sum-r.SumExact) <= tolerance*r.SumExact):
		o.class, o.detail = wrong, fmt.Sprintf("exit 0 with S = %v, exact %v: relative error %.2e", r.Sum, r.SumExact, (r.Sum-r.SumExact)/r.SumExact)
	default:
		o.class = exact
	}
	return o
}

// closedForm is S_n = sum_{k<n} 1/(2k+1)^2 from pi^2/8 less the tail by
// Euler-Maclaurin: tail = 1/(2(2n+1)) + 1/(2(2n+1)^2) + 1/(3(2n+1)^3) + ...;
// the first omitted term is below 1e-20 for the n chaos uses (n >= 1e5),
// so this checks the sum_exact pishm reports independently of its code.
func closedForm(n uint64) float64 {
	m := 2*float64(n) + 1
	tail := 1/(2*m) + 1/(2*m*m) + 1/(3*m*m*m)
	return math.Pi*math.Pi/8 - tail
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}
