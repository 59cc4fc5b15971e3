//go:build !linux

package transport

// OSLeftovers: only Linux has kinds with kernel objects outside Options.Dir.
func OSLeftovers(Backend) func() []string { return nil }
