package knn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// model is the oracle for an Index: the same points in a map, searched by
// building a brute-force Dataset.
type model struct {
	dim    int
	points map[int64][]float64
	labels map[int64]int
}

func (m *model) dataset(classes []string) *Dataset {
	ids := make([]int64, 0, len(m.points))
	for id := range m.points {
		ids = append(ids, id)
	}
	// Shuffled insertion order: the Dataset must not depend on it either.
	rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	d := NewDataset(m.dim, classes)
	for _, id := range ids {
		if err := d.Add(id, m.points[id], m.labels[id]); err != nil {
			panic(err)
		}
	}
	return d
}

// randomPoint returns a point on a coarse grid (so that distances tie
// often) or, half of the time, anywhere.
func randomPoint(rng *rand.Rand, dim int, grid bool) []float64 {
	p := make([]float64, dim)
	for j := range p {
		if grid {
			p[j] = float64(rng.IntN(6))
		} else {
			p[j] = rng.Float64()*10 - 5
		}
	}
	return p
}

func newRandomIndex(t testing.TB, rng *rand.Rand, dim, n int, grid bool, classes []string) (*Index, *model) {
	m := &model{dim: dim, points: map[int64][]float64{}, labels: map[int64]int{}}
	ids := make([]int64, n)
	pts := make([]float64, 0, n*dim)
	labels := make([]int, n)
	for i, id := range rng.Perm(3 * n)[:n] {
		ids[i] = int64(id + 1)
		p := randomPoint(rng, dim, grid)
		pts = append(pts, p...)
		labels[i] = rng.IntN(len(classes))
		m.points[ids[i]], m.labels[ids[i]] = p, labels[i]
	}
	ix, err := NewIndex(dim, classes, ids, pts, labels)
	require.NoError(t, err)
	return ix, m
}

// checkSame asserts that ix answers like a brute-force search over m.
func checkSame(t *testing.T, rng *rand.Rand, ix *Index, m *model, classes []string, queries int, grid bool) {
	t.Helper()
	require.Equal(t, len(m.points), ix.Len())
	d := m.dataset(classes)
	for range queries {
		q := randomPoint(rng, m.dim, grid)
		if grid && rng.IntN(2) == 0 {
			q[0] += 0.5
		}
		k := 1 + rng.IntN(min(20, max(1, ix.Len())))
		for _, met := range Metrics() {
			want := d.Nearest(nil, q, k, met)
			got := ix.Nearest(nil, q, k, met)
			require.Equal(t, want, got, "metric %v k=%d q=%v n=%d pending=%d", met, k, q, ix.Len(), ix.Pending())
		}
	}
	// All walks ids in order and agrees with the model.
	var prev int64
	count := 0
	ix.All(func(id int64, p []float64, label int) bool {
		require.Greater(t, id, prev)
		prev = id
		require.Equal(t, m.points[id], p, "id %d", id)
		require.Equal(t, m.labels[id], label)
		count++
		return true
	})
	require.Equal(t, len(m.points), count)
	checkAfter(t, rng, ix, m)
}

