package dataset

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/knn"
)

var testSpecies = []string{"setosa", "versicolor", "virginica"}

func randomSamples(rng *rand.Rand, n int) []Sample {
	out := make([]Sample, n)
	for i := range out {
		out[i] = Sample{ID: int64(i + 1), Label: testSpecies[rng.IntN(3)], Features: make([]float64, 4)}
		for j := range out[i].Features {
			out[i].Features[j] = float64(rng.IntN(40)) / 4 // ties are common
		}
	}
	return out
}

// oracle is the plainest model of a snapshot: a map of samples.
type oracle map[int64]Sample

func (o oracle) sorted() []Sample {
	out := make([]Sample, 0, len(o))
	for _, s := range o {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Sample) int { return int(a.ID - b.ID) })
	return out
}

// checkSnapshot compares every read of s with the oracle, and predictions
// with a brute-force knn.Dataset over the same samples.
func checkSnapshot(t *testing.T, rng *rand.Rand, s *Snapshot, o oracle) {
	t.Helper()
	want := o.sorted()
	require.Equal(t, len(want), s.Len())
	var all []Sample
	s.All(func(x Sample) bool { all = append(all, x); return true })
	require.Equal(t, want, all)
	page, total := s.List(Filter{Limit: 7, Offset: 3})
	assert.Equal(t, len(want), total)
	assert.Equal(t, want[min(3, len(want)):min(10, len(want))], page)
	counts := make([]int, len(s.Classes()))
	d := knn.NewDataset(IrisSchema().Dim(), s.Classes())
	for _, x := range want {
		l, _ := s.ClassIndex(x.Label)
		counts[l]++
		require.NoError(t, d.Add(x.ID, x.Features, l))
	}
	assert.Equal(t, counts, s.Counts())
	var vir []Sample
	for _, x := range want {
		if x.Label == "virginica" {
			vir = append(vir, x)
		}
	}
	page, total = s.List(Filter{Label: "virginica", Limit: 5, Offset: 1})
	assert.Equal(t, len(vir), total)
	assert.Equal(t, vir[min(1, len(vir)):min(6, len(vir))], page)
	for _, x := range want[:min(5, len(want))] {
		got, ok := s.Get(x.ID)
		require.True(t, ok)
		require.Equal(t, x, got)
	}
	for range 5 {
		f := make([]float64, IrisSchema().Dim())
		for j := range f {
			f[j] = float64(rng.IntN(44))/4 - 0.5
		}
		q := knn.Query{K: min(5, len(want)), Metric: knn.Metrics()[rng.IntN(3)], Weights: knn.Weights(rng.IntN(2))}
		var got knn.Prediction
		require.NoError(t, s.Predict(&got, f, q))
		exp, err := d.Predict(f[:], q)
		require.NoError(t, err)
		require.Equal(t, exp, got)
	}
}

func TestSnapshotMatchesOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	initial := randomSamples(rng, 300)
	s, err := NewSnapshot(IrisSchema(), initial, ScaleNone)
	require.NoError(t, err)
	o := oracle{}
	for _, x := range initial {
		o[x.ID] = x
	}
	checkSnapshot(t, rng, s, o)
	type version struct {
		s *Snapshot
		o oracle
	}
	var old []version
	steps := 3000
	if testing.Short() {
		steps = 1000
	}
	for step := range steps {
		c := Change{Version: s.Version() + 1}
		switch r := rng.IntN(20); {
		case r == 0:
			c.Op = OpReset
		case r < 8:
			c.Op = OpPut
			c.Sample = randomSamples(rng, 1)[0]
			c.Sample.ID = s.NextID()
			if rng.IntN(2) == 0 {
				c.Sample.ID = 1 + rng.Int64N(s.NextID()+5) // replace, or create a chosen id
			}
		default:
			c.Op = OpDelete
			c.ID = 1 + rng.Int64N(s.NextID())
		}
		next, err := s.Apply(c)
		if c.Op == OpDelete && o[c.ID].ID == 0 {
			require.Equal(t, KindNotFound, ErrorKind(err))
			continue
		}
		if c.Op == OpDelete && len(o) == 1 {
			require.Equal(t, KindConflict, ErrorKind(err))
			continue
		}
		require.NoError(t, err)
		switch c.Op {
		case OpReset:
			o = oracle{}
			for _, x := range initial {
				o[x.ID] = x
			}
		case OpPut:
			o[c.Sample.ID] = c.Sample
		case OpDelete:
			delete(o, c.ID)
		}
		assert.GreaterOrEqual(t, next.NextID(), s.NextID())
		s = next
		if step%150 == 0 {
			checkSnapshot(t, rng, s, o)
			cp := oracle{}
			for k, v := range o {
				cp[k] = v
			}
			old = append(old, version{s, cp})
		}
	}
	checkSnapshot(t, rng, s, o)
	for _, v := range old {
		checkSnapshot(t, rng, v.s, v.o) // old versions never change
	}
	assert.Equal(t, initial, s.Initial())

	// A restored snapshot reads the same.
	r, err := RestoreSnapshot(State{Schema: IrisSchema(), Initial: initial, Current: o.sorted(), Version: s.Version(), Next: s.Next()})
	require.NoError(t, err)
	checkSnapshot(t, rng, r, o)
	assert.Equal(t, s.NextID(), r.NextID())
	assert.Equal(t, s.Version(), r.Version())
}

