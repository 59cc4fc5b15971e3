// Command asm generates extract_amd64.s, the AVX-512 loops of package
// stats, with avo. Run it through go generate in the stats package:
//
//	go -C _asm run . -out ../extract_amd64.s
//
// Each loop is written once and emitted for float64 and float32 input:
// the float32 one widens eight values exactly to float64 as it loads them
// (VCVTPS2PD) and steps 32 bytes instead of 64; every other instruction
// is the same. The Go declarations are in extract_amd64.go. It lives in
// its own module so that avo never enters pishm's go.sum.
package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// elem is one input type: its Go type, its load of eight values into a
// ZMM register as float64s, and their size in bytes.
type elem struct {
	suffix, goType string
	load           func(src Mem, dst VecPhysical)
	bytes          int
}

var elems = []elem{
	{"", "float64", func(src Mem, dst VecPhysical) { VMOVUPD(src, dst) }, 64},
	{"f32", "float32", func(src Mem, dst VecPhysical) {
		Comment("eight float32s, exactly as float64s")
		VCVTPS2PD(src, dst)
	}, 32},
}

func main() {
	ConstraintExpr("amd64,gc,!purego,!noasm")
	for _, e := range elems {
		extract(e)
	}
	for _, accs := range []int{0, 1, 4} {
		for _, e := range elems {
			dev(e, accs)
		}
	}
	Generate()
}

// extract emits extract8<suffix>: extract's two levels and the extremes
// on eight lanes at once, over the n&^7 values at xs, continuing from and
// storing back l's accumulators (a, b, rest, mn, mx: 64 bytes each).
func extract(e elem) {
	name := "extract8" + e.suffix
	// l is *lanes in Go: 320 bytes of accumulators, a pointer either way.
	TEXT(name, NOSPLIT, "func(xs *"+e.goType+", n int, s1, s2 float64, l *[40]float64)")
	Load(Param("xs"), RSI)
	Load(Param("n"), RCX)
	Load(Param("l"), RDI)
	VBROADCASTSD(NewParamAddr("s1", 16), Z8)
	VBROADCASTSD(NewParamAddr("s2", 24), Z9)
	VMOVUPD(Mem{Base: RDI}, Z10)              // a: first-level sums
	VMOVUPD(Mem{Base: RDI, Disp: 64}, Z11)    // b: second-level sums
	VMOVDQU64(Mem{Base: RDI, Disp: 128}, Z12) // rest: remainders' bits, or'ed
	VMOVUPD(Mem{Base: RDI, Disp: 192}, Z13)   // mn
	VMOVUPD(Mem{Base: RDI, Disp: 256}, Z14)   // mx
	SHRQ(Imm(3), RCX)
	JZ(LabelRef("done" + e.suffix))

	Label("loop" + e.suffix)
	e.load(Mem{Base: RSI}, Z0)
	VADDPD(Z0, Z8, Z1)   // t = s1 + x
	VSUBPD(Z8, Z1, Z1)   // q = t - s1
	VSUBPD(Z1, Z0, Z2)   // r = x - q
	VADDPD(Z1, Z10, Z10) // a += q
	VADDPD(Z2, Z9, Z3)   // t' = s2 + r
	VSUBPD(Z9, Z3, Z3)   // u = t' - s2
	VSUBPD(Z3, Z2, Z4)   // v = r - u
	VADDPD(Z3, Z11, Z11) // b += u
	VPORQ(Z4, Z12, Z12)  // rest |= bits(v)
	VMINPD(Z0, Z13, Z13)
	VMAXPD(Z0, Z14, Z14)
	ADDQ(Imm(uint64(e.bytes)), RSI)
	DECQ(RCX)
	JNZ(LabelRef("loop" + e.suffix))

	Label("done" + e.suffix)
	VMOVUPD(Z10, Mem{Base: RDI})
	VMOVUPD(Z11, Mem{Base: RDI, Disp: 64})
	VMOVDQU64(Z12, Mem{Base: RDI, Disp: 128})
	VMOVUPD(Z13, Mem{Base: RDI, Disp: 192})
	VMOVUPD(Z14, Mem{Base: RDI, Disp: 256})
	VZEROUPPER()
	RET()
}

