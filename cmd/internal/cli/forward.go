package cli

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"syscall"

	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/transport"
)

// A Command is one of pishm-full's commands: stats, bench, coordinate,
// worker.
type Command func(ctx context.Context, stdout, stderr io.Writer, args []string) error

// registered are the commands this binary links (Register).
var registered = map[string]Command{}

// Register makes name run c in this binary: pishm-full registers its
// commands, and pishm, which does not link them, runs pishm-full instead.
func Register(name string, c Command) { registered[name] = c }

// fullName is the binary that holds every command.
const fullName = "pishm-full"

// linked reports whether this binary runs mode itself: a transport that
// it does not link (unix, tcp and redis, which need package net and
// go-redis) is pishm-full's.
func linked(mode lab.Mode) bool {
	if !lab.IsTransport(mode) {
		return true
	}
	_, err := transport.Lookup(string(mode))
	return !errors.Is(err, transport.ErrNotLinked)
}

// forward runs pishm-full with args in this process's place (execve: the
// same pid, descriptors, signals and exit status), or says where it
// looked; what names what needs it. pishm-full is looked for beside this
// binary, then on PATH.
func forward(what string, args []string) error {
	path, err := fullPath()
	if err != nil {
		return Usagef("%s needs %s, which is neither beside this pishm nor on PATH (build every command: go build -o bin/ ./cmd/...)", what, fullName)
	}
	argv := append([]string{os.Args[0]}, args...)
	return syscall.Exec(path, argv, os.Environ())
}

func fullPath() (string, error) {
	if p := besideSelf(fullName); p != "" {
		return p, nil
	}
	return exec.LookPath(fullName)
}
