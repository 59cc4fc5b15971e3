// Package redisserver runs a throwaway redis-server: on a free loopback
// port, with persistence off, until Stop. It does not import testing, so
// programs (the bench report) may link it; tests use redistest.Start,
// which is built on it.
package redisserver

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/pishm/pishm/internal/syncbuf"
)

// ErrNotInstalled is returned by NewServer when redis-server is not on PATH.
var ErrNotInstalled = errors.New("redisserver: redis-server not found on PATH (install it: apt-get install redis-server)")

// Server is a running redis-server.
type Server struct {
	// URL is redis://127.0.0.1:PORT/0.
	URL  string
	Addr string

	cmd      *exec.Cmd
	bin      string
	port     int
	args     []string
	dir      string
	out      *syncbuf.Buffer
	exited   chan struct{}
	stopOnce sync.Once
	stopErr  error
}

// startTimeout bounds how long NewServer waits for the first PONG.
const startTimeout = 10 * time.Second

// NewServer starts redis-server on a free loopback port and waits until it
// answers PING. The caller must call Stop. args are more redis-server
// options, after the defaults, so they override them: "--appendonly",
// "yes" makes a server whose data survive Restart.
func NewServer(args ...string) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNotInstalled
	}
	// The port is free when we ask; another process may take it before
	// redis binds, so try a few times.
	var errs []error
	for range 3 {
		s, err := start(bin, args)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func start(bin string, args []string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("redisserver: %w", err)
	}
	dir, err := os.MkdirTemp("", "redisserver-*")
	if err != nil {
		return nil, fmt.Errorf("redisserver: %w", err)
	}
	s := &Server{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		bin:  bin, port: port, args: args,
		dir: dir,
		out: &syncbuf.Buffer{Limit: 1 << 16},
	}
	s.URL = "redis://" + s.Addr + "/0"
	if err := s.launch(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// launch starts the process and waits for its first PONG.
func (s *Server) launch() error {
	s.exited = make(chan struct{})
	s.cmd = exec.Command(s.bin, append([]string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--dir", s.dir}, s.args...)...)
	s.cmd.Stdout = s.out
	s.cmd.Stderr = s.out
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("redisserver: %w", err)
	}
	go func(cmd *exec.Cmd, exited chan struct{}) { cmd.Wait(); close(exited) }(s.cmd, s.exited)
	if err := s.waitPing(); err != nil {
		s.terminate()
		return fmt.Errorf("redisserver: redis-server on %s: %w\n%s", s.Addr, err, s.out.String())
	}
	return nil
}

// terminate sends SIGTERM and waits, killing the server after 5 s; it
// reports whether SIGTERM sufficed.
func (s *Server) terminate() bool {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return true
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
		return false
	}
}

// Restart stops the server as Stop does (SIGTERM: a server with
// --appendonly yes writes its data out first) and starts it again on the
// same port, directory and options, waiting for its first PONG. Without
// persistence it comes back empty, as a real restart would.
func (s *Server) Restart() error {
	if !s.terminate() {
		return fmt.Errorf("redisserver: redis-server on %s ignored SIGTERM; killed", s.Addr)
	}
	return s.launch()
}

func (s *Server) waitPing() error {
	deadline := time.Now().Add(startTimeout)
	for {
		err := ping(s.Addr)
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("exited before answering PING: %v", s.cmd.ProcessState)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PONG within %v: %w", startTimeout, err)
		}
	}
}

func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Stop sends SIGTERM, waits (SIGKILL after 5s) and removes the server's
// directory. It is idempotent.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if !s.terminate() {
			s.stopErr = fmt.Errorf("redisserver: redis-server on %s ignored SIGTERM; killed", s.Addr)
		}
		if err := os.RemoveAll(s.dir); err != nil && s.stopErr == nil {
			s.stopErr = fmt.Errorf("redisserver: %w", err)
		}
	})
	return s.stopErr
}
