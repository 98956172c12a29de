package novelty

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/knn"
)

// dist is the brute-force oracle's own distance, written apart from knn's.
func dist(m knn.Metric, a, b []float64) float64 {
	var s float64
	for i := range a {
		d := math.Abs(a[i] - b[i])
		switch m {
		case knn.Euclidean:
			s += d * d
		case knn.Manhattan:
			s += d
		case knn.Chebyshev:
			s = math.Max(s, d)
		}
	}
	if m == knn.Euclidean {
		return math.Sqrt(s)
	}
	return s
}

// bruteNearest is the distance from f to the nearest sample other than skip.
func bruteNearest(m knn.Metric, samples []dataset.Sample, f []float64, skip int64) float64 {
	best := math.Inf(1)
	for _, x := range samples {
		if x.ID != skip {
			best = math.Min(best, dist(m, f, x.Features))
		}
	}
	return best
}

// brutePercentile is the share in percent of ref below d.
func brutePercentile(ref []float64, d float64) float64 {
	n := 0
	for _, r := range ref {
		if r < d {
			n++
		}
	}
	return 100 * float64(n) / float64(len(ref))
}

func randomSamples(n int, seed uint64) []dataset.Sample {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]dataset.Sample, n)
	for i := range out {
		f := make([]float64, 4)
		for j := range f {
			f[j] = math.Round(r.NormFloat64()*20) / 10 // one decimal, as Iris: duplicates happen
		}
		out[i] = dataset.Sample{ID: int64(i + 1), Features: f, Label: []string{"a", "b", "c"}[r.IntN(3)]}
	}
	return out
}

func iris(t *testing.T) []dataset.Sample {
	t.Helper()
	s, err := dataset.ParseCSV(bytes.NewReader(data.IrisCSV), "")
	require.NoError(t, err)
	return s.Samples
}

// schema4 is the schema of randomSamples: four features, like Iris.
var schema4 = dataset.IrisSchema()

// Against brute force, on sets small enough that every sample is in the
// Reference: the Reference's distances, and the percentile of queries near,
// on and far from the data.
func TestPercentileMatchesBruteForce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		samples []dataset.Sample
	}{
		{"iris", nil},
		{"random 500 with duplicates", randomSamples(500, 7)},
		{"two samples", randomSamples(2, 3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			samples := tc.samples
			if samples == nil {
				samples = iris(t)
			}
			snap, err := dataset.NewSnapshot(schema4, samples, dataset.ScaleNone)
			require.NoError(t, err)
			ref, err := Build(context.Background(), snap)
			require.NoError(t, err)
			require.Equal(t, len(samples), ref.Size(), "every sample is in the reference")
			r := rand.New(rand.NewPCG(11, 12))
			for _, m := range knn.Metrics() {
				want := make([]float64, len(samples))
				for i, x := range samples {
					want[i] = bruteNearest(m, samples, x.Features, x.ID)
				}
				slices.Sort(want)
				assert.InDeltaSlice(t, want, ref.dists[m], 1e-12, "%s: nearest-neighbour distances", m)

				queries := [][]float64{samples[0].Features, {500, 3.5, 1.4, 0.2}, {-3, 0, 0, 0}}
				for range 200 {
					x := slices.Clone(samples[r.IntN(len(samples))].Features)
					for j := range x {
						x[j] += r.NormFloat64() * 0.3
					}
					queries = append(queries, x)
				}
				for _, q := range queries {
					d := bruteNearest(m, samples, q, -1)
					assert.InDelta(t, brutePercentile(want, d), ref.Percentile(m, d), 1e-9, "%s: query %v", m, q)
				}
			}
		})
	}
}

// Iris: the nonsense query is unusual at any threshold below 100, a
// training sample's own point is not.
func TestTrackerFlagsNonsense(t *testing.T) {
	snap, err := dataset.NewSnapshot(schema4, iris(t), dataset.ScaleNone)
	require.NoError(t, err)
	tr := NewTracker(0)
	assert.Equal(t, DefaultThreshold, tr.Threshold())
	for _, tc := range []struct {
		name    string
		nearest float64 // Euclidean distance to the nearest training sample
		unusual bool
		pct     float64
	}{
		{"on a training sample", 0, false, 0},
		{"{500,3.5,1.4,0.2}: 493 from everything", 493.1, true, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tr.Assess(snap, knn.Euclidean, tc.nearest)
			assert.Equal(t, tc.unusual, a.Unusual)
			assert.Equal(t, tc.pct, a.Percentile)
		})
	}
}

