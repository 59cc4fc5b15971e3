//go:build gc && !purego && !noasm

#include "go_asm.h"
#include "textflag.h"

// Linux amd64 system calls and their constants.
#define SYS_rt_sigprocmask 14
#define SYS_getpid 39
#define SYS_clone 56
#define SYS_getppid 110
#define SYS_prctl 157
#define SYS_futex 202
#define SYS_clock_gettime 228
#define SYS_exit_group 231
#define SIG_SETMASK 2
#define SIGKILL 9
#define SIGCHLD 17
#define PR_SET_PDEATHSIG 1
#define FUTEX_WAIT 0 // not the _PRIVATE forms: the futex words are shared with another process
#define FUTEX_WAKE 1
#define CLOCK_MONOTONIC 1

// The frame, at the hardware SP: the blocks kernel's arguments and results
// (up to 144 bytes, at 0), the all-ones mask, the saved mask, the call's
// gen and two timespecs.
#define callArgs 0
#define maskAll 144
#define maskOld 152
#define genSeen 160
#define ts0 168
#define ts1 184

// func forkWorker(t *ForkTask) (pid int64)
//
// One frame does both sides of the fork, with no call into Go and no
// stack check, so nothing can run Go code between the steps:
//
// Parent. Block every signal on this thread, clone(SIGCHLD) with no other
// flag (a plain fork: a copy of the address space, not a shared one),
// restore the mask, return the pid or -errno. Blocking first matters
// because the child starts with the Go signal handlers installed and the
// mask of the thread that forked it: a signal that reached it with the
// mask open (the runtime's preemption signal, a Ctrl-C to the process
// group, a stray kill) would run the Go handler in a runtime that is not
// there. Keeping the block and the clone in one assembly frame matters
// because the scheduler cannot preempt or move the goroutine in the middle
// of assembly code, so the mask is set on the thread that clones.
//
// Child. Never returns, and never calls Go code: the copy of the runtime
// holds whatever locks the parent's other threads held at the fork, and
// those threads do not exist here to release them, so any allocation,
// stack growth or scheduler entry can hang forever. Only raw system calls,
// stores into shared memory and the blocks kernels (assembly, NOSPLIT, no
// frame) run. In order:
//
//  1. prctl(PR_SET_PDEATHSIG, SIGKILL): the child dies with the thread that
//     forked it. Then getppid() == t.Ppid, or exit at once: a parent that
//     died before the prctl would never send the signal.
//  2. Store the pid and StateArrived, add one to *t.Arrived and wake it:
//     the engine's start barrier, as an exec'd worker arrives.
//  3. Sleep on the *t.Gen futex while it is 0; exit 0 on Quit.
//  4. Store StateRunning, run the kernel over t.Share's whole iterations,
//     copy the raw lanes into *t.Out, store the elapsed time and the
//     progress, then Done = gen (after the lanes: x86 stores are not
//     reordered with each other), add one to *t.Finished, wake it, and
//     exit_group(0).
//
// The signals stay blocked in the child throughout; SIGKILL and SIGSTOP
// cannot be blocked, so the parent can still kill or stop it, and a fault
// still kills it.
TEXT ·forkWorker(SB), NOSPLIT, $200-16
	// rt_sigprocmask(SIG_SETMASK, &all, &old, 8)
	MOVQ $-1, maskAll(SP)
	MOVQ $0, maskOld(SP)
	MOVQ $SYS_rt_sigprocmask, AX
	MOVQ $SIG_SETMASK, DI
	LEAQ maskAll(SP), SI
	LEAQ maskOld(SP), DX
	MOVQ $8, R10
	SYSCALL

	// clone(SIGCHLD, 0, 0, 0, 0): the child continues on a copy of this stack
	MOVQ $SYS_clone, AX
	MOVQ $SIGCHLD, DI
	XORQ SI, SI
	XORQ DX, DX
	XORQ R10, R10
	XORQ R8, R8
	SYSCALL
	TESTQ AX, AX
	JEQ  child

	// parent (pid, or -errno): rt_sigprocmask(SIG_SETMASK, &old, nil, 8)
	MOVQ AX, BX
	MOVQ $SYS_rt_sigprocmask, AX
	MOVQ $SIG_SETMASK, DI
	LEAQ maskOld(SP), SI
	XORQ DX, DX
	MOVQ $8, R10
	SYSCALL
	MOVQ BX, pid+8(FP)
	RET

