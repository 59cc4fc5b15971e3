//go:build amd64 && gc && !purego && !noasm

package stats

//go:generate go -C _asm run . -out ../extract_amd64.s

import "github.com/klauspost/cpuid/v2"

// haveExtract8 says extract8 may run: the CPU (and the OS) have AVX-512F.
var haveExtract8 = cpuid.CPU.Supports(cpuid.AVX512F)

//go:noescape
func extract8(xs *float64, n int, s1, s2 float64, l *lanes)

//go:noescape
func dev8(xs *float64, n int, k *devConsts, l *lanes, idx *int32)

//go:noescape
func extract8f32(xs *float32, n int, s1, s2 float64, l *lanes)

//go:noescape
func dev8f32(xs *float32, n int, k *devConsts, l *lanes, idx *int32)

//go:noescape
func dev8count(xs *float64, n int, k *devConsts, l *lanes, idx *int32, c *binCounts)

//go:noescape
func dev8countf32(xs *float32, n int, k *devConsts, l *lanes, idx *int32, c *binCounts)

//go:noescape
func dev8count64(xs *float64, n int, k *devConsts, l *lanes, idx *int32, c *binCounts)

//go:noescape
func dev8count64f32(xs *float32, n int, k *devConsts, l *lanes, idx *int32, c *binCounts)
