//go:build linux

// Command gofloor is the smallest Go program of pishm's design, the floor
// that a whole pishm run is measured against (bench/anchor/floor.sh). The parent makes a
// memfd segment, re-execs itself twice (fd 3 inherited), waits until both
// children have arrived at a futex barrier, opens it, reaps them and prints
// the sum. Each child maps fd 3, arrives, sleeps on the futex, sums its
// range of 1/(2k+1)^2, writes one float64 and exits.
package main

import (
	"math"
	"strconv"
	"sync/atomic"
	"syscall"
	"unsafe"
)

const workers = 2

type hdr struct {
	arrived atomic.Uint32
	_       [60]byte
	gate    atomic.Uint32
	_       [60]byte
	n       uint64
	_       [56]byte
	part    [workers][16]float64 // one cache line pair each
}

func futex(addr *atomic.Uint32, op, val uintptr) {
	syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), op, val, 0, 0, 0)
}

func mapFd(fd int) *hdr {
	b, err := syscall.Mmap(fd, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		panic(err)
	}
	return (*hdr)(unsafe.Pointer(&b[0]))
}

func sum(lo, hi uint64) float64 {
	var s float64
	for k := hi; k > lo; k-- {
		x := float64(2*(k-1) + 1)
		s += 1 / (x * x)
	}
	return s
}

func main() {
	if w, ok := syscall.Getenv("FLOOR_W"); ok {
		i, _ := strconv.Atoi(w)
		h := mapFd(3)
		h.arrived.Add(1)
		futex(&h.arrived, 1, math.MaxInt32) // FUTEX_WAKE
		for h.gate.Load() == 0 {
			futex(&h.gate, 0, 0) // FUTEX_WAIT while 0
		}
		lo, hi := h.n*uint64(i)/workers, h.n*uint64(i+1)/workers
		h.part[i][0] = sum(lo, hi)
		return
	}
	n := uint64(1000)
	if v, ok := syscall.Getenv("FLOOR_N"); ok {
		f, _ := strconv.ParseFloat(v, 64)
		n = uint64(f)
	}
	name := []byte("seg\x00")
	fd, _, e := syscall.Syscall(319 /* memfd_create */, uintptr(unsafe.Pointer(&name[0])), 0, 0)
	if e != 0 {
		panic(e)
	}
	syscall.Ftruncate(int(fd), 4096)
	h := mapFd(int(fd))
	h.n = n
	var pids [workers]int
	for i := range workers {
		env := append(syscall.Environ(), "FLOOR_W="+strconv.Itoa(i))
		pid, err := syscall.ForkExec("/proc/self/exe", []string{"gofloor"}, &syscall.ProcAttr{
			Env: env, Files: []uintptr{0, 1, 2, fd},
			Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
		})
		if err != nil {
			panic(err)
		}
		pids[i] = pid
	}
	for {
		a := h.arrived.Load()
		if a == workers {
			break
		}
		futex(&h.arrived, 0, uintptr(a))
	}
	h.gate.Store(1)
	futex(&h.gate, 1, math.MaxInt32)
	var total float64
	for i := range workers {
		var ws syscall.WaitStatus
		syscall.Wait4(pids[i], &ws, 0, nil)
		total += h.part[i][0]
	}
	out := strconv.AppendFloat(nil, math.Sqrt(8*total), 'g', 17, 64)
	syscall.Write(1, append(out, '\n'))
}
