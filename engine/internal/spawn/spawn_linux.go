package spawn

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// forkExec starts exe as a worker that the kernel kills when the thread
// that started it exits (see spawner).
func forkExec(exe string, argv, env []string, files []uintptr) (int, error) {
	return syscall.ForkExec(exe, argv, &syscall.ProcAttr{
		Env: env, Files: files,
		Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	})
}

// memfd makes an anonymous in-memory file.
func memfd(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

func gettid() int { return unix.Gettid() }