func TestSnapshotValidates(t *testing.T) {
	ok := Sample{ID: 1, Label: "a", Features: []float64{0, 0, 0, 0}}
	for _, tc := range []struct {
		name    string
		samples []Sample
		want    string
	}{
		{"empty", nil, "at least one"},
		{"id", []Sample{{ID: 0, Label: "a", Features: ok.Features}}, "ids must be positive"},
		{"duplicate", []Sample{ok, ok}, "sample id 1 appears twice"},
		{"nan", []Sample{{ID: 1, Label: "a", Features: []float64{1, nan(), 0, 0}}}, "finite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSnapshot(IrisSchema(), tc.samples, ScaleNone)
			assert.ErrorContains(t, err, tc.want)
		})
	}
	s, err := NewSnapshot(IrisSchema(), []Sample{ok}, ScaleNone)
	require.NoError(t, err)
	_, err = s.NewSample(2, ok.Features, "b")
	assert.Equal(t, KindInvalid, ErrorKind(err), "an unknown class")
	_, err = s.Apply(Change{Version: 2, Op: OpDelete, ID: 1})
	assert.Equal(t, KindConflict, ErrorKind(err))
	_, err = s.Apply(Change{Version: 3, Op: OpDelete, ID: 1})
	assert.ErrorIs(t, err, ErrVersion)
}

func nan() float64 { z := 0.0; return z / z }

func TestMemoryStoreWrites(t *testing.T) {
	ctx := context.Background()
	s, err := NewSnapshot(IrisSchema(), randomSamples(rand.New(rand.NewPCG(1, 1)), 50), ScaleNone)
	require.NoError(t, err)
	m := NewMemory(s, nil)
	x, snap, err := m.Create(ctx, valid(t, m, 0, []float64{1, 2, 3, 4}, "setosa"))
	require.NoError(t, err)
	assert.Equal(t, int64(51), x.ID)
	assert.Equal(t, 51, snap.Len())
	got, ok := m.Snapshot().Get(51)
	require.True(t, ok)
	assert.Equal(t, x, got)
	created, _, err := m.Put(ctx, validOf(t, m, Sample{ID: 51, Features: []float64{4, 3, 2, 1}, Label: "virginica"}), IfRevision(got.Revision()))
	require.NoError(t, err)
	assert.False(t, created)
	_, _, err = m.Put(ctx, validOf(t, m, Sample{ID: 51, Features: []float64{4, 3, 2, 1}, Label: "virginica"}), IfRevision(got.Revision()))
	assert.Equal(t, KindPrecondition, ErrorKind(err), "stale ETag")
	_, err = m.Delete(ctx, 51, Precondition{})
	require.NoError(t, err)
	_, err = m.Delete(ctx, 51, Precondition{})
	assert.Equal(t, KindNotFound, ErrorKind(err))
	snap, err = m.Reset(ctx)
	require.NoError(t, err)
	assert.Equal(t, 50, snap.Len())
	assert.Equal(t, int64(52), snap.NextID())
}

func ExampleSnapshot_Apply() {
	s, _ := NewSnapshot(IrisSchema(), []Sample{
		{ID: 1, Features: []float64{5.1, 3.5, 1.4, 0.2}, Label: "setosa"},
		{ID: 2, Features: []float64{6.3, 3.3, 6.0, 2.5}, Label: "virginica"},
	}, ScaleNone)
	next, _ := s.Apply(Change{Version: 2, Op: OpPut, Sample: Sample{ID: 3, Features: []float64{5.0, 3.4, 1.5, 0.2}, Label: "setosa"}})
	var pr knn.Prediction
	_ = next.Predict(&pr, []float64{5.0, 3.4, 1.5, 0.25}, knn.Query{K: 1})
	fmt.Println(s.Len(), next.Len(), next.Classes()[pr.Class], pr.Neighbors[0].ID)
	// Output: 2 3 setosa 3
}

// TestPredictBatchBigSet covers the cache-friendly batch order: a set big
// enough to use it, every row checked against one-by-one predictions.
func TestPredictBatchBigSet(t *testing.T) {
	n := 60_000
	rng := rand.New(rand.NewPCG(5, 6))
	s, err := NewSnapshot(IrisSchema(), randomSamples(rng, n), ScaleNone)
	require.NoError(t, err)
	fs := make([][]float64, 1000)
	for i := range fs {
		fs[i] = []float64{rng.Float64() * 10, rng.Float64() * 10, rng.Float64() * 10, rng.Float64() * 10}
	}
	require.NotNil(t, s.cur.search.CacheFriendlyOrder(len(fs), func(i int) []float64 { return fs[i][:] }))
	out := make([]knn.Prediction, len(fs))
	q := knn.Query{K: 5, Metric: knn.Manhattan}
	require.NoError(t, s.PredictBatch(context.Background(), out, fs, q))
	for i, f := range fs {
		var want knn.Prediction
		require.NoError(t, s.Predict(&want, f, q))
		require.Equal(t, want, out[i], "row %d", i)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, s.PredictBatch(ctx, out, fs, q), context.Canceled)
}

// valid checks a sample to write into st's set (Snapshot.NewSample),
// failing the test if it is not valid.
func valid(t testing.TB, st Store, id int64, f []float64, label string) ValidSample {
	t.Helper()
	v, err := st.Snapshot().NewSample(id, f, label)
	require.NoError(t, err)
	return v
}

// validOf is valid for a whole sample.
func validOf(t testing.TB, st Store, x Sample) ValidSample {
	t.Helper()
	return valid(t, st, x.ID, x.Features, x.Label)
}
