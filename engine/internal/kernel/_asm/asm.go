// Command asm generates kernel_amd64.s and stubs_amd64.go, the assembly
// kernels of package kernel, with avo. Run it through go generate in the
// kernel package:
//
//	go -C _asm run . -out ../kernel_amd64.s -stubs ../stubs_amd64.go -pkg kernel
//
// It lives in its own module so that avo never enters pishm's go.sum.
//
// # Algebra
//
// Four odd numbers placed symmetrically around a centre m, m-q, m-p, m+p
// and m+q, give four terms over one denominator. (In the generic kernel the
// four are consecutive, p = 1 and q = 3, so m is even; here each lane's four
// are 2L apart, p = L and q = 3L are even, and m is odd.) With M = m*m:
//
//	1/(m-p)^2 + 1/(m+p)^2 = 2(M+p^2) / (M-p^2)^2
//
// so, with e1 = M-p^2, e2 = M-q^2, f1 = M+p^2, f2 = M+q^2,
// d1 = e1*e1 and d2 = e2*e2,
//
//	four terms = 2 (f1*d2 + f2*d1) / (d1*d2)
//
// which is one division per four terms per lane. The factor 2 is applied
// (exactly) by the Go wrapper. All quantities are positive, so nothing
// cancels, and d1*d2 ~ m^8 stays far inside float64 range for m < 2^53.
package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// blockIters is how many four-term fractions each lane adds plainly into
// its block partial before Kahan-adding that into the lane's total. Longer
// plain chains cost accuracy on ranges of near-equal terms (far from k = 0):
// 32 fractions gave 4e-16 relative error, 64 gave 1e-15; at 8 the Kahan
// step costs half a vector add per iteration, hidden behind the divider.
const blockIters = 8

func main() {
	ConstraintExpr("amd64,gc,!purego,!noasm")

	// lanes holds the offsets 0, 2, 4, ... of the lanes' odd numbers.
	lanes := GLOBL("lanes", RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(8*i, f64(float64(2*i)))
	}

	blocks(isa{name: "AVX512", lanes: 8, vec: func() VecVirtual { return ZMM() }}, lanes)
	blocks(isa{name: "AVX2", lanes: 4, vec: func() VecVirtual { return YMM() }}, lanes)
	Generate()
}

// f64 is x as a DATA constant. It spells out the bits because avo v0.5.0
// prints F64(2) as $(2), which the assembler reads as the integer 2.
func f64(x float64) Constant { return U64(math.Float64bits(x)) }

// isa is one vector width: its name suffix, float64 lanes per register and
// register allocator.
type isa struct {
	name  string
	lanes int
	vec   func() VecVirtual
}