// dev emits dev8<suffix>: pass 2's arithmetic on eight lanes, over the
// n&^7 values at xs: the squared scaled deviation p = (x*s - ms)^2 summed
// as sumNonNeg does (l.a the first level, l.b the remainders), and each
// value's bin as Plan.estimate gives it: trunc(f), f = ((x*half) -
// loHalf)*norm, where x is in [lo, hi] and f is more than delta from an
// integer, else -1. No fused multiply-adds: every step rounds as the Go
// code does.
//
// With accs > 0, it emits dev8count<suffix> (accs 1, at most 16 bins)
// or dev8count64<suffix> (accs 4, at most 64), which also count the bins,
// in registers, for at most chunkLen values (n <= 1024): each lane adds
// 1<<4(k-16j) to accumulator j, a quadword of sixteen 4-bit counters
// (bins 16j to 16j+15; the shift of a k of another accumulator, or of -1,
// is 64 or more as an unsigned count, and adds nothing). Every 15 rounds,
// before a counter can overflow, the counters are moved into c's byte
// counters in memory, the even bins' and the odd bins' of each
// accumulator (at most 128 per lane, so that a byte never carries into
// the next: quadword adds serve). c also gets the or of every lane's k:
// negative where some value was left to the caller.
func dev(e elem, accs int) {
	name := "dev8" + e.suffix
	sig := "func(xs *" + e.goType + ", n int, k *[10]float64, l *[40]float64, idx *int32)"
	count := accs > 0
	if count {
		name = map[int]string{1: "dev8count", 4: "dev8count64"}[accs] + e.suffix
		// c is *binCounts: [4][2][8]uint64, then an [8]int32.
		sig = "func(xs *" + e.goType + ", n int, k *[10]float64, l *[40]float64, idx *int32, c *[68]uint64)"
	}
	nib := []VecPhysical{Z14, Z24, Z28, Z29}[:accs] // each accumulator's 4-bit counters
	label := func(s string) string { return s + name }
	// k is *devConsts (ten float64s), l *lanes: pointers either way.
	TEXT(name, NOSPLIT, sig)
	Load(Param("xs"), RSI)
	Load(Param("n"), RCX)
	Load(Param("k"), RDX)
	Load(Param("l"), RDI)
	Load(Param("idx"), RBX)
	for i, z := range []VecPhysical{Z8, Z9, Z10, Z11, Z12, Z13, Z17, Z18, Z19, Z20} {
		// s, ms, s1, half, loHalf, norm, lo, hi, delta, 1 - delta
		VBROADCASTSD(Mem{Base: RDX, Disp: 8 * i}, z)
	}
	VMOVUPD(Mem{Base: RDI}, Z15)           // a
	VMOVUPD(Mem{Base: RDI, Disp: 64}, Z16) // b
	if count {
		Load(Param("c"), R9)
		VPTERNLOGD(Imm(0xff), Z26, Z26, Z26)
		VPSRLQ(Imm(63), Z26, Z26) // 1 in each quadword
		MOVQ(U64(0x0f0f0f0f0f0f0f0f), RAX)
		VPBROADCASTQ(RAX, Z25) // the low nibble of each byte
		MOVQ(U64(64), RAX)
		VPBROADCASTQ(RAX, Z30) // 64: from one accumulator's shifts to the next's
		for _, z := range nib {
			VPXORQ(z, z, z)
		}
		VPXORQ(Z27, Z27, Z27) // the or of the bins
		MOVQ(U32(15), R8)     // rounds until the next flush
	}
	SHRQ(Imm(3), RCX)
	JZ(LabelRef(label("devdone")))

	Label(label("devloop"))
	e.load(Mem{Base: RSI}, Z0)
	VMULPD(Z8, Z0, Z1)             // x*s
	VSUBPD(Z9, Z1, Z1)             // d = x*s - ms
	VMULPD(Z1, Z1, Z1)             // p = d*d
	VADDPD(Z1, Z10, Z2)            // t = s1 + p
	VSUBPD(Z10, Z2, Z2)            // q = t - s1
	VADDPD(Z2, Z15, Z15)           // a += q
	VSUBPD(Z2, Z1, Z3)             // r = p - q
	VADDPD(Z3, Z16, Z16)           // b += r
	VMULPD(Z11, Z0, Z4)            // x*half
	VSUBPD(Z12, Z4, Z4)            // - loHalf
	VMULPD(Z13, Z4, Z4)            // f = * norm
	VRNDSCALEPD(Imm(3), Z4, Z6)    // trunc(f)
	VSUBPD(Z6, Z4, Z7)             // frac = f - trunc(f)
	VCMPPD(Imm(0x1d), Z17, Z0, K1) // x >= lo (false for NaN)
	VCMPPD(Imm(0x12), Z18, Z0, K2) // x <= hi
	VCMPPD(Imm(0x1d), Z19, Z7, K3) // frac >= delta
	VCMPPD(Imm(0x12), Z20, Z7, K4) // frac <= 1 - delta
	KANDW(K2, K1, K1)
	KANDW(K3, K1, K1)
	KANDW(K4, K1, K1)
	VPTERNLOGD(Imm(0xff), Z5, Z5, Z5) // all ones: -1 in every lane
	VCVTTPD2DQ(Z4, K1, Y5)            // trunc(f) where K1 holds
	VMOVDQU(Y5, Mem{Base: RBX})
	if count {
		VPORD(Y5, Y27, Y27)      // a -1 sets the sign bit
		VPMOVZXDQ(Y5, Z21)       // k, unsigned
		VPSLLQ(Imm(2), Z21, Z21) // 4k
		for j, z := range nib {
			if j > 0 {
				VPSUBQ(Z30, Z21, Z21) // 4k - 64j
			}
			VPSLLVQ(Z21, Z26, Z22) // 1<<(4k-64j), or 0
			VPADDQ(Z22, z, z)      // into k's 4-bit counter
		}
		DECQ(R8)
		JNZ(LabelRef(label("devnext")))
		flush(nib)
		MOVQ(U32(15), R8)
		Label(label("devnext"))
	}
	ADDQ(Imm(uint64(e.bytes)), RSI)
	ADDQ(Imm(32), RBX)
	DECQ(RCX)
	JNZ(LabelRef(label("devloop")))

	Label(label("devdone"))
	VMOVUPD(Z15, Mem{Base: RDI})
	VMOVUPD(Z16, Mem{Base: RDI, Disp: 64})
	if count {
		flush(nib)
		VMOVDQU32(Y27, Mem{Base: R9, Disp: 512})
	}
	VZEROUPPER()
	RET()
}

// flush adds dev8count's 4-bit counters (nib) to the byte counters at R9
// (accumulator j's even bins at 128j, its odd bins at 128j+64) and clears
// them.
func flush(nib []VecPhysical) {
	for j, z := range nib {
		VPANDQ(Z25, z, Z23)
		VPADDQ(Mem{Base: R9, Disp: 128 * j}, Z23, Z23)
		VMOVDQU64(Z23, Mem{Base: R9, Disp: 128 * j})
		VPSRLQ(Imm(4), z, z)
		VPANDQ(Z25, z, z)
		VPADDQ(Mem{Base: R9, Disp: 128*j + 64}, z, z)
		VMOVDQU64(z, Mem{Base: R9, Disp: 128*j + 64})
		VPXORQ(z, z, z)
	}
}
