package transport

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sysvmqBackend: one System V message queue from msgget(key,
// IPC_CREAT|IPC_EXCL|0600), its id passed in the environment. A queue has
// no name to say who made it, so the key is random under the magic high
// byte sysvKeyMagic and listed in a manifest before msgget (see GC). A message's mtype is its worker index
// plus one. The receiver blocks in msgrcv; Close removes the queue
// (IPC_RMID), which wakes it with EIDRM.
type sysvmqBackend struct {
	c        *Core
	id       int
	manifest string
	rmErr    error // IPC_RMID's, from Shutdown
}

// sysvKeyMagic is the high byte of every key that pishm gives a System V
// queue ('p'); the low 24 bits are random and never all zero, so no key is
// IPC_PRIVATE.
const sysvKeyMagic = 0x70

// isSysVKey reports whether key is of the shape pishm gives its queues.
func isSysVKey(key int32) bool { return key>>24 == sysvKeyMagic && key&0xffffff != 0 }

func sysvKey() int {
	for {
		var b [3]byte
		rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
		if r := int(b[0])<<16 | int(b[1])<<8 | int(b[2]); r != 0 {
			return sysvKeyMagic<<24 | r
		}
	}
}

// msgNoError is MSG_NOERROR: truncate a longer message instead of failing
// with E2BIG (and leaving it at the head of the queue).
const msgNoError = 0o10000

// msgbuf is struct msgbuf with room for one record and one more byte, so a
// longer message is truncated to a length that Decode rejects.
type msgbuf struct {
	mtype int // C long, > 0
	mtext [MessageSize + 1]byte
}

func msgget(key, flag int) (int, error) {
	id, _, errno := unix.Syscall(unix.SYS_MSGGET, uintptr(key), uintptr(flag), 0)
	if errno != 0 {
		return -1, os.NewSyscallError("msgget", errno)
	}
	return int(id), nil
}

// msgsnd sends the struct msgbuf at m, whose text is size bytes; it
// returns the raw errno.
func msgsnd(id int, m unsafe.Pointer, size, flag int) error {
	if _, _, errno := unix.Syscall6(unix.SYS_MSGSND, uintptr(id), uintptr(m), uintptr(size), uintptr(flag), 0, 0); errno != 0 {
		return errno
	}
	return nil
}

// msgrcv returns the length of the text or the raw errno.
func msgrcv(id int, m *msgbuf, typ, flag int) (int, error) {
	n, _, errno := unix.Syscall6(unix.SYS_MSGRCV, uintptr(id), uintptr(unsafe.Pointer(m)), uintptr(len(m.mtext)), uintptr(typ), uintptr(flag), 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// msgctl with a buffer of buf (nil for IPC_RMID).
func msgctl(id, cmd int, buf unsafe.Pointer) error {
	if _, _, errno := unix.Syscall(unix.SYS_MSGCTL, uintptr(id), uintptr(cmd), uintptr(buf)); errno != 0 {
		return os.NewSyscallError("msgctl", errno)
	}
	return nil
}

// Limits on System V queues in this IPC namespace: the largest message
// msgsnd takes (else EINVAL) and a new queue's capacity in bytes (a
// message larger than that could never be sent). Both default to far
// above MessageSize (8192 and 16384), and no privilege lifts msgmax.
const (
	sysvMsgmaxPath = "/proc/sys/kernel/msgmax"
	sysvMsgmnbPath = "/proc/sys/kernel/msgmnb"
)

// checkSysVLimits fails when a record cannot go through a new queue.
func checkSysVLimits() error {
	for _, p := range []string{sysvMsgmaxPath, sysvMsgmnbPath} {
		if n := sysctl(p, -1); n >= 0 && n < MessageSize {
			return fmt.Errorf("a record is %d bytes, over %s = %d", MessageSize, p, n)
		}
	}
	return nil
}

func newSysVMQBackend(_ context.Context, c *Core, _ Options) (Backend, error) {
	if err := checkSysVLimits(); err != nil {
		return nil, err
	}
	b := &sysvmqBackend{c: c}
	// A key that another queue holds (EEXIST) is dropped for a new one;
	// 16 tries fail only if the 2^24 keys are nearly all taken.
	for try := 0; ; try++ {
		key := sysvKey()
		manifest, err := writeManifest(resSysVMQ, strconv.Itoa(key))
		if err != nil {
			return nil, err
		}
		id, err := msgget(key, unix.IPC_CREAT|unix.IPC_EXCL|0o600)
		if err != nil {
			removeManifest(manifest)
			if errors.Is(err, unix.EEXIST) && try < 16 {
				continue
			}
			return nil, err
		}
		b.id, b.manifest = id, manifest
		break
	}
	c.GoRecv(b.recv)
	return b, nil
}

func (b *sysvmqBackend) recv() {
	var m msgbuf
	for {
		n, err := msgrcv(b.id, &m, 0, msgNoError)
		if b.c.IsClosed() {
			return
		}
		switch err {
		case nil:
			from := -1
			if m.mtype >= 1 && m.mtype <= b.c.workers {
				from = m.mtype - 1
			}
			b.c.Deliver(from, m.mtext[:n])
		case unix.EINTR:
		default: // EIDRM, EINVAL: the queue is gone
			b.c.Fail(os.NewSyscallError("msgrcv", err))
			return
		}
	}
}

func (b *sysvmqBackend) Child(int) ([]string, []*os.File, error) {
	return []string{EnvAddr + "=" + strconv.Itoa(b.id)}, nil, nil
}

func (b *sysvmqBackend) Started(int) {}
func (b *sysvmqBackend) Exited(int)  {}

// Retry: a shared channel needs nothing new for a fresh process.
func (b *sysvmqBackend) Retry(int) {}

func (b *sysvmqBackend) Shutdown() error {
	b.rmErr = msgctl(b.id, unix.IPC_RMID, nil)
	return b.rmErr
}

// Remove deletes the manifest, unless Shutdown could not remove the queue.
func (b *sysvmqBackend) Remove() error {
	if b.rmErr != nil && !errors.Is(b.rmErr, unix.EINVAL) && !errors.Is(b.rmErr, unix.EIDRM) {
		return nil // Shutdown reported it; the manifest stays, for GC
	}
	return removeManifest(b.manifest)
}

func sendSysVMQ(ctx context.Context, e ChildEnv, rec []byte) error {
	id, err := strconv.Atoi(e.Addr)
	if err != nil || id < 0 {
		return fmt.Errorf("%s=%q is not a queue id", EnvAddr, e.Addr)
	}
	// struct msgbuf: a C long mtype (the worker index plus one), then the
	// text; built in longs so that it is aligned.
	const long = int(unsafe.Sizeof(int(0)))
	buf := make([]int, 2+len(rec)/long) // room for the text, never empty
	buf[0] = int(e.Worker) + 1
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&buf[1])), len(rec)), rec)
	// IPC_NOWAIT and a short sleep while the queue is full, so ctx is honoured.
	for wait := 100 * time.Microsecond; ; wait = min(2*wait, 10*time.Millisecond) {
		switch err := msgsnd(id, unsafe.Pointer(&buf[0]), len(rec), unix.IPC_NOWAIT); err {
		case nil:
			return nil
		case unix.EAGAIN, unix.EINTR:
		default:
			return os.NewSyscallError("msgsnd", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}
