package transport

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"sync"
)

// Message is one worker's result: the compensated partial sum of the range
// [Lo, Hi) it was given, and how long that took. It travels as a fixed-size
// binary record (see MessageSize), so Partial arrives bit for bit.
type Message struct {
	Worker    uint32
	Lo, Hi    uint64 // the range [Lo, Hi) that was summed
	ElapsedNs int64
	Partial   float64
}

// MessageSize is the length in bytes of every encoded Message. The record is
// little-endian:
//
//	off size field
//	  0   4  magic "pshm" (0x6d687370)
//	  4   2  version (1)
//	  6   2  size (48)
//	  8   4  Worker
//	 12   4  CRC-32C of the record with this field zeroed
//	 16   8  Lo
//	 24   8  Hi
//	 32   8  ElapsedNs
//	 40   8  math.Float64bits(Partial)
//
// It is below PIPE_BUF (4096 on Linux), so a single write of one record to a
// pipe or FIFO is atomic.
const MessageSize = 48

const (
	recordMagic   = 0x6d687370 // "pshm" in little-endian byte order
	recordVersion = 1
	offCRC        = 12
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
	return Message{
		Worker:    le.Uint32(r[8:]),
		Lo:        le.Uint64(r[16:]),
		Hi:        le.Uint64(r[24:]),
		ElapsedNs: int64(le.Uint64(r[32:])),
		Partial:   math.Float64frombits(le.Uint64(r[40:])),
	}, nil
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