// A large set is sampled: the Reference has SampleSize distances, whose
// percentiles agree with the full distribution's to within a few points.
func TestLargeSetIsSampled(t *testing.T) {
	if testing.Short() {
		t.Skip("checks a 6,000-row reference by brute force")
	}
	samples := randomSamples(6000, 5)
	snap, err := dataset.NewSnapshot(schema4, samples, dataset.ScaleNone)
	require.NoError(t, err)
	ref, err := Build(context.Background(), snap)
	require.NoError(t, err)
	require.Equal(t, SampleSize, ref.Size())
	again, err := Build(context.Background(), snap)
	require.NoError(t, err)
	assert.Equal(t, ref.dists, again.dists, "the same version gets the same sample")
	full := make([]float64, len(samples))
	for i, x := range samples {
		full[i] = bruteNearest(knn.Manhattan, samples, x.Features, x.ID)
	}
	slices.Sort(full)
	for _, q := range []float64{0.1, 0.3, 0.5, 1, full[len(full)*99/100]} {
		assert.InDelta(t, brutePercentile(full, q), ref.Percentile(knn.Manhattan, q), 3, "percentile of %v", q)
	}
}

// After a write to a small set, the next query is set against the new
// version at once; a pinned query to the old version changes nothing.
func TestTrackerFollowsNewVersions(t *testing.T) {
	store := dataset.NewMemory(mustSnapshot(t, iris(t)), nil)
	tr := NewTracker(99)
	v1 := store.Snapshot()
	before := tr.Assess(v1, knn.Euclidean, 0.5)
	// Many far-apart samples make 0.5 a small distance.
	for i := range 150 {
		_, _, err := store.Create(context.Background(), validOf(t, store, []float64{100 + 10*float64(i), 0, 0, 0}, "setosa"))
		require.NoError(t, err)
	}
	v2 := store.Snapshot()
	after := tr.Assess(v2, knn.Euclidean, 0.5)
	assert.Equal(t, v2.Version(), tr.ref.Load().Version(), "built on the first query of the version")
	assert.Less(t, after.Percentile, before.Percentile, "with 150 isolated samples, 0.5 is nearer than before")
	tr.Assess(v1, knn.Euclidean, 0.5)
	assert.Equal(t, v2.Version(), tr.ref.Load().Version(), "a query pinned to the old version does not bring its reference back")
}

// A large set's next Reference is built in the background: the query that
// finds the new version is answered from the old one, later ones from the new.
func TestTrackerBuildsLargeSetsInTheBackground(t *testing.T) {
	store := dataset.NewMemory(mustSnapshot(t, randomSamples(SyncBuildMax+500, 9)), nil)
	tr := NewTracker(99)
	v1 := store.Snapshot()
	before := tr.Assess(v1, knn.Manhattan, 0.5)
	_, _, err := store.Create(context.Background(), validOf(t, store, []float64{0, 0, 0, 0}, "a"))
	require.NoError(t, err)
	v2 := store.Snapshot()
	assert.Equal(t, before, tr.Assess(v2, knn.Manhattan, 0.5), "answered from the old reference while the new one builds")
	require.Eventually(t, func() bool { return tr.ref.Load().Version() == v2.Version() }, 10*time.Second, 5*time.Millisecond)
}

func mustSnapshot(t *testing.T, s []dataset.Sample) *dataset.Snapshot {
	t.Helper()
	snap, err := dataset.NewSnapshot(schema4, s, dataset.ScaleNone)
	require.NoError(t, err)
	return snap
}

// validOf checks a new sample for st's current set.
func validOf(t testing.TB, st dataset.Store, f []float64, label string) dataset.ValidSample {
	t.Helper()
	v, err := st.Snapshot().NewSample(0, f, label)
	require.NoError(t, err)
	return v
}
