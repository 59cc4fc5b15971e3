package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// lines emits a line reader, name (plainLines, plainLines128, blankLines,
// blankLines128), with a window of 64*words bytes: the plain lines from
// data[at:] on, each read in one step from the window of
// 64*words bytes that starts it, as Plain reads them one byte or call at
// a time, and leaves a window that holds a '"' to Plain: the window's
// masks of '\n', separators and digits find the line's end, each field's
// start and its number's runs, and the runs' values come as in
// decimalDigits. It stops at the first line it does not take (Plain
// reads it), at a window past the data, or when out has no room for
// another line's fields. With blank, the fields are the line's words,
// between runs of blanks (' ', '\t', '\r'), as Record reads them where
// the separator is Blank (sep is then not read).
func lines(name string, words int, blank bool) {
	TEXT(name, NOSPLIT, "func(data []byte, at int, fields []byte, sep byte, k *[368]byte, out [][2]uint64) (lines int)")
	Doc(name + " reads the plain lines of data from at on: see lines_amd64.go.")
	nonDigits := AllocLocal(8 * words) // the window's non-digit bytes, a word each 64
	lineEnd := AllocLocal(8)           // L, the offset of the line's '\n'
	cur := AllocLocal(8)               // the field the separators passed so far lead to
	fieldsEnd := AllocLocal(8)
	count := AllocLocal(8)   // lines read
	sepHi := AllocLocal(8)   // words 2: the separators (word starts) of the window's second 64 bytes, until BX takes them
	sepBase := AllocLocal(8) // words 2: the offset of BX's bit 0: 0, then 64
	width := 64 * words
	label := func(s string) string { return fmt.Sprintf("%s%d", s, words) }

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

	Comment("Broadcasts: the separator (blanks: ' ', '\\t', '\\r'), '\\n', '0', 9 and '\"'.")
	type broadcast struct {
		x   VecPhysical
		y   VecPhysical
		val Op
	}
	bs := []broadcast{{X15, Y15, nil}, {X14, Y14, U32('\n')}, {X13, Y13, U32('0')}, {X12, Y12, U32(9)}, {X11, Y11, U32('"')}}
	if blank {
		bs = append(bs[1:], broadcast{X15, Y15, U32(' ')}, broadcast{X10, Y10, U32('\t')}, broadcast{X9, Y9, U32('\r')})
	}
	for _, b := range bs {
		if b.val == nil {
			Load(Param("sep"), RAX)
		} else {
			MOVQ(b.val, RAX)
		}
		VMOVQ(RAX, b.x)
		VPBROADCASTB(b.x, b.y)
	}
	win := []VecPhysical{Y0, Y1, Y2, Y3}[:2*words] // the window, 32 bytes a register
	t0, t1 := Y4, Y5

	Label(label("line"))
	CMPQ(R8, R11)
	JA(LabelRef(label("done")))
	LEAQ(Mem{Base: RSI, Disp: width}, RAX)
	CMPQ(RAX, R15)
	JA(LabelRef(label("done")))
	for i, y := range win {
		VMOVDQU(Mem{Base: RSI, Disp: 32 * i}, y)
	}

	Comment("No '\"' in the window: a line with one is not plain.")
	VPCMPEQB(win[0], Y11, t0)
	for _, y := range win[1:] {
		VPCMPEQB(y, Y11, t1)
		VPOR(t0, t1, t0)
	}
	VPTEST(t0, t0)
	JNZ(LabelRef(label("done")))

	// mask sets r to the 64-bit mask of the bytes of word w of the window
	// equal to y's, with tmp.
	mask := func(y VecPhysical, w int, r, tmp GPPhysical) {
		VPCMPEQB(win[2*w], y, t0)
		VPMOVMSKB(t0, r.As32())
		VPCMPEQB(win[2*w+1], y, t1)
		VPMOVMSKB(t1, tmp.As32())
		SHLQ(Imm(32), tmp)
		ORQ(tmp, r)
	}
	Comment("L: the line's '\\n' in the window.")
	mask(Y14, 0, RAX, RCX)
	TZCNTQ(RAX, RAX)
	if words == 2 {
		JCC(LabelRef(label("haveL"))) // a '\n' in the first 64 bytes
		mask(Y14, 1, RBX, RCX)
		TZCNTQ(RBX, RBX)
		ADDQ(RBX, RAX)
		Label(label("haveL"))
	}
	CMPQ(RAX, U32(width))
	JAE(LabelRef(label("done")))
	MOVQ(RAX, lineEnd)

	Comment("The non-digits of the window (L among them): b-'0' > 9 unsigned.")
	for w := range words {
		VPSUBB(Y13, win[2*w], t0)
		VPMINUB(Y12, t0, t1)
		VPCMPEQB(t0, t1, t1)
		VPMOVMSKB(t1, EAX)
		VPSUBB(Y13, win[2*w+1], t0)
		VPMINUB(Y12, t0, Y6)
		VPCMPEQB(t0, Y6, Y6)
		VPMOVMSKB(Y6, ECX)
		SHLQ(Imm(32), RCX)
		ORQ(RCX, RAX)
		NOTQ(RAX)
		MOVQ(RAX, nonDigits.Offset(8*w))
	}

	if !blank {
		Comment("BX: the separators not yet passed; DX: the field's start.")
		mask(Y15, 0, RBX, RCX)
		if words == 2 {
			mask(Y15, 1, RAX, RCX)
			MOVQ(RAX, sepHi)
		}
	} else {
		// blanks sets r to the mask of the blanks of word w, with tmp.
		blanks := func(w int, r, tmp GPPhysical) {
			for h, dst := range []GPPhysical{r, tmp} {
				y := win[2*w+h]
				VPCMPEQB(y, Y15, t0)
				VPCMPEQB(y, Y10, t1)
				VPOR(t0, t1, t0)
				VPCMPEQB(y, Y9, t1)
				VPOR(t0, t1, t0)
				VPMOVMSKB(t0, dst.As32())
			}
			SHLQ(Imm(32), tmp)
			ORQ(tmp, r)
		}
		Comment("BX: the starts of words not yet passed (a non-blank after a blank, or first); DX: the field's start.")
		blanks(0, RAX, RCX)
		LEAQ(Mem{Base: RAX, Index: RAX, Scale: 1, Disp: 1}, RCX) // blanks<<1 | 1
		ANDNQ(RCX, RAX, RBX)
		if words == 2 {
			blanks(1, R9, RCX)
			SHRQ(Imm(63), RAX) // the first word's last blank
			LEAQ(Mem{Base: RAX, Index: R9, Scale: 2}, RCX)
			ANDNQ(RCX, R9, RAX)
			MOVQ(RAX, sepHi)
		}
	}
	if words == 2 {
		MOVQ(U32(0), sepBase)
	}
	XORQ(RDX, RDX)
	MOVQ(RDX, cur)
	Load(Param("fields").Base(), R12)

	Label(label("field"))
	Comment("Pass separators up to the field's start, each before L.")
	MOVBQZX(Mem{Base: R12}, RAX)
	if blank {
		INCQ(RAX) // word j starts at the (j+1)-th start
	}
	Label(label("pass"))
	CMPQ(cur, RAX)
	JAE(LabelRef(label("at")))
	TZCNTQ(RBX, RCX)
	if words == 2 {
		JCC(LabelRef(label("popped")))
		Comment("None left in BX: on to the second 64 bytes' (none there either: CX stays 64, past L).")
		CMPQ(sepBase, U8(0))
		JNE(LabelRef(label("popped")))
		MOVQ(sepHi, RBX)
		MOVQ(U32(64), sepBase)
		JMP(LabelRef(label("pass")))
		Label(label("popped"))
		ADDQ(sepBase, RCX)
	}
	CMPQ(RCX, lineEnd)
	JAE(LabelRef(label("reject")))
	BLSRQ(RBX, RBX)
	if blank {
		MOVQ(RCX, RDX)
	} else {
		LEAQ(Mem{Base: RCX, Disp: 1}, RDX)
	}
	INCQ(cur)
	JMP(LabelRef(label("pass")))
	Label(label("at"))

	Comment("meta: the line's length and the field's start; a sign: neg, and the digits start past it.")
	MOVQ(RDX, R13)
	SHLQ(Imm(24), R13)
	MOVQ(lineEnd, RAX)
	LEAQ(Mem{Base: R13, Index: RAX, Scale: 1, Disp: 1}, R13)
	MOVBQZX(Mem{Base: RSI, Index: RDX, Scale: 1}, RAX)
	CMPB(AL, U8('-'))
	JNE(LabelRef(label("notminus")))
	BTSQ(Imm(16), R13)
	INCQ(RDX)
	JMP(LabelRef(label("signed")))
	Label(label("notminus"))
	CMPB(AL, U8('+'))
	JNE(LabelRef(label("signed")))
	INCQ(RDX)
	Label(label("signed"))

	// digitsAt sets out to the count of digits from offset at on, with
	// tmp: the first set bit of the non-digits from there. With two words,
	// only counts up to 16 matter (more is refused): at < 64 takes the
	// first word's bits shifted down and the second's shifted up into
	// the top (by 64-at, as two shifts, so that at 0 gives none).
	n := 0
	digitsAt := func(at, out, tmp GPPhysical) {
		if words == 1 {
			SHRXQ(at, nonDigits, out)
			TZCNTQ(out, out)
			return
		}
		n++
		hi, done := fmt.Sprintf("digitshi%d", n), fmt.Sprintf("digitsdone%d", n)
		CMPQ(at, U8(64))
		JAE(LabelRef(hi))
		SHRXQ(at, nonDigits, out)
		MOVQ(U32(63), tmp)
		SUBQ(at, tmp)
		SHLXQ(tmp, nonDigits.Offset(8), tmp)
		SHLQ(Imm(1), tmp)
		ORQ(tmp, out)
		TZCNTQ(out, out)
		JMP(LabelRef(done))
		Label(hi)
		LEAQ(Mem{Base: at, Disp: -64}, tmp)
		SHRXQ(tmp, nonDigits.Offset(8), out)
		TZCNTQ(out, out)
		Label(done)
	}
	Comment("ints: the digits from there; R14: their end; a '.' there: fracs (DX) after it; R9: the number's end.")
	digitsAt(RDX, RCX, RAX)
	LEAQ(Mem{Base: RDX, Index: RCX, Scale: 1}, R14)
	XORQ(RDX, RDX)
	MOVQ(R14, R9)
	CMPB(Mem{Base: RSI, Index: R14, Scale: 1}, U8('.'))
	JNE(LabelRef(label("nodot")))
	LEAQ(Mem{Base: R14, Disp: 1}, R9)
	digitsAt(R9, RDX, RAX)
	ADDQ(RDX, R9)
	Label(label("nodot"))

	// run sets out to the value of the count (0 to 16) digits that end
	// at end+16, from the 16 bytes there as in decimalDigits, with the
	// scratch register R10: count is read before out is written.
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

	Comment("At most 16 integer digits and 19 in all, at least one.")
	CMPQ(RCX, U8(16))
	JA(LabelRef(label("reject")))
	LEAQ(Mem{Base: RCX, Index: RDX, Scale: 1, Disp: -1}, RAX)
	CMPQ(RAX, U8(18))
	JA(LabelRef(label("reject")))

	Comment("An exponent: 'e' or 'E', a sign, one to three digits; its value to meta's bits 32-47 (R13 bit 17: negative, meanwhile). R9: its end.")
	MOVBQZX(Mem{Base: RSI, Index: R9, Scale: 1}, RAX)
	ORB(U8(0x20), AL)
	CMPB(AL, U8('e'))
	JNE(LabelRef(label("noexp")))
	INCQ(R9)
	MOVBQZX(Mem{Base: RSI, Index: R9, Scale: 1}, RAX)
	CMPB(AL, U8('+'))
	JE(LabelRef(label("expsign")))
	CMPB(AL, U8('-'))
	JNE(LabelRef(label("expdigits")))
	BTSQ(Imm(17), R13)
	Label(label("expsign"))
	INCQ(R9)
	Label(label("expdigits"))
	digitsAt(R9, RAX, R10)
	LEAQ(Mem{Base: RAX, Disp: -1}, R10)
	CMPQ(R10, U8(2))
	JA(LabelRef(label("reject")))
	ADDQ(RAX, R9)
	run(Mem{Base: RSI, Index: R9, Scale: 1, Disp: -16}, RAX, RAX)
	BTRQ(Imm(17), R13)
	JCC(LabelRef(label("exppos")))
	NEGQ(RAX)
	Label(label("exppos"))
	MOVWQZX(AX, RAX)
	SHLQ(Imm(32), RAX)
	ORQ(RAX, R13)
	Label(label("noexp"))

	if blank {
		Comment("The number fills the word: a blank or L follows it.")
		CMPQ(R9, lineEnd)
		JE(LabelRef(label("ends")))
		MOVBQZX(Mem{Base: RSI, Index: R9, Scale: 1}, RAX)
		for _, c := range []byte{' ', '\t', '\r'} {
			CMPB(AL, U8(c))
			JE(LabelRef(label("ends")))
		}
		JMP(LabelRef(label("reject")))
	} else {
		Comment("The number fills the field: a separator follows it, or, after the last field read, L or '\\r' before L.")
		MOVBQZX(Mem{Base: RSI, Index: R9, Scale: 1}, RAX)
		Load(Param("sep"), R10)
		CMPB(AL, R10B)
		JE(LabelRef(label("ends")))
		LEAQ(Mem{Base: R12, Disp: 1}, R10)
		CMPQ(R10, fieldsEnd)
		JNE(LabelRef(label("reject")))
		CMPQ(R9, lineEnd)
		JE(LabelRef(label("ends")))
		CMPB(AL, U8('\r'))
		JNE(LabelRef(label("reject")))
		LEAQ(Mem{Base: R9, Disp: 1}, RAX)
		CMPQ(RAX, lineEnd)
		JNE(LabelRef(label("reject")))
	}
	Label(label("ends"))

	Comment("The runs' values: the integer digits end at R14, the fraction's at R14+1+fracs (none: no value); over 16 of them, in two runs.")
	run(Mem{Base: RSI, Index: R14, Scale: 1, Disp: -16}, RCX, RAX)
	LEAQ(Mem{Base: R14, Index: RDX, Scale: 1, Disp: 1}, R9)
	CMPQ(RDX, U8(16))
	JA(LabelRef(label("longfrac")))
	run(Mem{Base: RSI, Index: R9, Scale: 1, Disp: -16}, RDX, RCX)
	JMP(LabelRef(label("fracdone")))
	Label(label("longfrac"))
	LEAQ(Mem{Base: RDX, Disp: -16}, R14)
	run(Mem{Base: RSI, Index: R9, Scale: 1, Disp: -32}, R14, R14)
	MOVQ(U32(16), RCX)
	run(Mem{Base: RSI, Index: R9, Scale: 1, Disp: -16}, RCX, RCX)
	IMULQ(Mem{Base: RDI, Disp: kPow10 + 8*16}, R14)
	ADDQ(R14, RCX)
	Label(label("fracdone"))
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
	JNE(LabelRef(label("field")))
	INCQ(count)
	MOVQ(lineEnd, RAX)
	LEAQ(Mem{Base: RSI, Index: RAX, Scale: 1, Disp: 1}, RSI)
	JMP(LabelRef(label("line")))

	Label(label("reject")) // a line not taken: what it wrote in out lies past the lines counted
	Label(label("done"))
	VZEROUPPER()
	MOVQ(count, RAX)
	Store(RAX, ReturnIndex(0))
	RET()
}
