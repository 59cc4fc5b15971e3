package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// lines emits plainLines: the plain lines from data[at:] on, each read
// in one step from a 64-byte window that holds it, as Plain reads them
// one byte or call at a time, and leaves a window that holds a '"' to
// Plain: the window's masks of '\n', separators and digits find the
// line's end, each field's start and its number's runs, and the runs'
// values come as in decimalDigits. It stops at the first line it does
// not take (Plain reads it), at a window past the data, or when out has
// no room for another line's fields.
func lines() {
	TEXT("plainLines", NOSPLIT, "func(data []byte, at int, fields []byte, sep byte, k *[368]byte, out [][2]uint64) (lines int)")
	Doc("plainLines reads the plain lines of data from at on: see lines_amd64.go.")
	nonDigits := AllocLocal(8) // the window's non-digit bytes
	lineEnd := AllocLocal(8)   // L, the offset of the line's '\n'
	cur := AllocLocal(8)       // the field the separators popped so far lead to
	fieldsEnd := AllocLocal(8)
	count := AllocLocal(8) // lines read

	Load(Param("data").Base(), RSI)
	Load(Param("data").Len(), R15)
	ADDQ(RSI, R15) // the data's end
	Load(Param("at"), RAX)
	ADDQ(RAX, RSI) // the line's start
	Load(Param("k"), RDI)
	Load(Param("fields").Base(), RAX)
	Load(Param("fields").Len(), RCX)
	ADDQ(RAX, RCX)
	MOVQ(RCX, fieldsEnd)
	Comment("R11: the last out a line's fields may start at.")
	Load(Param("out").Base(), R8)
	Load(Param("out").Len(), R11)
	Load(Param("fields").Len(), RCX)
	SUBQ(RCX, R11)
	SHLQ(Imm(4), R11)
	ADDQ(R8, R11)
	MOVQ(U32(0), count)

	Comment("Broadcasts: the separator, '\\n', '0', 9 and '\"'.")
	for _, b := range []struct {
		x   VecPhysical
		y   VecPhysical
		val Op
	}{{X15, Y15, nil}, {X14, Y14, U32('\n')}, {X13, Y13, U32('0')}, {X12, Y12, U32(9)}, {X11, Y11, U32('"')}} {
		if b.val == nil {
			Load(Param("sep"), RAX)
		} else {
			MOVQ(b.val, RAX)
		}
		VMOVQ(RAX, b.x)
		VPBROADCASTB(b.x, b.y)
	}

	Label("line")
	CMPQ(R8, R11)
	JA(LabelRef("done"))
	LEAQ(Mem{Base: RSI, Disp: 64}, RAX)
	CMPQ(RAX, R15)
	JA(LabelRef("done"))
	VMOVDQU(Mem{Base: RSI}, Y0)
	VMOVDQU(Mem{Base: RSI, Disp: 32}, Y1)

	Comment("No '\"' in the window: a line with one is not plain.")
	VPCMPEQB(Y0, Y11, Y2)
	VPCMPEQB(Y1, Y11, Y3)
	VPOR(Y2, Y3, Y2)
	VPTEST(Y2, Y2)
	JNZ(LabelRef("done"))

	// mask64 sets r to the 64-bit mask of the window's bytes equal to
	// y's, with tmp.
	mask64 := func(y VecPhysical, r, tmp GPPhysical) {
		VPCMPEQB(Y0, y, Y2)
		VPMOVMSKB(Y2, r.As32())
		VPCMPEQB(Y1, y, Y3)
		VPMOVMSKB(Y3, tmp.As32())
		SHLQ(Imm(32), tmp)
		ORQ(tmp, r)
	}
	Comment("L: the line's '\\n' in the window.")
	mask64(Y14, RAX, RCX)
	TZCNTQ(RAX, RAX)
	CMPQ(RAX, U8(64))
	JAE(LabelRef("done"))
	MOVQ(RAX, lineEnd)

	Comment("The non-digits of the window (L among them): b-'0' > 9 unsigned.")
	VPSUBB(Y13, Y0, Y2)
	VPMINUB(Y12, Y2, Y3)
	VPCMPEQB(Y2, Y3, Y3)
	VPMOVMSKB(Y3, EAX)
	VPSUBB(Y13, Y1, Y4)
	VPMINUB(Y12, Y4, Y5)
	VPCMPEQB(Y4, Y5, Y5)
	VPMOVMSKB(Y5, ECX)
	SHLQ(Imm(32), RCX)
	ORQ(RCX, RAX)
	NOTQ(RAX)
	MOVQ(RAX, nonDigits)

	Comment("BX: the separators not yet passed; DX: the field's start.")
	mask64(Y15, RBX, RCX)
	XORQ(RDX, RDX)
	MOVQ(RDX, cur)
	Load(Param("fields").Base(), R12)

	Label("field")
	Comment("Pass separators up to the field's start, each before L.")
	MOVBQZX(Mem{Base: R12}, RAX)
	Label("pass")
	CMPQ(cur, RAX)
	JAE(LabelRef("at"))
	TZCNTQ(RBX, RCX)
	CMPQ(RCX, lineEnd)
	JAE(LabelRef("reject"))
	BLSRQ(RBX, RBX)
	LEAQ(Mem{Base: RCX, Disp: 1}, RDX)
	INCQ(cur)
	JMP(LabelRef("pass"))
	Label("at")

	Comment("meta: the line's length and the field's start; a sign: neg, and the digits start past it.")
	MOVQ(RDX, R13)
	SHLQ(Imm(24), R13)
	MOVQ(lineEnd, RAX)
	LEAQ(Mem{Base: R13, Index: RAX, Scale: 1, Disp: 1}, R13)
	MOVBQZX(Mem{Base: RSI, Index: RDX, Scale: 1}, RAX)
	CMPB(AL, U8('-'))
	JNE(LabelRef("notminus"))
	BTSQ(Imm(16), R13)
	INCQ(RDX)
	JMP(LabelRef("signed"))
	Label("notminus")
	CMPB(AL, U8('+'))
	JNE(LabelRef("signed"))
	INCQ(RDX)
	Label("signed")

	Comment("ints: the digits from there; R14: their end; a '.' there: fracs (DX) after it; R9: the number's end.")
	SHRXQ(RDX, nonDigits, RCX)
	TZCNTQ(RCX, RCX)
	LEAQ(Mem{Base: RDX, Index: RCX, Scale: 1}, R14)
	XORQ(RDX, RDX)
	MOVQ(R14, R9)
	CMPB(Mem{Base: RSI, Index: R14, Scale: 1}, U8('.'))
	JNE(LabelRef("nodot"))
	LEAQ(Mem{Base: R14, Disp: 1}, R9)
	SHRXQ(R9, nonDigits, RDX)
	TZCNTQ(RDX, RDX)
	ADDQ(RDX, R9)
	Label("nodot")

	Comment("At most 16 digits a run and 19 in all, at least one.")
	CMPQ(RCX, U8(16))
	JA(LabelRef("reject"))
	CMPQ(RDX, U8(16))
	JA(LabelRef("reject"))
	LEAQ(Mem{Base: RCX, Index: RDX, Scale: 1, Disp: -1}, RAX)
	CMPQ(RAX, U8(18))
	JA(LabelRef("reject"))

	Comment("The number fills the field: a separator follows it, or, after the last field read, L or '\\r' before L.")
	MOVBQZX(Mem{Base: RSI, Index: R9, Scale: 1}, RAX)
	Load(Param("sep"), R10)
	CMPB(AL, R10B)
	JE(LabelRef("ends"))
	LEAQ(Mem{Base: R12, Disp: 1}, R10)
	CMPQ(R10, fieldsEnd)
	JNE(LabelRef("reject"))
	CMPQ(R9, lineEnd)
	JE(LabelRef("ends"))
	CMPB(AL, U8('\r'))
	JNE(LabelRef("reject"))
	LEAQ(Mem{Base: R9, Disp: 1}, RAX)
	CMPQ(RAX, lineEnd)
	JNE(LabelRef("reject"))
	Label("ends")

	Comment("Each run's value from the 16 bytes that end with it, as in decimalDigits.")
	run := func(end Mem, count, out GPPhysical) {
		VMOVDQU(end, X0)
		VPSUBB(X13, X0, X0)
		VPAND(Mem{Base: RDI, Index: count, Scale: 1, Disp: kMask}, X0, X0)
		VPMADDUBSW(Mem{Base: RDI, Disp: kMul10}, X0, X0)
		VPMADDWD(Mem{Base: RDI, Disp: kMul100}, X0, X0)
		VPACKUSDW(X0, X0, X0)
		VPMADDWD(Mem{Base: RDI, Disp: kMul1e4}, X0, X0)
		VMOVQ(X0, out)
		MOVL(out.As32(), R10L)
		SHRQ(Imm(32), out)
		IMUL3Q(U32(100000000), R10, R10)
		ADDQ(R10, out)
	}
	run(Mem{Base: RSI, Index: R14, Scale: 1, Disp: -16}, RCX, RAX)
	run(Mem{Base: RSI, Index: R9, Scale: 1, Disp: -16}, RDX, RCX)
	IMULQ(Mem{Base: RDI, Index: RDX, Scale: 8, Disp: kPow10}, RAX)
	ADDQ(RCX, RAX)

	Comment("Out: the mantissa, and meta with the fraction's digits; on to the next field, or line.")
	SHLQ(Imm(8), RDX)
	ORQ(RDX, R13)
	MOVQ(RAX, Mem{Base: R8})
	MOVQ(R13, Mem{Base: R8, Disp: 8})
	ADDQ(Imm(16), R8)
	INCQ(R12)
	CMPQ(R12, fieldsEnd)
	JNE(LabelRef("field"))
	INCQ(count)
	MOVQ(lineEnd, RAX)
	LEAQ(Mem{Base: RSI, Index: RAX, Scale: 1, Disp: 1}, RSI)
	JMP(LabelRef("line"))

	Label("reject") // a line not taken: what it wrote in out lies past the lines counted
	Label("done")
	VZEROUPPER()
	MOVQ(count, RAX)
	Store(RAX, ReturnIndex(0))
	RET()
}
