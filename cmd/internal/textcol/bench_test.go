package textcol

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
)

// benchCSV is 1e5 rows shaped like the file: id, price, temp,
// written with %.17g.
func benchCSV() []byte {
	r := rand.New(rand.NewPCG(1, 1))
	var b []byte
	for i := range 100_000 {
		b = fmt.Appendf(b, "%d,%.17g,%.17g\n", i, r.Float64()*66.2, 20+5*r.NormFloat64())
	}
	return b
}

var sinkF float64

func BenchmarkParse(b *testing.B) {
	data := benchCSV()
	if p := os.Getenv("TEXTCOL_BENCH_FILE"); p != "" {
		data, _ = os.ReadFile(p)
	}
	for _, quotes := range []bool{false, true} {
		b.Run(fmt.Sprintf("col=price/quotecheck=%v", quotes), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			p := NewParser(',', []int{1})
			for b.Loop() {
				d := data
				for len(d) > 0 {
					n, _, _, _ := p.Record(d, true, quotes)
					sinkF += p.Values[0]
					d = d[n:]
				}
			}
		})
	}
	b.Run("col=price/plain", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		p := NewParser(',', []int{1})
		dst := [][]float64{make([]float64, 1<<14)}
		for b.Loop() {
			d := data
			for len(d) > 0 {
				n, k := p.Plain(d, dst, 0, len(dst[0]))
				if k == 0 {
					n, _, _, _ = p.Record(d, true, false)
				}
				sinkF += dst[0][0]
				d = d[n:]
			}
		}
	})
	b.Run("index", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			sinkF += float64(Index(data).Newlines[0])
		}
	})
	b.Run("field", func(b *testing.B) {
		line := []byte("33.095451725862591,20.5\n") // a field inside its line, as the parse sees it
		f := line[:18]
		for b.Loop() {
			x, _ := Field(f)
			sinkF += x
		}
	})
}
