//go:build linux

// Command sidebyside times whole programs side by side: it runs each
// command once per round, in turn, for a number of rounds, so that drift
// on a noisy machine hits them alike, and prints for each its median wall
// time, the median of its paired ratios to each anchor (the first commands,
// -anchors of them) and the median of its minor page faults (the process
// and the children it reaped, from wait4's rusage).
//
//	sidebyside [-runs R] [-anchors A] [-probe] -- NAME CMD [ARG...] [-- NAME CMD [ARG...]]...
//
// Page faults are in the table because whole-process costs on a virtual
// machine can be mostly page faults: where first touching a page traps to
// the hypervisor, a program that touches a few hundred more pages than
// another pays milliseconds for them whatever its code does. -probe
// measures that price here: the time to first touch each page of a fresh
// anonymous mapping (the median of 5 runs over 4096 pages), so that a
// ratio measured on one machine can be read on another.
//
// A command that fails stops the run with its output: a benchmark of a
// program that did not do its work means nothing.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

type program struct {
	name   string
	argv   []string
	wall   []float64 // seconds, one per round
	faults []float64
	last   []byte // the output of its last run
}

func main() {
	if err := run(os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sidebyside:", err)
		os.Exit(2)
	}
}

func run(stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("sidebyside", flag.ContinueOnError)
	runs := fs.Int("runs", 11, "rounds: each command runs once per round")
	anchors := fs.Int("anchors", 1, "the first `A` commands are anchors: every command gets its ratio to each")
	probe := fs.Bool("probe", false, "also measure the cost of first touching a page of memory here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	progs, err := parsePrograms(fs.Args())
	if err != nil {
		return err
	}
	if *runs < 1 || *anchors < 0 || *anchors > len(progs) {
		return fmt.Errorf("want -runs >= 1 and 0 <= -anchors <= %d commands", len(progs))
	}
	for r := range *runs {
		// Each round starts one further along, so no command always
		// follows the same one.
		for k := range progs {
			p := &progs[(r+k)%len(progs)]
			wall, faults, out, err := once(p.argv)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			p.wall, p.faults, p.last = append(p.wall, wall), append(p.faults, faults), out
		}
	}
	printTable(stdout, progs, *anchors, *runs)
	fmt.Fprintln(stdout)
	for _, p := range progs {
		// The first lines of its last output, where the sum is.
		lines := strings.Split(strings.TrimSpace(string(p.last)), "\n")
		fmt.Fprintf(stdout, "%s: %s\n", p.name, strings.Join(lines[:min(len(lines), 3)], "\n    "))
	}
	if *probe {
		us, err := touchCost()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nfirst touch of a fresh anonymous page here: %.2f µs (median of 5 runs over 4096 pages)\n", us)
	}
	return nil
}

// parsePrograms splits "-- NAME CMD ARG... -- NAME CMD ..." (the first
// "--" already taken by the flag parser).
func parsePrograms(args []string) ([]program, error) {
	var progs []program
	for len(args) > 0 {
		end := slices.Index(args, "--")
		if end < 0 {
			end = len(args)
		}
		if end < 2 {
			return nil, errors.New("each command needs a name and a program: -- NAME CMD [ARG...]")
		}
		progs = append(progs, program{name: args[0], argv: args[1:end]})
		args = args[min(end+1, len(args)):]
	}
	if len(progs) == 0 {
		return nil, errors.New("no commands: want -- NAME CMD [ARG...], once per program")
	}
	return progs, nil
}

// once runs argv to completion: its wall seconds, minor page faults and
// output.
func once(argv []string) (wall, faults float64, output []byte, err error) {
	var out bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	t := time.Now()
	err = cmd.Run()
	wall = time.Since(t).Seconds()
	if err != nil {
		return 0, 0, nil, fmt.Errorf("%q: %w\n%s", strings.Join(argv, " "), err, out.Bytes())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		faults = float64(ru.Minflt)
	}
	return wall, faults, out.Bytes(), nil
}

func printTable(w io.Writer, progs []program, anchors, runs int) {
	fmt.Fprintf(w, "median of %d rounds, whole processes run in turn\n\n", runs)
	head := "| program | wall | minor faults |"
	rule := "|---|---|---|"
	for _, a := range progs[:anchors] {
		head += " vs " + a.name + " |"
		rule += "---|"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, rule)
	for _, p := range progs {
		row := fmt.Sprintf("| %s | %.1f ms | %.0f |", p.name, 1e3*median(p.wall), median(p.faults))
		for _, a := range progs[:anchors] {
			ratios := make([]float64, len(p.wall))
			for i := range ratios {
				ratios[i] = p.wall[i] / a.wall[i]
			}
			row += fmt.Sprintf(" %.2fx |", median(ratios))
		}
		fmt.Fprintln(w, row)
	}
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// touchCost is the median over 5 runs of the time to first touch one page
// of a fresh private anonymous mapping, in microseconds: a page fault that
// allocates a zeroed page, plus whatever the machine's virtualisation adds.
func touchCost() (float64, error) {
	const pages = 4096
	page := os.Getpagesize()
	size := pages * page
	var us []float64
	for range 5 {
		mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
		if err != nil {
			return 0, os.NewSyscallError("mmap", err)
		}
		t := time.Now()
		for i := 0; i < size; i += page {
			mem[i] = 1
		}
		us = append(us, float64(time.Since(t).Nanoseconds())/1e3/pages)
		if err := syscall.Munmap(mem); err != nil {
			return 0, os.NewSyscallError("munmap", err)
		}
	}
	return median(us), nil
}