// checkAfter asserts that After, from random cursors (before, inside and
// past the ids), yields exactly the model's ids above the cursor, in order.
func checkAfter(t *testing.T, rng *rand.Rand, ix *Index, m *model) {
	t.Helper()
	ids := make([]int64, 0, len(m.points))
	for id := range m.points {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	cursors := []int64{math.MinInt64, -1, 0, math.MaxInt64}
	for range 10 {
		if len(ids) > 0 {
			id := ids[rng.IntN(len(ids))]
			cursors = append(cursors, id, id-1, id+1)
		}
	}
	for _, after := range cursors {
		var got []int64
		ix.After(after, func(id int64, p []float64, label int) bool {
			require.Equal(t, m.points[id], p, "id %d", id)
			got = append(got, id)
			return len(got) < 50
		})
		start, _ := slices.BinarySearch(ids, after+1)
		if after == math.MaxInt64 {
			start = len(ids)
		}
		want := ids[start:min(start+50, len(ids))]
		require.Equal(t, len(want), len(got), "after %d", after)
		if len(want) > 0 {
			require.Equal(t, want, got, "after %d", after)
		}
	}
}

func TestIndexMatchesBruteForce(t *testing.T) {
	classes := []string{"a", "b", "c"}
	sizes := []int{1, 2, 17, 150, 300, 2000}
	if testing.Short() {
		sizes = sizes[:5]
	}
	for _, n := range sizes {
		for _, dim := range []int{4, 2, 3} {
			for _, grid := range []bool{true, false} {
				t.Run(fmt.Sprintf("n=%d/dim=%d/grid=%v", n, dim, grid), func(t *testing.T) {
					rng := rand.New(rand.NewPCG(uint64(n), uint64(dim)))
					ix, m := newRandomIndex(t, rng, dim, n, grid, classes)
					checkSame(t, rng, ix, m, classes, 30, grid)
				})
			}
		}
	}
}

// TestIndexRandomWrites applies random sequences of inserts, replaces and
// deletes, with background rebuilds swapping trees in between, and checks
// every version (old versions too) against brute force.
func TestIndexRandomWrites(t *testing.T) {
	classes := []string{"a", "b", "c", "d"}
	seeds := 6
	steps := 3000
	if testing.Short() {
		seeds, steps = 3, 1500
	}
	for seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 99))
			grid := seed%2 == 0
			ix, m := newRandomIndex(t, rng, 4, 200+rng.IntN(400), grid, classes)
			type version struct {
				ix *Index
				m  *model
			}
			var old []version
			nextID := int64(10000)
			for step := range steps {
				switch op := rng.IntN(10); {
				case op < 4: // insert
					nextID++
					p := randomPoint(rng, 4, grid)
					l := rng.IntN(len(classes))
					var err error
					ix, _, err = ix.Put(nextID, p, l)
					require.NoError(t, err)
					m.points[nextID], m.labels[nextID] = p, l
				case op < 7 && len(m.points) > 0: // replace
					id := anyID(rng, m)
					p := randomPoint(rng, 4, grid)
					l := rng.IntN(len(classes))
					var err error
					ix, _, err = ix.Put(id, p, l)
					require.NoError(t, err)
					m.points[id], m.labels[id] = p, l
				case len(m.points) > 1: // delete
					id := anyID(rng, m)
					var old int
					ix, old = ix.Delete(id)
					require.Equal(t, m.labels[id], old)
					delete(m.points, id)
					delete(m.labels, id)
					_, old = ix.Delete(id)
					require.Equal(t, -1, old, "deleted twice")
				}
				if step%97 == 0 {
					checkSame(t, rng, ix, m, classes, 3, grid)
					old = append(old, version{ix, m.clone()})
				}
				if step%500 == 0 {
					ix.WaitRebuild() // let a rebuild finish so the next write swaps it in
				}
			}
			checkSame(t, rng, ix, m, classes, 20, grid)
			assert.Positive(t, ix.Rebuilds(), "background rebuilds ran")
			assert.Less(t, ix.Pending(), 2*DeltaLimit)
			for _, v := range old {
				checkSame(t, rng, v.ix, v.m, classes, 2, grid)
			}
			c := ix.Compact()
			assert.Zero(t, c.Pending())
			checkSame(t, rng, c, m, classes, 5, grid)
		})
	}
}

// TestIndexBranches writes to old versions (as a store recovering from a
// failed journal write might) and checks that each branch stays right.
func TestIndexBranches(t *testing.T) {
	classes := []string{"x", "y"}
	rng := rand.New(rand.NewPCG(5, 5))
	ix, m := newRandomIndex(t, rng, 4, 300, true, classes)
	a, am := ix, m.clone()
	b, bm := ix, m.clone()
	for i := range 400 {
		id := int64(2000 + i)
		p := randomPoint(rng, 4, true)
		var err error
		a, _, err = a.Put(id, p, 0)
		require.NoError(t, err)
		am.points[id], am.labels[id] = p, 0
		if i%3 == 0 {
			del := anyID(rng, bm)
			b, _ = b.Delete(del)
			delete(bm.points, del)
			delete(bm.labels, del)
		}
		if i%50 == 0 {
			a.WaitRebuild()
		}
	}
	checkSame(t, rng, a, am, classes, 20, true)
	checkSame(t, rng, b, bm, classes, 20, true)
	checkSame(t, rng, ix, m, classes, 20, true)
}

