//go:build !linux || !amd64 || !gc || purego || noasm

package engine

// Forked workers need the linux/amd64 assembly of the kernel package.
const forkSupported = false

var forkKernels []string

const forkMaxPieces = 1 // never consulted: forkSupported is false

type forkSpawn struct{}

func newForkSpawn(config, job) (*forkSpawn, error) {
	return nil, configErr("Spawn", " fork is not supported in this build")
}

func (*forkSpawn) close() error                  { return nil }
func (*forkSpawn) settle(*crew, int, *callState) {}
func (c *crew) startForks(int, ...int) error {
	return configErr("Spawn", " fork is not supported in this build")
}