// blocks emits blocks<ISA>(m float64, n uint64) (sum, comp [L]float64).
//
// One iteration covers 4*L consecutive terms: lane j takes the odd numbers
// x0+2j + {0, 2L, 4L, 6L}, centred on m_j = x0 + 3L + 2j with p = L and
// q = 3L. Iterations run from the top (the given m) downwards, so that
// each block adds its small terms first.
func blocks(a isa, lanes Mem) {
	L := a.lanes
	name := "blocks" + a.name
	TEXT(name, NOSPLIT, fmt.Sprintf("func(m float64, n uint64) (sum, comp [%d]float64)", L))
	Doc(
		fmt.Sprintf("%s adds n iterations of %d terms each (see sumGeneric in kernel.go", name, 4*L),
		"for the series and _asm/asm.go for the algebra), from m downwards:",
		"",
		"\tfor i := uint64(0); i < n; i++ {",
		fmt.Sprintf("\t\tfor j := 0; j < %d; j++ {", L),
		fmt.Sprintf("\t\t\tmj := m - %d*float64(i) + 2*float64(j)", 8*L),
		fmt.Sprintf("\t\t\tfor _, x := range []float64{mj - %d, mj - %d, mj + %d, mj + %d} {", 3*L, L, L, 3*L),
		"\t\t\t\tlane[j] += 1 / (x * x) / 2",
		"\t\t\t}",
		"\t\t}",
		"\t}",
		"",
		fmt.Sprintf("with four terms per division, each lane summed in blocks of %d iterations", blockIters),
		"whose partials are Kahan-added into sum[j], with the compensation (to",
		"subtract) in comp[j]: lane[j] = sum[j] - comp[j].",
		"",
		"It assumes that: m = 2k + 1 + "+fmt.Sprint(3*L)+" for the lowest index k of the top",
		"iteration, and that every odd number it covers is below 2^53.",
	)

	// Arguments.
	mx := XMM()
	Load(Param("m"), mx)
	n := Load(Param("n"), GP64())

	// Constants, broadcast to every lane.
	Comment("m: centre of each lane's four odd numbers, m + 0, 2, 4, ...")
	m := a.vec()
	VBROADCASTSD(mx, m)
	VADDPD(lanes, m, m)
	Comment("p2 = p^2, q2 = q^2 and the step of m per iteration")
	p2, q2, step := a.vec(), a.vec(), a.vec()
	VBROADCASTSD(ConstData(fmt.Sprintf("p2x%d", L), f64(float64(L*L))), p2)
	VBROADCASTSD(ConstData(fmt.Sprintf("q2x%d", L), f64(float64(9*L*L))), q2)
	VBROADCASTSD(ConstData(fmt.Sprintf("stepx%d", L), f64(float64(8*L))), step)

	Comment("sum, comp: per-lane Kahan total and its compensation")
	sum, comp := a.vec(), a.vec()
	VXORPD(sum, sum, sum)
	VXORPD(comp, comp, comp)

	perBlock := blockIters
	Label("block" + a.name)
	Comment("cnt = min(n, iterations per block); n -= cnt")
	TESTQ(n, n)
	JZ(LabelRef("done" + a.name))
	cnt := GP64()
	MOVQ(U32(perBlock), cnt)
	CMPQ(n, cnt)
	CMOVQLT(n, cnt)
	SUBQ(cnt, n)
	Comment("blk: the block partial")
	blk := a.vec()
	VXORPD(blk, blk, blk)

	Label("iter" + a.name)
	M, e1, e2, f1, f2 := a.vec(), a.vec(), a.vec(), a.vec(), a.vec()
	Comment("M = m*m; e1 = M - p^2; e2 = M - q^2; f1 = M + p^2; f2 = M + q^2")
	VMULPD(m, m, M)
	VSUBPD(p2, M, e1)
	VSUBPD(q2, M, e2)
	VADDPD(p2, M, f1)
	VADDPD(q2, M, f2)
	Comment("m -= step: the next iteration is the one below")
	VSUBPD(step, m, m)
	Comment("d1 = e1*e1; d2 = e2*e2")
	d1, d2 := a.vec(), a.vec()
	VMULPD(e1, e1, d1)
	VMULPD(e2, e2, d2)
	Comment("num = f2*d1 + f1*d2; den = d1*d2")
	num, den := a.vec(), a.vec()
	VMULPD(d1, f2, num)
	VFMADD231PD(d2, f1, num)
	VMULPD(d2, d1, den)
	Comment("blk += num/den, four terms per lane (halved)")
	VDIVPD(den, num, num)
	VADDPD(num, blk, blk)
	DECQ(cnt)
	JNZ(LabelRef("iter" + a.name))

	Comment("Kahan-add blk into sum: y = blk - comp; t = sum + y; comp = (t - sum) - y; sum = t")
	y, t := a.vec(), a.vec()
	VSUBPD(comp, blk, y)
	VADDPD(y, sum, t)
	VSUBPD(sum, t, comp)
	VSUBPD(y, comp, comp)
	VMOVAPD(t, sum)
	JMP(LabelRef("block" + a.name))

	Label("done" + a.name)
	Comment("store the lanes' totals and compensations")
	sumMem, _ := ReturnIndex(0).Index(0).Resolve()
	compMem, _ := ReturnIndex(1).Index(0).Resolve()
	VMOVUPD(sum, sumMem.Addr)
	VMOVUPD(comp, compMem.Addr)
	VZEROUPPER()
	RET()
}
