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

// func dev8(xs *float64, n int, k *devConsts, l *lanes, idx *int32)
//
// Pass 2's arithmetic on eight lanes, over the n&^7 values at xs: the
// squared scaled deviation p = (x*s - ms)^2 summed as sumNonNeg does (l.a
// the first level, l.b the remainders), and each value's bin as
// Plan.estimate gives it: trunc(f), f = ((x*half) - loHalf)*norm, where x
// is in [lo, hi] and f is more than delta from an integer, else -1. No
// fused multiply-adds: every step rounds as the Go code does.
TEXT ·dev8(SB), NOSPLIT, $0-40
	MOVQ xs+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ k+16(FP), DX
	MOVQ l+24(FP), DI
	MOVQ idx+32(FP), BX
	VBROADCASTSD 0(DX), Z8   // s
	VBROADCASTSD 8(DX), Z9   // ms
	VBROADCASTSD 16(DX), Z10 // s1
	VBROADCASTSD 24(DX), Z11 // half
	VBROADCASTSD 32(DX), Z12 // loHalf
	VBROADCASTSD 40(DX), Z13 // norm
	VBROADCASTSD 48(DX), Z17 // lo
	VBROADCASTSD 56(DX), Z18 // hi
	VBROADCASTSD 64(DX), Z19 // delta
	VBROADCASTSD 72(DX), Z20 // 1 - delta
	VMOVUPD 0(DI), Z15       // a
	VMOVUPD 64(DI), Z16      // b
	SHRQ $3, CX
	JZ   devdone

devloop:
	VMOVUPD     (SI), Z0
	VMULPD      Z8, Z0, Z1      // x*s
	VSUBPD      Z9, Z1, Z1      // d = x*s - ms
	VMULPD      Z1, Z1, Z1      // p = d*d
	VADDPD      Z1, Z10, Z2     // t = s1 + p
	VSUBPD      Z10, Z2, Z2     // q = t - s1
	VADDPD      Z2, Z15, Z15    // a += q
	VSUBPD      Z2, Z1, Z3      // r = p - q
	VADDPD      Z3, Z16, Z16    // b += r
	VMULPD      Z11, Z0, Z4     // x*half
	VSUBPD      Z12, Z4, Z4     // - loHalf
	VMULPD      Z13, Z4, Z4     // f = * norm
	VRNDSCALEPD $3, Z4, Z6      // trunc(f)
	VSUBPD      Z6, Z4, Z7      // frac = f - trunc(f)
	VCMPPD      $0x1d, Z17, Z0, K1 // x >= lo (false for NaN)
	VCMPPD      $0x12, Z18, Z0, K2 // x <= hi
	VCMPPD      $0x1d, Z19, Z7, K3 // frac >= delta
	VCMPPD      $0x12, Z20, Z7, K4 // frac <= 1 - delta
	KANDW       K2, K1, K1
	KANDW       K3, K1, K1
	KANDW       K4, K1, K1
	VPTERNLOGD  $0xff, Z5, Z5, Z5 // all ones: -1 in every lane
	VCVTTPD2DQ  Z4, K1, Y5      // trunc(f) where K1 holds
	VMOVDQU     Y5, (BX)
	ADDQ        $64, SI
	ADDQ        $32, BX
	DECQ        CX
	JNZ         devloop

devdone:
	VMOVUPD Z15, 0(DI)
	VMOVUPD Z16, 64(DI)
	VZEROUPPER
	RET

// func extract8f32(xs *float32, n int, s1 float64, s2 float64, l *lanes)
//
// extract8 over float32 values.
TEXT ·extract8f32(SB), NOSPLIT, $0-40
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
	JZ   done32

loop32:
	VCVTPS2PD (SI), Z0 // eight float32s, exactly as float64s
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
	ADDQ    $32, SI
	DECQ    CX
	JNZ     loop32

done32:
	VMOVUPD   Z10, 0(DI)
	VMOVUPD   Z11, 64(DI)
	VMOVDQU64 Z12, 128(DI)
	VMOVUPD   Z13, 192(DI)
	VMOVUPD   Z14, 256(DI)
	VZEROUPPER
	RET

// func dev8f32(xs *float32, n int, k *devConsts, l *lanes, idx *int32)
//
// dev8 over float32 values.
TEXT ·dev8f32(SB), NOSPLIT, $0-40
	MOVQ xs+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ k+16(FP), DX
	MOVQ l+24(FP), DI
	MOVQ idx+32(FP), BX
	VBROADCASTSD 0(DX), Z8   // s
	VBROADCASTSD 8(DX), Z9   // ms
	VBROADCASTSD 16(DX), Z10 // s1
	VBROADCASTSD 24(DX), Z11 // half
	VBROADCASTSD 32(DX), Z12 // loHalf
	VBROADCASTSD 40(DX), Z13 // norm
	VBROADCASTSD 48(DX), Z17 // lo
	VBROADCASTSD 56(DX), Z18 // hi
	VBROADCASTSD 64(DX), Z19 // delta
	VBROADCASTSD 72(DX), Z20 // 1 - delta
	VMOVUPD 0(DI), Z15       // a
	VMOVUPD 64(DI), Z16      // b
	SHRQ $3, CX
	JZ   devdone32

devloop32:
	VCVTPS2PD   (SI), Z0 // eight float32s, exactly as float64s
	VMULPD      Z8, Z0, Z1      // x*s
	VSUBPD      Z9, Z1, Z1      // d = x*s - ms
	VMULPD      Z1, Z1, Z1      // p = d*d
	VADDPD      Z1, Z10, Z2     // t = s1 + p
	VSUBPD      Z10, Z2, Z2     // q = t - s1
	VADDPD      Z2, Z15, Z15    // a += q
	VSUBPD      Z2, Z1, Z3      // r = p - q
	VADDPD      Z3, Z16, Z16    // b += r
	VMULPD      Z11, Z0, Z4     // x*half
	VSUBPD      Z12, Z4, Z4     // - loHalf
	VMULPD      Z13, Z4, Z4     // f = * norm
	VRNDSCALEPD $3, Z4, Z6      // trunc(f)
	VSUBPD      Z6, Z4, Z7      // frac = f - trunc(f)
	VCMPPD      $0x1d, Z17, Z0, K1 // x >= lo (false for NaN)
	VCMPPD      $0x12, Z18, Z0, K2 // x <= hi
	VCMPPD      $0x1d, Z19, Z7, K3 // frac >= delta
	VCMPPD      $0x12, Z20, Z7, K4 // frac <= 1 - delta
	KANDW       K2, K1, K1
	KANDW       K3, K1, K1
	KANDW       K4, K1, K1
	VPTERNLOGD  $0xff, Z5, Z5, Z5 // all ones: -1 in every lane
	VCVTTPD2DQ  Z4, K1, Y5      // trunc(f) where K1 holds
	VMOVDQU     Y5, (BX)
	ADDQ        $32, SI
	ADDQ        $32, BX
	DECQ        CX
	JNZ         devloop32

devdone32:
	VMOVUPD Z15, 0(DI)
	VMOVUPD Z16, 64(DI)
	VZEROUPPER
	RET