child:
	// 1. prctl(PR_SET_PDEATHSIG, SIGKILL); getppid() must be the forker
	MOVQ $SYS_prctl, AX
	MOVQ $PR_SET_PDEATHSIG, DI
	MOVQ $SIGKILL, SI
	XORQ DX, DX
	XORQ R10, R10
	XORQ R8, R8
	SYSCALL
	MOVQ $SYS_getppid, AX
	SYSCALL
	MOVQ t+0(FP), BX
	CMPQ AX, ForkTask_Ppid(BX)
	JNE  orphan

	// 2. arrive: *Pid = getpid(); *State = StateArrived; *Arrived += 1; wake
	MOVQ  $SYS_getpid, AX
	SYSCALL
	MOVQ  ForkTask_Pid(BX), DI
	XCHGL AX, 0(DI)
	MOVL  ForkTask_StateArrived(BX), AX
	MOVQ  ForkTask_State(BX), DI
	XCHGL AX, 0(DI)
	MOVQ  ForkTask_Arrived(BX), DI
	MOVL  $1, AX
	LOCK
	XADDL AX, 0(DI)
	MOVQ  $SYS_futex, AX
	MOVQ  $FUTEX_WAKE, SI
	MOVQ  $0x7fffffff, DX
	XORQ  R10, R10
	SYSCALL

wait:
	// 3. g = *Gen (load-acquire); Quit: exit; 0: futex_wait(Gen, 0) and look again
	MOVQ t+0(FP), BX
	MOVQ ForkTask_Gen(BX), DI
	MOVL 0(DI), AX
	CMPL AX, ForkTask_Quit(BX)
	JEQ  quit
	TESTL AX, AX
	JNE  run
	MOVQ $SYS_futex, AX
	MOVQ $FUTEX_WAIT, SI
	XORQ DX, DX
	XORQ R10, R10
	SYSCALL
	JMP  wait

run:
	// 4. *State = StateRunning; the clock; the kernel
	MOVL  AX, genSeen(SP)
	MOVL  ForkTask_StateRunning(BX), AX
	MOVQ  ForkTask_State(BX), DI
	XCHGL AX, 0(DI)
	MOVQ  $SYS_clock_gettime, AX
	MOVQ  $CLOCK_MONOTONIC, DI
	LEAQ  ts0(SP), SI
	SYSCALL

	MOVQ  t+0(FP), BX
	MOVQ  ForkTask_Share+ForkShare_iters(BX), CX
	TESTQ CX, CX
	JEQ   stored // no whole iteration: the lanes stay 0 (the parent zeroed Out)
	MOVSD ForkTask_Share+ForkShare_m(BX), X0
	MOVSD X0, callArgs+0(SP)
	MOVQ  CX, callArgs+8(SP)
	CMPQ  ForkTask_Share+ForkShare_lanes(BX), $8
	JEQ   wide
	CALL  ·blocksAVX2(SB)
	JMP   copy

wide:
	CALL ·blocksAVX512(SB)

copy:
	// Out.Sum[j] = sum[j]; Out.Comp[j] = comp[j] for j < L (results at 16(SP): L sums, then L comps)
	MOVQ t+0(FP), BX
	MOVQ ForkTask_Share+ForkShare_lanes(BX), CX
	MOVQ ForkTask_Out(BX), DI
	LEAQ callArgs+16(SP), SI
	LEAQ (SI)(CX*8), DX
	XORQ R8, R8

copyLane:
	MOVQ (SI)(R8*8), R9
	MOVQ R9, ForkOut_Sum(DI)(R8*8)
	MOVQ (DX)(R8*8), R9
	MOVQ R9, ForkOut_Comp(DI)(R8*8)
	INCQ R8
	CMPQ R8, CX
	JLT  copyLane

stored:
	// *Elapsed = clock - ts0 in ns; *Progress = terms
	MOVQ   $SYS_clock_gettime, AX
	MOVQ   $CLOCK_MONOTONIC, DI
	LEAQ   ts1(SP), SI
	SYSCALL
	MOVQ   ts1+0(SP), AX
	SUBQ   ts0+0(SP), AX
	IMULQ  $1000000000, AX
	ADDQ   ts1+8(SP), AX
	SUBQ   ts0+8(SP), AX
	MOVQ   t+0(FP), BX
	MOVQ   ForkTask_Elapsed(BX), DI
	XCHGQ  AX, 0(DI)
	MOVQ   ForkTask_Share+ForkShare_terms(BX), AX
	MOVQ   ForkTask_Progress(BX), DI
	XCHGQ  AX, 0(DI)

	// Out.Done = g (store-release after the lanes); *Finished += 1; wake; exit
	MOVL  genSeen(SP), AX
	MOVQ  ForkTask_Out(BX), DI
	XCHGL AX, ForkOut_Done(DI)
	MOVQ  ForkTask_Finished(BX), DI
	MOVL  $1, AX
	LOCK
	XADDL AX, 0(DI)
	MOVQ  $SYS_futex, AX
	MOVQ  $FUTEX_WAKE, SI
	MOVQ  $0x7fffffff, DX
	XORQ  R10, R10
	SYSCALL

quit:
	MOVQ $SYS_exit_group, AX
	XORQ DI, DI
	SYSCALL
	HLT

orphan:
	MOVQ $SYS_exit_group, AX
	MOVQ $1, DI
	SYSCALL
	HLT
