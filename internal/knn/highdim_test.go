package knn

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lowRankPoint returns a point of dimension dim on a coarse grid that
// depends on two latent values only: data with many columns but two
// degrees of freedom, as real tables often are, where a k-d tree pays.
func lowRankPoint(rng *rand.Rand, dim int) []float64 {
	a, b := float64(rng.IntN(40)), float64(rng.IntN(40))
	p := make([]float64, dim)
	for j := range p {
		// Fixed weights per column: the same plane for every point.
		p[j] = float64(int(a*float64(j%5+1)/3 + b*float64(j%3)/2))
	}
	return p
}

// newLowRankIndex is newRandomIndex for lowRankPoint data.
func newLowRankIndex(t testing.TB, rng *rand.Rand, dim, n int, classes []string) (*Index, *model) {
	m := &model{dim: dim, points: map[int64][]float64{}, labels: map[int64]int{}}
	ids := make([]int64, n)
	pts := make([]float64, 0, n*dim)
	labels := make([]int, n)
	for i, id := range rng.Perm(3 * n)[:n] {
		ids[i] = int64(id + 1)
		p := lowRankPoint(rng, dim)
		pts = append(pts, p...)
		labels[i] = rng.IntN(len(classes))
		m.points[ids[i]], m.labels[ids[i]] = p, labels[i]
	}
	ix, err := NewIndex(dim, classes, ids, pts, labels)
	require.NoError(t, err)
	return ix, m
}

// checkPredictions asserts that ix classifies like brute force over m
// (neighbours, probabilities, vote) for every metric and weighting, on
// queries drawn by point.
func checkPredictions(t *testing.T, rng *rand.Rand, ix *Index, m *model, classes []string, queries int, point func() []float64) {
	t.Helper()
	d := m.dataset(classes)
	var got Prediction
	for range queries {
		q := point()
		if rng.IntN(2) == 0 {
			q[rng.IntN(len(q))] += 0.5 // off the grid, still tied often
		}
		k := 1 + rng.IntN(min(20, ix.Len()))
		for _, met := range Metrics() {
			for _, w := range []Weights{Uniform, Distance} {
				qy := Query{K: k, Metric: met, Weights: w}
				want, err := d.Predict(q, qy)
				require.NoError(t, err)
				require.NoError(t, ix.PredictInto(&got, q, qy))
				require.Equal(t, want.Neighbors, got.Neighbors, "%v n=%d pending=%d q=%v", qy, ix.Len(), ix.Pending(), q)
				require.Equal(t, want.Probabilities, got.Probabilities, "%v", qy)
				require.Equal(t, want.Vote, got.Vote, "%v", qy)
			}
		}
	}
}

// TestIndexMatchesBruteForceAtHighDimension checks the index against brute
// force at the dimensions of real tables (wine 13, breast cancer 30) and
// beyond, on coarse grids (many tied distances), for data that fills every
// dimension (searched by a full scan) and data with two degrees of freedom
// (searched by the tree), before and after writes.
func TestIndexMatchesBruteForceAtHighDimension(t *testing.T) {
	classes := []string{"a", "b", "c"}
	sizes := []int{1, 40, 150, 3000}
	if testing.Short() {
		sizes = sizes[:3]
	}
	for _, dim := range []int{8, 13, 30, 64} {
		for _, n := range sizes {
			for _, lowRank := range []bool{false, true} {
				t.Run(fmt.Sprintf("dim=%d/n=%d/lowrank=%v", dim, n, lowRank), func(t *testing.T) {
					rng := rand.New(rand.NewPCG(uint64(dim), uint64(n)))
					point := func() []float64 { return randomPoint(rng, dim, true) }
					if lowRank {
						point = func() []float64 { return lowRankPoint(rng, dim) }
					}
					var ix *Index
					var m *model
					if lowRank {
						ix, m = newLowRankIndex(t, rng, dim, n, classes)
					} else {
						ix, m = newRandomIndex(t, rng, dim, n, true, classes)
					}
					checkPredictions(t, rng, ix, m, classes, 10, point)
					// Writes: the delta log is scanned on top of either search.
					for i := range 60 {
						id := int64(10*n + i + 1)
						if i%3 == 0 && len(m.points) > 1 {
							id = anyID(rng, m)
						}
						p := point()
						var err error
						ix, _, err = ix.Put(id, p, i%len(classes))
						require.NoError(t, err)
						m.points[id], m.labels[id] = p, i%len(classes)
						if i%5 == 0 && len(m.points) > 1 {
							del := anyID(rng, m)
							ix, _ = ix.Delete(del)
							delete(m.points, del)
							delete(m.labels, del)
						}
					}
					ix.WaitRebuild()
					checkPredictions(t, rng, ix, m, classes, 10, point)
				})
			}
		}
	}
}

// TestSearchChoiceFollowsTheData checks that chooseSearch keeps the tree
// where it prunes and scans where it cannot: uniform data in 64
// dimensions fills them all, two-parameter data in 64 columns does not.
func TestSearchChoiceFollowsTheData(t *testing.T) {
	classes := []string{"a"}
	tests := []struct {
		name    string
		build   func(rng *rand.Rand) *Index
		scanAll bool
	}{
		{"uniform in 64 dimensions", func(rng *rand.Rand) *Index {
			ix, _ := newRandomIndex(t, rng, 64, 3000, false, classes)
			return ix
		}, true},
		{"two parameters in 64 columns", func(rng *rand.Rand) *Index {
			ix, _ := newLowRankIndex(t, rng, 64, 3000, classes)
			return ix
		}, false},
		{"uniform in 8 dimensions", func(rng *rand.Rand) *Index {
			ix, _ := newRandomIndex(t, rng, 8, 20000, false, classes)
			return ix
		}, false},
		{"4 dimensions keep their own search", func(rng *rand.Rand) *Index {
			ix, _ := newRandomIndex(t, rng, 4, 3000, false, classes)
			return ix
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := tt.build(rand.New(rand.NewPCG(1, 1)))
			assert.Equal(t, tt.scanAll, ix.log.t.scanAll)
		})
	}
}
