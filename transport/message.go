package transport

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"sync"

	"github.com/pishm/pishm/internal/superacc"
)

// Message is one worker's result, or one element of it: the exact sum of
// the range [Lo, Hi) it was given, and how long that took. A worker of a
// k-wide reduction sends k messages, Elem 0 to k-1, each with Elems = k. It travels as a fixed-size binary
// record (see MessageSize), so Sum and Partial arrive bit for bit.
//
// Sum is the exact accumulator of the worker's share (for a Sum
// reduction; empty for Min and Max): the parent merges the messages' Sums
// and rounds once. Partial is the worker's own result as one float64: Sum
// rounded once for a Sum reduction, the extreme value for Min and Max.
type Message struct {
	Worker    uint32
	Lo, Hi    uint64 // the range [Lo, Hi) that was summed
	ElapsedNs int64
	Partial   float64
	Sum       superacc.Acc
	// Elem is the element this message carries, of Elems (0 means 1).
	Elem, Elems uint32
}

// MessageSize is the length in bytes of every encoded Message. The record is
// little-endian:
//
//	off size field
//	  0   4  magic "pshm" (0x6d687370)
//	  4   2  version (3)
//	  6   2  size (368)
//	  8   4  Worker
//	 12   4  CRC-32C of the record with this field zeroed
//	 16   8  Lo
//	 24   8  Hi
//	 32   8  ElapsedNs
//	 40   8  math.Float64bits(Partial)
//	 48   4  Elem
//	 52   4  Elems (at least 1)
//	 56 312  Sum in superacc's binary form (Acc.AppendBinary), normalized:
//	 56 264    limbs 0..65: 66 uint32 digits, least significant first
//	320   8    limb 66, the signed rest (int64)
//	328   8    number of NaN inputs
//	336   8    number of +Inf inputs
//	344   8    number of -Inf inputs
//	352   8    number of finite inputs with the sign bit clear
//	360   8    number of finite inputs with the sign bit set
//
// Version 1 was the first 48 bytes alone (no Sum), version 2 had no Elem
// and Elems; Decode refuses both.
//
// It is below PIPE_BUF (4096 on Linux), so a single write of one record to a
// pipe or FIFO is atomic, and far below the default limits on one message
// of a POSIX queue (fs.mqueue.msgsize_max, 8192) and a System V queue
// (kernel.msgmax, 8192).
const MessageSize = headerSize + superacc.BinarySize

const (
	recordMagic   = 0x6d687370 // "pshm" in little-endian byte order
	recordVersion = 3
	offCRC        = 12
	headerSize    = 56 // the fields before Sum
	offSum        = headerSize
)

// The record must fit a pipe's atomic write, and its size field.
var (
	_ [4096 - MessageSize]struct{}
	_ [1<<16 - 1 - MessageSize]struct{}
)

// castagnoli is made on first use, not at init: every worker process
// links this package, and most never send a message.
var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

// AppendBinary appends the MessageSize-byte record of m to b. It implements
// encoding.BinaryAppender and never fails.
func (m Message) AppendBinary(b []byte) ([]byte, error) {
	var r [MessageSize]byte
	le := binary.LittleEndian
	le.PutUint32(r[0:], recordMagic)
	le.PutUint16(r[4:], recordVersion)
	le.PutUint16(r[6:], MessageSize)
	le.PutUint32(r[8:], m.Worker)
	le.PutUint64(r[16:], m.Lo)
	le.PutUint64(r[24:], m.Hi)
	le.PutUint64(r[32:], uint64(m.ElapsedNs))
	le.PutUint64(r[40:], math.Float64bits(m.Partial))
	le.PutUint32(r[48:], m.Elem)
	le.PutUint32(r[52:], max(m.Elems, 1))
	sum, _ := m.Sum.AppendBinary(make([]byte, 0, superacc.BinarySize))
	copy(r[offSum:], sum)
	le.PutUint32(r[offCRC:], recordCRC(&r))
	return append(b, r[:]...), nil
}

// recordCRC returns the CRC-32C of r with its CRC field taken as zero.
func recordCRC(r *[MessageSize]byte) uint32 {
	c := crc32.Update(0, castagnoli(), r[:offCRC])
	c = crc32.Update(c, castagnoli(), []byte{0, 0, 0, 0})
	return crc32.Update(c, castagnoli(), r[offCRC+4:])
}

// Decode parses one record made by AppendBinary. b must be exactly
// MessageSize bytes. Every failure wraps ErrMalformed; Decode never panics.
func Decode(b []byte) (Message, error) {
	if len(b) != MessageSize {
		return Message{}, fmt.Errorf("transport: record is %d bytes, want %d: %w", len(b), MessageSize, ErrMalformed)
	}
	r := (*[MessageSize]byte)(b)
	le := binary.LittleEndian
	if got := le.Uint32(r[0:]); got != recordMagic {
		return Message{}, fmt.Errorf("transport: bad record magic %#08x, want %#08x: %w", got, recordMagic, ErrMalformed)
	}
	if got := le.Uint16(r[4:]); got != recordVersion {
		return Message{}, fmt.Errorf("transport: record version %d, want %d: %w", got, recordVersion, ErrMalformed)
	}
	if got := le.Uint16(r[6:]); got != MessageSize {
		return Message{}, fmt.Errorf("transport: record size field %d, want %d: %w", got, MessageSize, ErrMalformed)
	}
	if got, want := le.Uint32(r[offCRC:]), recordCRC(r); got != want {
		return Message{}, fmt.Errorf("transport: record checksum %#08x, want %#08x: %w", got, want, ErrMalformed)
	}
	m := Message{
		Worker:    le.Uint32(r[8:]),
		Lo:        le.Uint64(r[16:]),
		Hi:        le.Uint64(r[24:]),
		ElapsedNs: int64(le.Uint64(r[32:])),
		Partial:   math.Float64frombits(le.Uint64(r[40:])),
		Elem:      le.Uint32(r[48:]),
		Elems:     le.Uint32(r[52:]),
	}
	if m.Elems == 0 || m.Elem >= m.Elems {
		return Message{}, fmt.Errorf("transport: record carries element %d of %d: %w", m.Elem, m.Elems, ErrMalformed)
	}
	if err := m.Sum.UnmarshalBinary(r[offSum:]); err != nil { // cannot fail: the length is right
		return Message{}, fmt.Errorf("transport: record's sum: %w: %w", err, ErrMalformed)
	}
	return m, nil
}

// claimedWorker returns the worker index a record claims, when it at least
// has the right length and magic, for error messages about records that
// arrive on a channel shared by all workers.
func claimedWorker(b []byte) (uint32, bool) {
	if len(b) != MessageSize || binary.LittleEndian.Uint32(b) != recordMagic {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b[8:]), true
}
