//go:build !amd64 || !gc || purego || noasm

package stats

// haveExtract8 is false: there is no extract8 here (a var, so tests may
// set it on amd64 alike).
var haveExtract8 = false

func extract8(xs *float64, n int, s1, s2 float64, l *lanes) { panic("stats: no extract8 here") }

func dev8(xs *float64, n int, k *devConsts, l *lanes, idx *int32) { panic("stats: no dev8 here") }

func extract8f32(xs *float32, n int, s1, s2 float64, l *lanes) { panic("stats: no extract8f32 here") }

func dev8f32(xs *float32, n int, k *devConsts, l *lanes, idx *int32) { panic("stats: no dev8f32 here") }

func dev8count(xs *float64, n int, k *devConsts, l *lanes, idx *int32, c *binCounts) {
	panic("stats: no dev8count here")
}

func dev8countf32(xs *float32, n int, k *devConsts, l *lanes, idx *int32, c *binCounts) {
	panic("stats: no dev8countf32 here")
}

func dev8count64(xs *float64, n int, k *devConsts, l *lanes, idx *int32, c *binCounts) {
	panic("stats: no dev8count64 here")
}

func dev8count64f32(xs *float32, n int, k *devConsts, l *lanes, idx *int32, c *binCounts) {
	panic("stats: no dev8count64f32 here")
}
