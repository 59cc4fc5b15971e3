//go:build amd64 && gc && !purego && !noasm

#include "textflag.h"

// func extract8(xs *float64, n int, s1 float64, s2 float64, l *lanes)
//
// extract's two levels and the extremes on eight lanes at once, over the
// n&^7 values at xs, continuing from and storing back l's accumulators
// (a, b, rest, mn, mx: 64 bytes each). Operand order is Go's: VSUBPD B, A,
// D computes D = A - B.
TEXT ·extract8(SB), NOSPLIT, $0-40
	MOVQ xs+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ l+32(FP), DI
	VBROADCASTSD s1+16(FP), Z8
	VBROADCASTSD s2+24(FP), Z9
	VMOVUPD   0(DI), Z10   // a: first-level sums
	VMOVUPD   64(DI), Z11  // b: second-level sums
	VMOVDQU64 128(DI), Z12 // rest: remainders' bits, or'ed
	VMOVUPD   192(DI), Z13 // mn
	VMOVUPD   256(DI), Z14 // mx
	SHRQ $3, CX
	JZ   done

loop:
	VMOVUPD (SI), Z0
	VADDPD  Z0, Z8, Z1   // t = s1 + x
	VSUBPD  Z8, Z1, Z1   // q = t - s1
	VSUBPD  Z1, Z0, Z2   // r = x - q
	VADDPD  Z1, Z10, Z10 // a += q
	VADDPD  Z2, Z9, Z3   // t' = s2 + r
	VSUBPD  Z9, Z3, Z3   // u = t' - s2
	VSUBPD  Z3, Z2, Z4   // v = r - u
	VADDPD  Z3, Z11, Z11 // b += u
	VPORQ   Z4, Z12, Z12 // rest |= bits(v)
	VMINPD  Z0, Z13, Z13
	VMAXPD  Z0, Z14, Z14
	ADDQ    $64, SI
	DECQ    CX
	JNZ     loop

done:
	VMOVUPD   Z10, 0(DI)
	VMOVUPD   Z11, 64(DI)
	VMOVDQU64 Z12, 128(DI)
	VMOVUPD   Z13, 192(DI)
	VMOVUPD   Z14, 256(DI)
	VZEROUPPER
	RET
