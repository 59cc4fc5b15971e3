//go:build !linux

package shmem

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"
)

// Segment is one attached mapping; on this system none can be made.
type Segment struct{}

// ErrUnsupported: pishm's segments (O_TMPFILE on tmpfs, fallocate,
// inherited descriptors) are Linux's.
var ErrUnsupported = fmt.Errorf("shmem: %w on %s (pishm runs on Linux)", errors.ErrUnsupported, runtime.GOOS)

// Create fails on this system.
func Create(Options) (*Segment, error) { return nil, ErrUnsupported }

// OpenFile fails on this system.
func OpenFile(f *os.File, _ Backing) (*Segment, error) { f.Close(); return nil, ErrUnsupported }

func (s *Segment) File() *os.File                  { return nil }
func (s *Segment) Backing() Backing                { return "" }
func (s *Segment) Name() string                    { return "" }
func (s *Segment) Header() *Header                 { return nil }
func (s *Segment) Block(int) unsafe.Pointer        { panic(ErrUnsupported) }
func (s *Segment) Tail() []byte                    { return nil }
func (s *Segment) Close() error                    { return nil }
func (s *Segment) Remove() error                   { return nil }
func GC() ([]string, error)                        { return nil, nil }
func FreeBytes(string) (uint64, error)             { return 0, ErrUnsupported }
func MapFile(string) ([]byte, func() error, error) { return nil, nil, ErrUnsupported }
