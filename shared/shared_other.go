//go:build !linux

package shared

import "errors"

var errUnsupported = errors.New("shared: arrays need Linux (memfd and /proc)")

type sysArray struct{ mem []byte }

func (s *sysArray) close() error { return nil }

func create(int) (sysArray, handle, error) { return sysArray{}, handle{}, errUnsupported }

type registry struct{}

func (registry) add(string, []byte) {}
func (registry) remove(string)      {}

var local registry

func attach(handle) ([]byte, error) { return nil, errUnsupported }
