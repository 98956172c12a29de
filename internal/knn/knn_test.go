package knn

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tutorial is the worked example of the classic KNN tutorial.
func tutorial(t testing.TB) *Dataset {
	d := NewDataset(2, []string{"A", "B"})
	for i, p := range []struct {
		x, y  float64
		label int
	}{{1, 1, 0}, {2, 1, 0}, {4, 3, 1}, {5, 4, 1}} {
		require.NoError(t, d.Add(int64(i+1), []float64{p.x, p.y}, p.label))
	}
	return d
}

func TestTutorialExample(t *testing.T) {
	// Query (3,2), k=3. Euclidean: d(1,1)=sqrt5, d(2,1)=sqrt2, d(4,3)=sqrt2,
	// d(5,4)=sqrt8: neighbours 2 and 3 tie at sqrt2 (id 2 first), then 1.
	// Manhattan: 3, 2, 2, 4: the same neighbours. Both vote A 2:1.
	for _, tc := range []struct {
		m     Metric
		dists []float64
	}{
		{Euclidean, []float64{math.Sqrt2, math.Sqrt2, math.Sqrt(5)}},
		{Manhattan, []float64{2, 2, 3}},
		{Chebyshev, []float64{1, 1, 2}},
	} {
		t.Run(tc.m.String(), func(t *testing.T) {
			pr, err := tutorial(t).Predict([]float64{3, 2}, Query{K: 3, Metric: tc.m})
			require.NoError(t, err)
			assert.Equal(t, 0, pr.Class, "class A")
			assert.False(t, pr.Tie)
			assert.InDeltaSlice(t, []float64{2.0 / 3, 1.0 / 3}, pr.Probabilities, 1e-15)
			ids := []int64{}
			for i, n := range pr.Neighbors {
				ids = append(ids, n.ID)
				assert.InDelta(t, tc.dists[i], n.Distance, 1e-15)
			}
			assert.Equal(t, []int64{2, 3, 1}, ids)
		})
	}
}

func TestMetricDistance(t *testing.T) {
	a, b := []float64{0, 0, 0}, []float64{3, -4, 12}
	for _, tc := range []struct {
		m    Metric
		want float64
	}{
		{Euclidean, 13},
		{Manhattan, 19},
		{Chebyshev, 12},
	} {
		t.Run(tc.m.String(), func(t *testing.T) {
			assert.Equal(t, tc.want, tc.m.Distance(a, b))
			assert.Equal(t, tc.want, tc.m.Distance(b, a), "symmetric")
			assert.Equal(t, 0.0, tc.m.Distance(b, b))
		})
	}
}

func TestParse(t *testing.T) {
	for _, m := range Metrics() {
		got, err := ParseMetric(m.String())
		require.NoError(t, err)
		assert.Equal(t, m, got)
	}
	m, err := ParseMetric("MANHATTAN")
	require.NoError(t, err)
	assert.Equal(t, Manhattan, m)
	_, err = ParseMetric("cosine")
	assert.ErrorIs(t, err, ErrMetric)

	for _, w := range []Weights{Uniform, Distance} {
		got, err := ParseWeights(w.String())
		require.NoError(t, err)
		assert.Equal(t, w, got)
	}
	_, err = ParseWeights("gaussian")
	assert.ErrorIs(t, err, ErrWeights)
}