func TestIndexLookup(t *testing.T) {
	ix, err := NewIndex(2, []string{"a", "b"}, []int64{5, 3}, []float64{1, 2, 3, 4}, []int{1, 0})
	require.NoError(t, err)
	p, l, ok := ix.Lookup(nil, 5)
	require.True(t, ok)
	assert.Equal(t, []float64{1, 2}, p)
	assert.Equal(t, 1, l)
	ix2, old, err := ix.Put(5, []float64{9, 9}, 0)
	require.NoError(t, err)
	assert.Equal(t, 1, old)
	p, l, _ = ix2.Lookup(nil, 5)
	assert.Equal(t, []float64{9, 9}, p)
	assert.Equal(t, 0, l)
	p, _, _ = ix.Lookup(nil, 5)
	assert.Equal(t, []float64{1, 2}, p, "the old version is unchanged")
	ix3, old := ix2.Delete(3)
	require.Equal(t, 0, old)
	assert.False(t, ix3.Has(3))
	assert.True(t, ix2.Has(3))
	assert.Equal(t, 1, ix3.Len())
}

func TestNewIndexValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func() error
		want error
	}{
		{"label", func() error { _, err := NewIndex(1, []string{"a"}, []int64{1}, []float64{1}, []int{1}); return err }, ErrLabel},
		{"dimension", func() error { _, err := NewIndex(2, []string{"a"}, []int64{1}, []float64{1}, []int{0}); return err }, ErrDimension},
		{"classes", func() error { _, err := NewIndex(1, nil, nil, nil, nil); return err }, ErrLabel},
		{"put dimension", func() error {
			ix, _ := NewIndex(1, []string{"a"}, []int64{1}, []float64{1}, []int{0})
			_, _, err := ix.Put(2, []float64{1, 2}, 0)
			return err
		}, ErrDimension},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.ErrorIs(t, tc.f(), tc.want) })
	}
	_, err := NewIndex(1, []string{"a"}, []int64{1, 1}, []float64{1, 2}, []int{0, 0})
	assert.ErrorContains(t, err, "twice")
}

func TestIndexPredictAllocatesNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	ix, _ := newRandomIndex(t, rng, 4, 5000, false, []string{"a", "b", "c"})
	ix, _, _ = ix.Put(99999, []float64{0, 0, 0, 0}, 1)
	ix, _ = ix.Delete(anyIndexID(ix))
	var pr Prediction
	q := []float64{0.1, 0.2, 0.3, 0.4}
	require.NoError(t, ix.PredictInto(&pr, q, Query{K: 5}))
	allocs := testing.AllocsPerRun(100, func() {
		_ = ix.PredictInto(&pr, q, Query{K: 5, Metric: Manhattan, Weights: Distance})
	})
	assert.Zero(t, allocs)
}

func anyIndexID(ix *Index) int64 {
	var id int64
	ix.All(func(i int64, _ []float64, _ int) bool { id = i; return false })
	return id
}

