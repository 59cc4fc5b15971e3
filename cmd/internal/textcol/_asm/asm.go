// Command asm generates digits_amd64.s, package textcol's assembly, with
// avo: decimalDigits, the SSE4.1 digit reader (here), and plainLines,
// the AVX2 line reader (lines.go). Run it through go generate in the textcol
// package:
//
//	go -C _asm run . -out ../digits_amd64.s
//
// The Go declarations are in digits_amd64.go and lines_amd64.go. It lives in its own module so
// that avo never enters pishm's go.sum.
package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("amd64,gc,!purego,!noasm")
	digits()
	lines("plainLines", 1, false)
	lines("plainLines128", 2, false)
	lines("blankLines", 1, true)
	lines("blankLines128", 2, true)
	Generate()
}

// digitConsts offsets (digitConsts in digits_amd64.go).
const (
	kZeros  = 0   // sixteen '0'
	kNines  = 16  // sixteen 9
	kMask   = 32  // sixteen 0x00 then sixteen 0xFF: the last k bytes of 16 at kMask+k
	kMul10  = 64  // bytes 10, 1, 10, 1...
	kMul100 = 80  // words 100, 1, 100, 1...
	kMul1e4 = 96  // words 10000, 1, 10000, 1...
	kPow10  = 112 // 10^k modulo 2^64, k = 0..31
)

// digits emits decimalDigits: at p, the run of ASCII digits (ints of
// them), and if a '.' ends it (dot 1), the run after it (fracs); man is
// the value of the two runs' digits one after the other, exact where
// ints and fracs are at most 16 and ints+fracs at most 19. The 32 bytes
// from p are read, and the 16 before it: the caller makes sure they are
// there.
func digits() {
	TEXT("decimalDigits", NOSPLIT, "func(p *byte, k *[368]byte) (man uint64, ints, fracs, dot int)")
	Doc("decimalDigits reads the digits at p: see digits_amd64.go.")
	Load(Param("p"), RSI)
	Load(Param("k"), RDI)

	Comment("The digit bytes of p[0:32] as a 32-bit mask: b-'0' <= 9 unsigned.")
	MOVOU(Mem{Base: RSI}, X0)
	MOVOU(Mem{Base: RSI, Disp: 16}, X1)
	MOVOU(Mem{Base: RDI, Disp: kZeros}, X7)
	MOVOU(Mem{Base: RDI, Disp: kNines}, X6)
	PSUBB(X7, X0)
	PSUBB(X7, X1)
	MOVO(X0, X2)
	MOVO(X1, X3)
	PMINUB(X6, X2)
	PMINUB(X6, X3)
	PCMPEQB(X0, X2)
	PCMPEQB(X1, X3)
	PMOVMSKB(X2, EAX)
	PMOVMSKB(X3, EBX)
	SHLQ(Imm(16), RBX)
	ORQ(RBX, RAX)

	Comment("ints = the first byte that is not a digit (32 if none: a guard bit).")
	NOTQ(RAX)
	MOVQ(U64(1<<32), RBX)
	ORQ(RBX, RAX)
	BSFQ(RAX, RCX) // ints
	Comment("dot: p[ints] is a '.'; then fracs = the digits after it.")
	XORQ(RDX, RDX) // dot
	XORQ(R8, R8)   // fracs
	MOVBQZX(Mem{Base: RSI, Index: RCX, Scale: 1}, R9)
	CMPQ(R9, U8('.'))
	JNE(LabelRef("nodot"))
	MOVQ(U32(1), RDX)
	LEAQ(Mem{Base: RCX, Disp: 1}, R10)
	MOVQ(RAX, R11)
	XCHGQ(RCX, R10)
	SHRQ(CL, R11) // the non-digits from ints+1 on, with the guard
	XCHGQ(RCX, R10)
	BSFQ(R11, R8) // fracs
	Label("nodot")

	Comment("Each run's value: the 16 bytes that end with it, less '0',")
	Comment("the bytes before it masked off, then pairs, quads and eights")
	Comment("of digits by multiply-adds, and the two eights put together.")
	run := func(end, count, out, out32 Register, name string) {
		MOVQ(count, R10)
		CMPQ(R10, U8(16))
		JBE(LabelRef("clamped" + name))
		MOVQ(U32(16), R10)
		Label("clamped" + name)
		MOVOU(Mem{Base: end, Disp: -16}, X0)
		PSUBB(X7, X0)
		MOVOU(Mem{Base: RDI, Index: R10, Scale: 1, Disp: kMask}, X1)
		PAND(X1, X0)
		MOVOU(Mem{Base: RDI, Disp: kMul10}, X1)
		PMADDUBSW(X1, X0) // eight pairs: 10a+b
		MOVOU(Mem{Base: RDI, Disp: kMul100}, X1)
		PMADDWL(X1, X0) // four quads: 100ab+cd
		PACKUSDW(X0, X0)
		MOVOU(Mem{Base: RDI, Disp: kMul1e4}, X1)
		PMADDWL(X1, X0) // two eights: 10000abcd+efgh
		MOVQ(X0, out)
		MOVL(out32, R10L)
		SHRQ(Imm(32), out)
		IMUL3Q(U32(100000000), R10, R10)
		ADDQ(R10, out)
	}
	Comment("The integer digits end at p+ints.")
	LEAQ(Mem{Base: RSI, Index: RCX, Scale: 1}, R12)
	run(R12, RCX, R13, R13L, "int")
	Comment("The fraction's end at p+ints+1+fracs (no digits: no value).")
	LEAQ(Mem{Base: R12, Index: R8, Scale: 1, Disp: 1}, R12)
	run(R12, R8, R14, R14L, "frac")
	Comment("man = int*10^fracs + frac, fracs clamped into the table.")
	MOVQ(R8, R10)
	ANDQ(U8(31), R10)
	IMULQ(Mem{Base: RDI, Index: R10, Scale: 8, Disp: kPow10}, R13)
	ADDQ(R14, R13)
	Store(R13, ReturnIndex(0))
	Store(RCX, ReturnIndex(1))
	Store(R8, ReturnIndex(2))
	Store(RDX, ReturnIndex(3))
	RET()
}
