package knn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCollectMatchesGo checks that collect4L2, collect4L1, next4L2 and
// next4L1 (SSE2 assembly on amd64) select exactly the rows, with the same
// distance bits, that the Go loops select, at
// limits equal to the distances themselves (where one bit decides), on
// random, coarse-grid, huge and tiny coordinates.
func TestCollectMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	gens := []func() float64{
		func() float64 { return rng.Float64() * 10 },
		func() float64 { return float64(rng.IntN(5)) / 2 },
		func() float64 { return (rng.Float64() - 0.5) * 1e300 },
		func() float64 { return (rng.Float64() - 0.5) * 1e-310 },
		func() float64 { return math.Float64frombits(rng.Uint64() &^ (0x7ff << 52)) },
	}
	for round := range 2000 {
		gen := gens[round%len(gens)]
		n := 1 + rng.IntN(smallMax)
		pts := make([]float64, 4*n)
		for i := range pts {
			pts[i] = gen()
		}
		p := []float64{gen(), gen(), gen(), gen()}
		from, to := rng.IntN(n+1), rng.IntN(n+1)
		if from > to {
			from, to = to, from
		}
		r := rng.IntN(n)
		x := (*[4]float64)(pts[4*r:])
		for _, m := range []Metric{Euclidean, Manhattan} {
			limit := l2sq4(x, p[0], p[1], p[2], p[3])
			if m == Manhattan {
				limit = l14(x, p[0], p[1], p[2], p[3])
			}
			if round%7 == 0 {
				limit = math.Inf(1)
			}
			var got, want [smallMax]int32
			c0 := rng.IntN(4)
			var gc, wc int
			if m == Euclidean {
				gc = collect4L2(&got, c0, pts, from, to, p, limit)
				wc = collect4L2Go(&want, c0, pts, from, to, p, limit)
			} else {
				gc = collect4L1(&got, c0, pts, from, to, p, limit)
				wc = collect4L1Go(&want, c0, pts, from, to, p, limit)
			}
			require.Equal(t, wc, gc, "round %d %v", round, m)
			require.Equal(t, want[c0:wc], got[c0:gc], "round %d %v", round, m)
			sub := pts[:4*to]
			var gj, wj int
			var gd, wd float64
			if m == Euclidean {
				gj, gd = next4L2(sub, from, p, limit)
				wj, wd = next4L2Go(sub, from, p, limit)
			} else {
				gj, gd = next4L1(sub, from, p, limit)
				wj, wd = next4L1Go(sub, from, p, limit)
			}
			require.Equal(t, wj, gj, "round %d %v", round, m)
			require.Equal(t, math.Float64bits(wd), math.Float64bits(gd), "round %d %v", round, m)
		}
	}
}