func TestClassify(t *testing.T) {
	n := func(label int32, d float64) Neighbor { return Neighbor{Label: label, Distance: d} }
	for _, tc := range []struct {
		name      string
		neighbors []Neighbor
		w         Weights
		class     int
		tie       bool
		probs     []float64
		exactOnly bool // only the neighbours at distance 0 voted
	}{
		{"uniform majority", []Neighbor{n(2, 1), n(1, 2), n(2, 3)}, Uniform, 2, false, []float64{0, 1.0 / 3, 2.0 / 3}, false},
		{"uniform tie goes to first class", []Neighbor{n(2, 1), n(1, 2)}, Uniform, 1, true, []float64{0, 0.5, 0.5}, false},
		{"distance outweighs count", []Neighbor{n(0, 1), n(1, 4), n(1, 4)}, Distance, 0, false, []float64{2.0 / 3, 1.0 / 3, 0}, false},
		{"distance tie", []Neighbor{n(1, 1), n(0, 2), n(0, 2)}, Distance, 0, true, []float64{0.5, 0.5, 0}, false},
		{"exact match only votes", []Neighbor{n(2, 0), n(1, 0.1), n(1, 0.1)}, Distance, 2, false, []float64{0, 0, 1}, true},
		{"exact matches tie", []Neighbor{n(2, 0), n(1, 0), n(0, 1)}, Distance, 1, true, []float64{0, 0.5, 0.5}, true},
		{"subnormal distance counts as exact", []Neighbor{n(1, 1e-320), n(0, 1)}, Distance, 1, false, []float64{0, 1, 0}, true},
		{"uniform ignores distance", []Neighbor{n(0, 0), n(1, 5), n(1, 6)}, Uniform, 1, false, []float64{1.0 / 3, 2.0 / 3, 0}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probs := make([]float64, 3)
			v := Classify(tc.neighbors, tc.w, probs)
			assert.Equal(t, tc.class, v.Class)
			assert.Equal(t, tc.tie, v.Tie)
			assert.Equal(t, tc.exactOnly, v.ExactOnly, "only exact matches voted")
			assert.InDeltaSlice(t, tc.probs, probs, 1e-15)
		})
	}
}

func TestNearestTiesByID(t *testing.T) {
	// Four points on a circle around the query, added in scrambled id order.
	d := NewDataset(2, []string{"a", "b"})
	for _, p := range []struct {
		id   int64
		x, y float64
	}{{40, 1, 0}, {10, 0, 1}, {30, -1, 0}, {20, 0, -1}, {5, 3, 3}} {
		require.NoError(t, d.Add(p.id, []float64{p.x, p.y}, int(p.id%2)))
	}
	for _, m := range Metrics() {
		got := d.Nearest(nil, []float64{0, 0}, 3, m)
		assert.Equal(t, []int64{10, 20, 30}, idsOf(got), m.String())
	}
}

func TestPredictValidates(t *testing.T) {
	d := tutorial(t)
	for _, tc := range []struct {
		name string
		p    []float64
		q    Query
		want error
	}{
		{"k zero", []float64{0, 0}, Query{K: 0}, ErrK},
		{"k negative", []float64{0, 0}, Query{K: -1}, ErrK},
		{"k too large", []float64{0, 0}, Query{K: 5}, ErrK},
		{"too few features", []float64{0}, Query{K: 1}, ErrDimension},
		{"too many features", []float64{0, 0, 0}, Query{K: 1}, ErrDimension},
		{"NaN", []float64{math.NaN(), 0}, Query{K: 1}, ErrNotFinite},
		{"Inf", []float64{0, math.Inf(-1)}, Query{K: 1}, ErrNotFinite},
		{"metric", []float64{0, 0}, Query{K: 1, Metric: 9}, ErrMetric},
		{"weights", []float64{0, 0}, Query{K: 1, Weights: 9}, ErrWeights},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Predict(tc.p, tc.q)
			assert.True(t, errors.Is(err, tc.want), "got %v, want %v", err, tc.want)
		})
	}
	assert.ErrorIs(t, d.Add(9, []float64{1, 1}, 2), ErrLabel)
	assert.ErrorIs(t, d.Add(9, []float64{1, math.NaN()}, 0), ErrNotFinite)
}