func anyID(rng *rand.Rand, m *model) int64 {
	ids := make([]int64, 0, len(m.points))
	for id := range m.points {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids[rng.IntN(len(ids))]
}

func (m *model) clone() *model {
	c := &model{dim: m.dim, points: map[int64][]float64{}, labels: map[int64]int{}}
	for id, p := range m.points {
		c.points[id], c.labels[id] = p, m.labels[id]
	}
	return c
}

func ExampleIndex() {
	ix, err := NewIndex(2, []string{"A", "B"},
		[]int64{1, 2, 3, 4},
		[]float64{1, 1, 2, 1, 4, 3, 5, 4},
		[]int{0, 0, 1, 1})
	if err != nil {
		panic(err)
	}
	// A write returns a new version; the old one is unchanged.
	next, _, _ := ix.Put(5, []float64{3, 2}, 1)
	for _, v := range []*Index{ix, next} {
		ns := v.Nearest(nil, []float64{3, 2}, 2, Euclidean)
		fmt.Println(v.Len(), ns[0].ID, ns[0].Distance, ns[1].ID)
	}
	// Output:
	// 4 2 1.4142135623730951 3
	// 5 5 0 2
}

// TestIndexConcurrentReaders queries old and new versions from several
// goroutines while a writer inserts and deletes through rebuilds; run with
// -race it checks that readers and the background rebuild share memory
// safely, and every answer is checked against brute force.
func TestIndexConcurrentReaders(t *testing.T) {
	classes := []string{"a", "b", "c"}
	rng := rand.New(rand.NewPCG(7, 7))
	ix, m := newRandomIndex(t, rng, 4, 500, false, classes)
	var cur atomic.Pointer[Index]
	cur.Store(ix)
	type check struct {
		ix *Index
		d  *Dataset
	}
	checks := make(chan check, 64)
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for c := range checks {
				for range 5 {
					q := randomPoint(r, 4, false)
					assert.Equal(t, c.d.Nearest(nil, q, 7, Euclidean), c.ix.Nearest(nil, q, 7, Euclidean))
				}
				_ = cur.Load().Nearest(nil, randomPoint(r, 4, false), 3, Manhattan)
			}
		})
	}
	next := int64(5000)
	for step := range 3000 {
		var err error
		if step%3 == 2 {
			id := anyID(rng, m)
			ix, _ = ix.Delete(id)
			delete(m.points, id)
			delete(m.labels, id)
		} else {
			next++
			p := randomPoint(rng, 4, false)
			ix, _, err = ix.Put(next, p, 1)
			require.NoError(t, err)
			m.points[next], m.labels[next] = p, 1
		}
		cur.Store(ix)
		if step%100 == 0 {
			checks <- check{ix, m.dataset(classes)}
		}
	}
	close(checks)
	wg.Wait()
	assert.Positive(t, ix.Rebuilds())
}

// TestSmallSearchMatchesBruteForce checks searchSmall, both its paths
// (k <= 8: the limit from within4's minimums; larger k: the query's leaf
// first), against brute force at every size class it serves: few rows
// (padding rows and minimums of rows that do not exist), ties on a coarse
// grid, queries on a stored point (distance 0) and huge coordinates whose
// distances overflow to +Inf (where the limit is +Inf).
func TestSmallSearchMatchesBruteForce(t *testing.T) {
	classes := []string{"a", "b", "c"}
	rng := rand.New(rand.NewPCG(11, 12))
	for round := range 300 {
		n := 1 + rng.IntN(smallMax)
		if round%3 == 0 {
			n = 1 + rng.IntN(16)
		}
		grid, huge := round%2 == 0, round%5 == 0
		ix, m := newRandomIndex(t, rng, 4, n, grid, classes)
		if huge {
			for id, p := range m.points {
				for j := range p {
					p[j] *= 1e154
				}
				var err error
				ix, _, err = ix.Put(id, p, m.labels[id])
				require.NoError(t, err)
			}
			ix = ix.Compact()
		}
		require.True(t, len(ix.log.t.ids) <= smallMax && ix.Pending() == 0)
		d := m.dataset(classes)
		for range 20 {
			q := randomPoint(rng, 4, grid)
			if rng.IntN(2) == 0 {
				q[rng.IntN(4)] += 0.5
			}
			if huge {
				for j := range q {
					q[j] *= 1e154
				}
			}
			if rng.IntN(3) == 0 {
				q = slices.Clone(d.points[4*rng.IntN(n):][:4])
			}
			k := 1 + rng.IntN(min(12, n))
			for _, met := range []Metric{Euclidean, Manhattan} {
				want := d.Nearest(nil, q, k, met)
				got := ix.Nearest(nil, q, k, met)
				require.Equal(t, want, got, "round %d metric %v k=%d q=%v n=%d", round, met, k, q, n)
			}
		}
	}
}
