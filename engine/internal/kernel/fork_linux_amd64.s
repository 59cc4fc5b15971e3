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
#define PR_SET_NAME 15
#define FUTEX_WAIT 0 // not the _PRIVATE forms: the futex words are shared with another process
#define FUTEX_WAKE 1
#define CLOCK_MONOTONIC 1

// The frame, at the hardware SP: the blocks kernel's arguments and results
// (up to 144 bytes, at 0), the all-ones mask, the saved mask, the call's
// gen, two timespecs, and the piece loop's state: the piece's range and
// its record.
#define callArgs 0
#define maskAll 144
#define maskOld 152
#define genSeen 160
#define ts0 168
#define ts1 184
#define pieceLo 200
#define pieceHi 208
#define pieceRec 216

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
//     died before the prctl would never send the signal. Then
//     prctl(PR_SET_NAME, t.Name), the name ps -o comm shows.
//  2. Store the pid and StateArrived, add one to *t.Arrived and wake it:
//     the engine's start barrier, as an exec'd worker arrives.
//  3. Sleep on the *t.Gen futex while it is 0; exit 0 on Quit. Each sleep
//     is announced, as a worker's (protocol.go, "Waiting"): add one to
//     *t.GenSleepers before the futex wait and take it back after, so
//     that a parent that wakes gen's sleepers only when there are some
//     sees this one (or the futex sees the new gen).
//  4. Store StateRunning. For each piece [lo, hi) of t.Share in order
//     (grain terms from the share's first, the last maybe fewer): if it
//     has n > 0 whole iterations of 4L terms, run the kernel over them
//     with sumLanes's m (lanesPlan: top = lo + n*4L, m = 2*top - (5L-1))
//     and copy the raw lanes into the piece's record, t.Pieces[k]; then
//     store hi - Share.lo into *t.Progress. Then store the elapsed time,
//     then Done = gen (after the records: x86 stores are not reordered
//     with each other), add one to *t.Finished, wake it, and
//     exit_group(0).
//
// The signals stay blocked in the child throughout; SIGKILL and SIGSTOP
// cannot be blocked, so the parent can still kill or stop it, and a fault
// still kills it.
TEXT ·forkWorker(SB), NOSPLIT, $224-16
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

	// prctl(PR_SET_NAME, &t.Name): what ps -o comm shows
	MOVQ $SYS_prctl, AX
	MOVQ $PR_SET_NAME, DI
	LEAQ ForkTask_Name(BX), SI
	XORQ DX, DX
	XORQ R10, R10
	XORQ R8, R8
	SYSCALL

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
	// 3. g = *Gen (load-acquire); Quit: exit; 0: sleep and look again
	MOVQ  t+0(FP), BX
	MOVQ  ForkTask_Gen(BX), DI
	MOVL  0(DI), AX
	CMPL  AX, ForkTask_Quit(BX)
	JEQ   quit
	TESTL AX, AX
	JNE   run

	// *GenSleepers += 1 (a full barrier), futex_wait(Gen, 0), *GenSleepers -= 1
	MOVQ  ForkTask_GenSleepers(BX), SI
	MOVL  $1, AX
	LOCK
	XADDL AX, 0(SI)
	MOVQ  $SYS_futex, AX
	MOVQ  $FUTEX_WAIT, SI
	XORQ  DX, DX
	XORQ  R10, R10
	SYSCALL
	MOVQ  t+0(FP), BX
	MOVQ  ForkTask_GenSleepers(BX), SI
	MOVL  $-1, AX
	LOCK
	XADDL AX, 0(SI)
	JMP   wait

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

	MOVQ t+0(FP), BX
	MOVQ ForkTask_Share+ForkShare_lo(BX), AX
	MOVQ AX, pieceLo(SP)
	MOVQ ForkTask_Pieces(BX), AX
	MOVQ AX, pieceRec(SP)

piece:
	// [lo, hi) = [pieceLo, min(pieceLo + grain, Share.hi)); none left when lo reaches Share.hi
	MOVQ    t+0(FP), BX
	MOVQ    pieceLo(SP), SI
	MOVQ    ForkTask_Share+ForkShare_hi(BX), DX
	CMPQ    SI, DX
	JCC     stored
	MOVQ    SI, DI
	ADDQ    ForkTask_Share+ForkShare_grain(BX), DI
	CMPQ    DI, DX
	CMOVQHI DX, DI
	MOVQ    DI, pieceHi(SP)

	// n = (hi - lo) >> shift whole iterations; none: the piece is all top terms, its record unused
	MOVQ  DI, AX
	SUBQ  SI, AX
	MOVQ  ForkTask_Share+ForkShare_shift(BX), CX
	SHRQ  CX, AX
	TESTQ AX, AX
	JEQ   next

	// m = float64(2*top - mBias), top = lo + n<<shift (exact: below 2^53)
	MOVQ     AX, R8
	SHLQ     CX, R8
	ADDQ     SI, R8
	SHLQ     $1, R8
	SUBQ     ForkTask_Share+ForkShare_mBias(BX), R8
	CVTSQ2SD R8, X0
	MOVSD    X0, callArgs+0(SP)
	MOVQ     AX, callArgs+8(SP)
	CMPQ     ForkTask_Share+ForkShare_lanes(BX), $8
	JEQ      wide
	CALL     ·blocksAVX2(SB)
	JMP      copy

wide:
	CALL ·blocksAVX512(SB)

copy:
	// rec.Sum[j] = sum[j]; rec.Comp[j] = comp[j] for j < L (results at 16(SP): L sums, then L comps)
	MOVQ t+0(FP), BX
	MOVQ ForkTask_Share+ForkShare_lanes(BX), CX
	MOVQ pieceRec(SP), DI
	LEAQ callArgs+16(SP), SI
	LEAQ (SI)(CX*8), DX
	XORQ R8, R8

copyLane:
	MOVQ (SI)(R8*8), R9
	MOVQ R9, ForkPiece_Sum(DI)(R8*8)
	MOVQ (DX)(R8*8), R9
	MOVQ R9, ForkPiece_Comp(DI)(R8*8)
	INCQ R8
	CMPQ R8, CX
	JLT  copyLane

next:
	// *Progress = hi - Share.lo; on to the next piece and its record
	MOVQ  t+0(FP), BX
	MOVQ  pieceHi(SP), AX
	MOVQ  AX, pieceLo(SP)
	SUBQ  ForkTask_Share+ForkShare_lo(BX), AX
	MOVQ  ForkTask_Progress(BX), DI
	XCHGQ AX, 0(DI)
	ADDQ  $ForkPiece__size, pieceRec(SP)
	JMP   piece

stored:
	// *Elapsed = clock - ts0 in ns
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

	// Out.Done = g (store-release after the records); *Finished += 1; wake; exit
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