// bruteReference is the plainest possible KNN: sort every point by
// (distance, id) and take the first k. It is the oracle for Nearest.
func bruteReference(pts [][]float64, ids []int64, q []float64, k int, m Metric) []Neighbor {
	all := make([]Neighbor, len(pts))
	for i, p := range pts {
		var dist float64
		for j := range p {
			diff := math.Abs(p[j] - q[j])
			switch m {
			case Euclidean:
				dist += diff * diff
			case Manhattan:
				dist += diff
			case Chebyshev:
				dist = math.Max(dist, diff)
			}
		}
		if m == Euclidean {
			dist = math.Sqrt(dist)
		}
		all[i] = Neighbor{ID: ids[i], Distance: dist}
	}
	slices.SortFunc(all, func(a, b Neighbor) int {
		if a.Distance != b.Distance {
			if a.Distance < b.Distance {
				return -1
			}
			return 1
		}
		return int(a.ID - b.ID)
	})
	return all[:k]
}

func TestNearestMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		dim := 1 + rng.IntN(5)
		n := 1 + rng.IntN(300)
		d := NewDataset(dim, []string{"x"})
		pts := make([][]float64, n)
		ids := rng.Perm(10 * n)[:n]
		id64 := make([]int64, n)
		for i := range pts {
			pts[i] = make([]float64, dim)
			for j := range pts[i] {
				// Coarse grid values so that many distances tie.
				pts[i][j] = float64(rng.IntN(7))
			}
			id64[i] = int64(ids[i])
			require.NoError(t, d.Add(id64[i], pts[i], 0))
		}
		q := make([]float64, dim)
		for j := range q {
			q[j] = float64(rng.IntN(7)) + 0.5*float64(rng.IntN(2))
		}
		k := 1 + rng.IntN(n)
		for _, m := range Metrics() {
			got := d.Nearest(nil, q, k, m)
			want := bruteReference(pts, id64, q, k, m)
			require.Equal(t, idsOf(want), idsOf(got), "trial %d metric %v n=%d k=%d", trial, m, n, k)
			for i := range got {
				require.InDelta(t, want[i].Distance, got[i].Distance, 1e-12)
			}
		}
	}
}

func TestPredictIntoAllocatesNothing(t *testing.T) {
	d := tutorial(t)
	var pr Prediction
	q := []float64{3, 2}
	require.NoError(t, d.PredictInto(&pr, q, Query{K: 3}))
	allocs := testing.AllocsPerRun(100, func() {
		_ = d.PredictInto(&pr, q, Query{K: 3, Weights: Distance})
	})
	assert.Zero(t, allocs)
}

func idsOf(ns []Neighbor) []int64 {
	out := make([]int64, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

func Example() {
	d := NewDataset(2, []string{"A", "B"})
	_ = d.Add(1, []float64{1, 1}, 0)
	_ = d.Add(2, []float64{2, 1}, 0)
	_ = d.Add(3, []float64{4, 3}, 1)
	_ = d.Add(4, []float64{5, 4}, 1)

	pr, err := d.Predict([]float64{3, 2}, Query{K: 3, Metric: Euclidean, Weights: Uniform})
	if err != nil {
		panic(err)
	}
	fmt.Println(d.Classes()[pr.Class], pr.Probabilities, pr.Tie)
	for _, n := range pr.Neighbors {
		fmt.Printf("id=%d class=%s distance=%.3f\n", n.ID, d.Classes()[n.Label], n.Distance)
	}
	// Output:
	// A [0.6666666666666666 0.3333333333333333] false
	// id=2 class=A distance=1.414
	// id=3 class=B distance=1.414
	// id=1 class=A distance=2.236
}

func ExampleClassify() {
	// Two neighbours at distance 0 outvote any number of farther ones.
	probs := make([]float64, 2)
	v := Classify([]Neighbor{{ID: 7, Label: 1, Distance: 0}, {ID: 3, Label: 0, Distance: 0.5}}, Distance, probs)
	fmt.Println(v.Class, v.Tie, probs)
	// Output: 1 false [0 1]
}
