//go:build !linux

package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

var errUnsupported = errors.New("source: streams and compressed input need Linux (memfd and /proc)")

func procPath(f *os.File) string { return fmt.Sprintf("/dev/fd/%d", f.Fd()) }

func newMemFile(string) (*os.File, error) { return nil, errUnsupported }

func openFIFO(context.Context, string, Options) (*Source, error) { return nil, errUnsupported }

func copyStream(context.Context, string, string, int, time.Duration) (*Source, error) {
	return nil, errUnsupported
}
