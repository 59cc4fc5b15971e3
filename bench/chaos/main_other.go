//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "chaos: runs on linux only (it reads /proc and /dev/shm)")
	os.Exit(1)
}
