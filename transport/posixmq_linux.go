package transport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// posixmqBackend: one POSIX message queue, created O_EXCL with mode 0600
// under an unpredictable name that names its creator (pishm-PID-START-RANDOM,
// listed in a manifest first; see GC), holding records of exactly
// MessageSize bytes: its mq_msgsize, which an unprivileged process may ask
// for up to /proc/sys/fs/mqueue/msgsize_max (8192 by default, far above
// MessageSize). Its depth is capped by /proc/sys/fs/mqueue/msg_max (10 by
// default) and by mqMaxDepth, so with more workers the senders block until
// the receiver drains. Close wakes the receiver with an empty message,
// closes the descriptor and unlinks the name.
type posixmqBackend struct {
	c        *Core
	name     string // without the leading '/': the raw syscall wants it so
	manifest string
	fd       int
}

// mqAttr is struct mq_attr (all fields C long).
type mqAttr struct {
	Flags   int
	Maxmsg  int
	Msgsize int
	Curmsgs int
	_       [4]int
}

// mqPoll bounds one blocking receive or send, so that a lost wake-up or a
// cancelled context is noticed.
const mqPoll = time.Second

func mqOpen(name string, flag int, mode uint32, attr *mqAttr) (int, error) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return -1, err
	}
	fd, _, errno := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(p)), uintptr(flag),
		uintptr(mode), uintptr(unsafe.Pointer(attr)), 0, 0)
	if errno != 0 {
		return -1, &os.PathError{Op: "mq_open", Path: "/" + name, Err: errno}
	}
	return int(fd), nil
}

func mqUnlink(name string) error {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return err
	}
	if _, _, errno := unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(p)), 0, 0); errno != 0 {
		return &os.PathError{Op: "mq_unlink", Path: "/" + name, Err: errno}
	}
	return nil
}

// mqTimedsend sends msg with priority 0, waiting until the absolute
// CLOCK_REALTIME deadline at most. It returns the raw errno.
func mqTimedsend(fd int, msg []byte, deadline time.Time) error {
	ts := unix.NsecToTimespec(deadline.UnixNano())
	var p unsafe.Pointer
	if len(msg) > 0 {
		p = unsafe.Pointer(&msg[0])
	}
	_, _, errno := unix.Syscall6(unix.SYS_MQ_TIMEDSEND, uintptr(fd), uintptr(p), uintptr(len(msg)), 0,
		uintptr(unsafe.Pointer(&ts)), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// mqTimedreceive receives one message into buf (at least mq_msgsize bytes)
// and returns its length. It returns the raw errno.
func mqTimedreceive(fd int, buf []byte, deadline time.Time) (int, error) {
	ts := unix.NsecToTimespec(deadline.UnixNano())
	n, _, errno := unix.Syscall6(unix.SYS_MQ_TIMEDRECEIVE, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])),
		uintptr(len(buf)), 0, uintptr(unsafe.Pointer(&ts)), 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// sysctl returns the integer in the /proc/sys file path, or def when it
// cannot be read (no /proc, or not an integer).
func sysctl(path string, def int) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return def
	}
	return n
}

// Limits on POSIX queues: the default depth cap and the largest message
// an unprivileged process may ask for.
const (
	mqMsgMaxPath     = "/proc/sys/fs/mqueue/msg_max"
	mqMsgsizeMaxPath = "/proc/sys/fs/mqueue/msgsize_max"
)

// mqMaxDepth caps a queue's depth where an administrator raised msg_max:
// a queue's messages count against the creator's RLIMIT_MSGQUEUE (819200
// bytes by default), and this many records with the kernel's per-message
// overhead stay far below it, while a deeper queue would not be faster
// (the receiver drains it as the workers send).
const mqMaxDepth = 256

// mqMsgMax returns /proc/sys/fs/mqueue/msg_max, or the kernel default 10.
func mqMsgMax() int {
	if n := sysctl(mqMsgMaxPath, 10); n >= 1 {
		return n
	}
	return 10
}

func newPosixMQBackend(_ context.Context, c *Core, _ Options) (Backend, error) {
	// Under NAME_MAX (255) and without '/', as mq_open wants.
	b := &posixmqBackend{c: c, name: MQPrefix + creatorOrZero() + "-" + randomHex(12)}
	var err error
	if b.manifest, err = writeManifest(resPosixMQ, b.name); err != nil {
		return nil, err
	}
	attr := mqAttr{Maxmsg: min(c.workers, mqMsgMax(), mqMaxDepth), Msgsize: MessageSize}
	fd, err := mqOpen(b.name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600, &attr)
	if err != nil {
		removeManifest(b.manifest)
		// An unprivileged mq_open fails with EINVAL when mq_msgsize is over
		// msgsize_max (8192 by default; an administrator may lower it to 128).
		if limit := sysctl(mqMsgsizeMaxPath, -1); errors.Is(err, unix.EINVAL) && limit >= 0 && MessageSize > limit {
			return nil, fmt.Errorf("%w: a record is %d bytes, over %s = %d", err, MessageSize, mqMsgsizeMaxPath, limit)
		}
		return nil, err
	}
	b.fd = fd
	c.GoRecv(b.recv)
	return b, nil
}

func (b *posixmqBackend) recv() {
	buf := make([]byte, MessageSize)
	for !b.c.IsClosed() {
		n, err := mqTimedreceive(b.fd, buf, time.Now().Add(mqPoll))
		if b.c.IsClosed() {
			return
		}
		switch err {
		case nil:
			b.c.Deliver(-1, buf[:n])
		case unix.ETIMEDOUT, unix.EINTR:
		default:
			b.c.Fail(os.NewSyscallError("mq_timedreceive", err))
			return
		}
	}
}

func (b *posixmqBackend) Child(int) ([]string, []*os.File, error) {
	return []string{EnvAddr + "=" + b.name}, nil, nil
}

func (b *posixmqBackend) Started(int) {}
func (b *posixmqBackend) Exited(int)  {}

// Retry: a shared channel needs nothing new for a fresh process.
func (b *posixmqBackend) Retry(int) {}

// Shutdown wakes the receiver with an empty message. If the queue is full
// the send fails at once (its deadline has passed), but then the receiver
// is not blocked either.
func (b *posixmqBackend) Shutdown() error {
	mqTimedsend(b.fd, nil, time.Now())
	return nil
}

func (b *posixmqBackend) Remove() error {
	err := unix.Close(b.fd)
	if err != nil {
		err = os.NewSyscallError("close", err)
	}
	if uerr := mqUnlink(b.name); uerr != nil && !errors.Is(uerr, unix.ENOENT) {
		return uerr // the manifest stays, for GC
	}
	return errors.Join(err, removeManifest(b.manifest))
}

func sendPosixMQ(ctx context.Context, e ChildEnv, rec []byte) error {
	if e.Addr == "" || strings.Contains(e.Addr, "/") {
		return fmt.Errorf("%s=%q is not a queue name without '/'", EnvAddr, e.Addr)
	}
	fd, err := mqOpen(e.Addr, unix.O_WRONLY|unix.O_CLOEXEC, 0, nil)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for {
		deadline := time.Now().Add(mqPoll)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		switch err := mqTimedsend(fd, rec, deadline); err {
		case nil:
			return nil
		case unix.ETIMEDOUT, unix.EINTR:
			if err := ctx.Err(); err != nil {
				return err
			}
		default:
			return os.NewSyscallError("mq_timedsend", err)
		}
	}
}
