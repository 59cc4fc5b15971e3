// Package pi computes pi with the engine: S_n = sum_{k<n} 1/(2k+1)^2 and
// pi = sqrt(8 S_n), the series the engine registers once per CPU kernel
// ("pi/avx512", "pi/avx2", "pi/generic") with its closed form
// S_n = pi^2/8 - trigamma(n+1/2)/4. Run picks the kernel (Config.Kernel,
// PISHM_KERNEL, else the best this CPU runs), runs its Func with
// engine.Run, which checks every result against the closed form, and adds
// what only pi has: the kernel, pi itself, and its tail in closed form.
package pi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/internal/exact"
	"github.com/pishm/pishm/engine/internal/kernel"
	"github.com/pishm/pishm/engine/lab"
)

// Config is a run of the series: the engine's settings, and the kernel.
type Config struct {
	lab.Config
	// Kernel names the inner loop ("auto", "generic", ...); "" is auto.
	// The PISHM_KERNEL environment variable overrides "auto".
	Kernel string
	// Extrapolate adds the series' tail in closed form to give
	// Result.PiExtrapolated.
	Extrapolate bool
}

// Result is what a run of the series computed: the engine's Result, and
// pi.
type Result struct {
	lab.Result
	Kernel  string  `json:"kernel"`
	Pi      float64 `json:"pi"`
	PiError float64 `json:"pi_error"` // Pi - math.Pi: the series' truncation error plus ours
	// PiExtrapolated is sqrt(8 (Sum + tail)), the tail pi^2/8 - S_n
	// added in closed form (Config.Extrapolate): pi to a few ulp even at
	// small n. Zero unless asked for.
	PiExtrapolated      float64 `json:"pi_extrapolated,omitempty"`
	PiExtrapolatedError float64 `json:"pi_extrapolated_error,omitempty"`
	// Extrapolated says the two are set (Config.Extrapolate), so that
	// JSON prints them whatever their values: an error of exactly 0 is a
	// result, not an absence.
	Extrapolated bool `json:"-"`
}

// MarshalJSON is the Result's JSON, with pi_extrapolated and
// pi_extrapolated_error present exactly when they were computed.
func (r Result) MarshalJSON() ([]byte, error) {
	type fields Result // the same fields, without this method
	out := struct {
		fields
		PiExtrapolated      *float64 `json:"pi_extrapolated,omitempty"`
		PiExtrapolatedError *float64 `json:"pi_extrapolated_error,omitempty"`
	}{fields: fields(r)}
	if r.Extrapolated {
		out.PiExtrapolated, out.PiExtrapolatedError = &r.PiExtrapolated, &r.PiExtrapolatedError
	}
	return json.Marshal(out)
}

// Run sums the series with cfg's kernel and checks S_n against the closed
// form: a result outside lab.Tolerance is an error wrapping
// engine.ErrInexact, returned with the Result. The pi figures are zero
// unless the terms start at 0 (Config.Offset).
func Run(ctx context.Context, cfg Config) (Result, error) {
	k, err := ResolveKernel(cfg.Kernel)
	if err != nil {
		return Result{}, err
	}
	er, err := lab.Run(ctx, FuncName(k), cfg.Config)
	if er.Func == "" { // no result, only an error
		return Result{}, err
	}
	res := Result{Result: er, Kernel: k}
	if res.Offset == 0 {
		res.Pi = math.Sqrt(8 * res.Sum)
		res.PiError = res.Pi - math.Pi
		if cfg.Extrapolate {
			res.PiExtrapolated = math.Sqrt(8 * (res.Sum + exact.Tail(res.N)))
			res.PiExtrapolatedError = res.PiExtrapolated - math.Pi
			res.Extrapolated = true
		}
	}
	return res, err
}

// Validate reports what Run would refuse in c before it starts anything
// (an *engine.ConfigError naming the field), or nil.
func (c Config) Validate() error {
	k, err := ResolveKernel(c.Kernel)
	if err != nil {
		return err
	}
	return c.Config.Validate(FuncName(k))
}

// FuncName is the name of the Func that sums the series with the named
// kernel ("pi/avx2"); "pi" alone is the kernel auto picked when the
// program started.
func FuncName(kernelName string) string { return kernel.FuncPrefix + kernelName }

// ExactSum returns the true S_n (pi^2/8 - trigamma(n+1/2)/4), rounded.
func ExactSum(n uint64) float64 { return exact.Sum(n) }

// ExactSumRange returns the true sum of the terms [lo, hi), rounded: far
// out in the series it is not ExactSum(hi) - ExactSum(lo), which would be
// all rounding, but a difference taken without cancellation.
func ExactSumRange(lo, hi uint64) float64 { return exact.SumRange(lo, hi) }

// ResolveKernel is the kernel a Config.Kernel of name runs: "" and "auto"
// mean PISHM_KERNEL if set, else the best this CPU supports. Errors are
// *engine.ConfigError and name what set the bad name.
func ResolveKernel(name string) (string, error) {
	k, env, err := kernel.Resolve(name)
	switch {
	case err == nil:
		return k.Name, nil
	case env != "" && errors.Is(err, kernel.ErrUnknown):
		return "", &engine.ConfigError{Reason: fmt.Sprintf("%s=%q: unknown kernel (want auto, %s)", kernel.EnvKernel, env, strings.Join(kernelNames(), ", ")), Err: err}
	case env != "":
		return "", &engine.ConfigError{Reason: fmt.Sprintf("%s=%q: %v", kernel.EnvKernel, env, err), Err: err}
	}
	return "", &engine.ConfigError{Field: "Kernel", Reason: ": " + err.Error(), Err: err}
}

func kernelNames() []string {
	var names []string
	for _, k := range kernel.All() {
		names = append(names, k.Name)
	}
	return names
}

// Kernels lists the kernels compiled into this binary, best first.
func Kernels() []KernelInfo {
	var out []KernelInfo
	for _, k := range kernel.All() {
		var req []string
		for _, f := range k.Requires {
			req = append(req, f.String())
		}
		out = append(out, KernelInfo{Name: k.Name, Requires: req, Supported: k.Supported()})
	}
	return out
}

// KernelInfo describes one inner loop.
type KernelInfo struct {
	Name      string
	Requires  []string
	Supported bool // this CPU can run it
}

// BestKernel is the kernel "auto" picks on this CPU (PISHM_KERNEL aside).
func BestKernel() string { return kernel.Best().Name }
