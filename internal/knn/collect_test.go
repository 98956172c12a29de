package knn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCollectMatchesGo checks that within4, atMost, next4L2 and next4L1
// (SSE2 assembly on amd64) select exactly the rows, with the same distance
// bits (and minimums), that the Go loops select, at limits equal to the
// distances themselves (where one bit decides), on random, coarse-grid,
// huge and tiny coordinates; and that within4's distances are those of
// l2sq4 and l14.
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
		blocks := blocks4(pts)
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
			var got, want [smallMax]float64
			var gotMask, wantMask, gotAtMost, wantAtMost [smallMax / 64]uint64
			var gotMins, wantMins [8]float64
			within4(blocks, (*[4]float64)(p), limit, m, &got, &gotMask, &gotMins)
			within4Go(blocks, (*[4]float64)(p), limit, m, &want, &wantMask, &wantMins)
			require.Equal(t, wantMask, gotMask, "round %d %v", round, m)
			require.Equal(t, wantMins, gotMins, "round %d %v", round, m)
			atMost(&got, len(blocks)/4, limit, &gotAtMost)
			atMostGo(&want, len(blocks)/4, limit, &wantAtMost)
			require.Equal(t, wantAtMost, gotAtMost, "round %d %v", round, m)
			require.Equal(t, wantMask, gotAtMost, "round %d %v", round, m)
			for j := range n {
				require.Equal(t, math.Float64bits(want[j]), math.Float64bits(got[j]), "round %d %v row %d", round, m, j)
				d := l2sq4((*[4]float64)(pts[4*j:]), p[0], p[1], p[2], p[3])
				if m == Manhattan {
					d = l14((*[4]float64)(pts[4*j:]), p[0], p[1], p[2], p[3])
				}
				require.Equal(t, math.Float64bits(d), math.Float64bits(got[j]), "round %d %v row %d", round, m, j)
			}
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

// TestKthSmallest checks the sorting network of kthSmallest on every 0/1
// input (which proves a network sorts everything) and on random rank
// distances with ties, +0 and +Inf, against a sort.
func TestKthSmallest(t *testing.T) {
	for bitsIn := range 256 {
		var v [8]float64
		for i := range v {
			v[i] = float64(bitsIn >> i & 1)
		}
		want := v
		slices.Sort(want[:])
		for k := 1; k <= 8; k++ {
			w := v
			require.Equal(t, want[k-1], kthSmallest(&w, k), "input %08b k=%d", bitsIn, k)
		}
	}
	rng := rand.New(rand.NewPCG(8, 8))
	vals := []float64{0, 1e-310, 0.5, 0.5, 2, 3e300, math.Inf(1)}
	for range 2000 {
		var v [8]float64
		for i := range v {
			if rng.IntN(2) == 0 {
				v[i] = vals[rng.IntN(len(vals))]
			} else {
				v[i] = rng.Float64() * 10
			}
		}
		want := v
		slices.Sort(want[:])
		k := 1 + rng.IntN(8)
		w := v
		require.Equal(t, want[k-1], kthSmallest(&w, k), "%v k=%d", v, k)
	}
}
