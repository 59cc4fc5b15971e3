package cli

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/klauspost/cpuid/v2"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/pi"
	"github.com/pishm/pishm/shmem"
)

func info(w io.Writer) error {
	fmt.Fprintf(w, "cpu         %s (%d logical cores)\n", cpuid.CPU.BrandName, runtime.NumCPU())
	var feats []string
	for _, f := range []cpuid.FeatureID{cpuid.SSE2, cpuid.AVX, cpuid.AVX2, cpuid.FMA3, cpuid.AVX512F, cpuid.AVX512DQ, cpuid.AVX512VL} {
		if cpuid.CPU.Supports(f) {
			feats = append(feats, f.String())
		}
	}
	fmt.Fprintf(w, "features    %s\n", strings.Join(feats, " "))
	fmt.Fprintf(w, "cache line  %d bytes; slot stride %d bytes\n", cpuid.CPU.CacheLine, lab.SlotStride())
	if free, err := shmem.FreeBytes(shmem.Dir); err == nil {
		fmt.Fprintf(w, "/dev/shm    %.1f MiB free\n", float64(free)/(1<<20))
	} else {
		fmt.Fprintf(w, "/dev/shm    unavailable: %v\n", err)
	}
	fmt.Fprintf(w, "kernels     (auto picks %s)\n", pi.BestKernel())
	for _, k := range pi.Kernels() {
		can := "supported"
		if !k.Supported {
			can = "not supported by this CPU"
		}
		req := strings.Join(k.Requires, ", ")
		if req == "" {
			req = "none"
		}
		fmt.Fprintf(w, "  %-8s  needs %-36s %s\n", k.Name, req, can)
	}
	return nil
}

// version prints what this binary is and how it was built.
func version(w io.Writer) error {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return errors.New("this binary carries no build information")
	}
	printVersion(w, bi)
	return nil
}

// printVersion prints the module and Go versions, the VCS revision, and
// the build settings that change the code: cgo, the instruction-set level
// (GOAMD64, GOARM64) and the tags (purego and noasm drop the assembly).
func printVersion(w io.Writer, bi *debug.BuildInfo) {
	set := make(map[string]string)
	for _, s := range bi.Settings {
		set[s.Key] = s.Value
	}
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	fmt.Fprintf(w, "pishm     %s %s\n", or(bi.Main.Path, "(unknown module)"), or(bi.Main.Version, "(unknown version)"))
	fmt.Fprintf(w, "go        %s %s/%s\n", or(bi.GoVersion, runtime.Version()), or(set["GOOS"], runtime.GOOS), or(set["GOARCH"], runtime.GOARCH))
	if rev := set["vcs.revision"]; rev != "" {
		line := rev
		if t := set["vcs.time"]; t != "" {
			line += " " + t
		}
		if set["vcs.modified"] == "true" {
			line += " (modified)"
		}
		fmt.Fprintf(w, "revision  %s\n", line)
	} else {
		fmt.Fprintf(w, "revision  unknown (go build in a git checkout stamps it; go run, go test and -buildvcs=false do not)\n")
	}
	build := []string{"CGO_ENABLED=" + or(set["CGO_ENABLED"], "?")}
	for _, k := range []string{"GOAMD64", "GOARM64", "GOARM", "GO386"} {
		if v := set[k]; v != "" {
			build = append(build, k+"="+v)
		}
	}
	build = append(build, "-tags="+or(set["-tags"], "(none)"))
	if set["-race"] == "true" {
		build = append(build, "-race")
	}
	fmt.Fprintf(w, "build     %s\n", strings.Join(build, " "))
}

func gc(w io.Writer) error {
	return removeStale(w)
}
