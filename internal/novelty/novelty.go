// Package novelty tells how unusual a query is for a training set, for free
// with every KNN prediction: the distance from the query to its nearest
// training sample is set against the distances from training samples to
// their own nearest other sample.
//
// A [Reference] is that distribution for one version of the training set,
// per metric: the nearest-other-sample distance of every sample, or of a
// seeded random sample of [SampleSize] of them when the set is larger, so
// that a set of a million rows costs a few thousand searches. A query's
// percentile is the share of those distances below its own nearest
// distance: 50 is a typical query, 100 one farther from the set than any
// training sample is from its nearest neighbour.
//
// A [Tracker] keeps the Reference of the newest version it has seen and
// builds the next one when the version changes, never on the write path: a
// small set's (at most [SyncBuildMax] samples, under a millisecond) on the
// first query of the new version, a larger set's in the background, and
// until that is ready queries are set against the previous version's.
package novelty

import (
	"context"
	"math/rand/v2"
	"slices"
	"sort"
	"sync/atomic"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/knn"
)

// SampleSize is the most training samples whose nearest-neighbour distance
// goes into a Reference. Larger sets are sampled (seeded by the version, so
// a version always gets the same Reference); 4096 distances place the 99th
// percentile to within about a third of a percentile point.
const SampleSize = 4096

// DefaultThreshold is the percentile above which a query is unusual
// (-novelty-percentile).
const DefaultThreshold = 99.0

// Reference is the distribution of nearest-neighbour distances within one
// version of a training set, per metric.
type Reference struct {
	version uint64
	dists   [3][]float64 // by knn.Metric, sorted ascending
}

// Version is the training-set version the Reference was built from.
func (r *Reference) Version() uint64 { return r.version }

// Size is the number of distances per metric (the sample's size).
func (r *Reference) Size() int { return len(r.dists[knn.Euclidean]) }

// Build computes the Reference of snap: for each sampled training sample
// and each metric, the distance to its nearest other sample (0 when another
// sample has the same features). It stops with ctx's error when ctx is done.
func Build(ctx context.Context, snap *dataset.Snapshot) (*Reference, error) {
	r := &Reference{version: snap.Version()}
	if snap.Len() < 2 {
		return r, nil // no sample has a neighbour: every query is usual
	}
	sample := sampleOf(snap, SampleSize)
	var pr knn.Prediction
	for _, m := range knn.Metrics() {
		d := make([]float64, 0, len(sample))
		q := knn.Query{K: 2, Metric: m, Weights: knn.Uniform}
		for i, x := range sample {
			if i%256 == 0 && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if err := snap.Predict(&pr, x.Features, q); err != nil {
				return nil, err
			}
			// The sample itself is one of the two nearest (at distance 0)
			// unless other samples share its point, when the first is one
			// of them at distance 0 all the same.
			nb := pr.Neighbors[0]
			if nb.ID == x.ID {
				nb = pr.Neighbors[1]
			}
			d = append(d, nb.Distance)
		}
		slices.Sort(d)
		r.dists[m] = d
	}
	return r, nil
}

// sampleOf returns every sample when there are at most n, else n of them
// chosen by reservoir sampling seeded with the version.
func sampleOf(snap *dataset.Snapshot, n int) []dataset.Sample {
	out := make([]dataset.Sample, 0, min(n, snap.Len()))
	rng := rand.New(rand.NewPCG(snap.Version(), 0x6e6f76656c7479))
	seen := 0
	snap.All(func(x dataset.Sample) bool {
		if seen < n {
			out = append(out, x)
		} else if j := rng.IntN(seen + 1); j < n {
			out[j] = x
		}
		seen++
		return true
	})
	return out
}

// Percentile returns the share, in percent, of the Reference's distances
// under metric m that are smaller than nearest: 0 for a query at least as
// close to the set as every sampled sample is to its neighbour, 100 for
// one farther than all of them. An empty Reference gives 0.
func (r *Reference) Percentile(m knn.Metric, nearest float64) float64 {
	d := r.dists[m]
	if len(d) == 0 {
		return 0
	}
	below := sort.SearchFloat64s(d, nearest) // the first index with d[i] >= nearest
	return 100 * float64(below) / float64(len(d))
}

// Assessment is how unusual one query is.
type Assessment struct {
	// Percentile is the query's nearest distance as a percentile of the
	// training set's nearest-neighbour distances (0..100).
	Percentile float64
	// Unusual is true when Percentile is above the Tracker's threshold:
	// the query is unlike the training samples, and its answer a guess.
	Unusual bool
}

// Tracker assesses queries against the Reference of the newest training-set
// version it has seen. It is safe for concurrent use; Assess allocates
// nothing and never waits for a build, except for the very first one.
type Tracker struct {
	threshold float64
	ref       atomic.Pointer[Reference]
	building  atomic.Bool
}

// NewTracker returns a Tracker that flags queries above the threshold
// percentile (0 or less means DefaultThreshold).
func NewTracker(threshold float64) *Tracker {
	if threshold <= 0 {
		threshold = DefaultThreshold
	}
	return &Tracker{threshold: threshold}
}

// Threshold is the percentile above which a query is unusual.
func (t *Tracker) Threshold() float64 { return t.threshold }

// Assess tells how unusual a query is whose nearest training sample under
// metric m is at distance nearest in snap. When snap is newer than the
// Reference, a background build for it starts and this query is set
// against the older Reference; only the first call of all builds one
// first, on the caller's goroutine.
func (t *Tracker) Assess(snap *dataset.Snapshot, m knn.Metric, nearest float64) Assessment {
	ref := t.reference(snap)
	p := ref.Percentile(m, nearest)
	return Assessment{Percentile: p, Unusual: p > t.threshold}
}

// reference returns the Reference to use for snap, starting a background
// build when snap is newer.
func (t *Tracker) reference(snap *dataset.Snapshot) *Reference {
	ref := t.ref.Load()
	if ref == nil {
		// The first query of all: nothing to fall back on. Build it here
		// (a few ms even for a large set: the sample is bounded).
		r, err := Build(context.Background(), snap)
		if err != nil {
			return &Reference{}
		}
		t.ref.CompareAndSwap(nil, r)
		return t.ref.Load()
	}
	// Only a newer version starts a build: a query pinned to an older one
	// is set against the newest Reference.
	if snap.Version() <= ref.version {
		return ref
	}
	if snap.Len() <= SyncBuildMax {
		// A small set's Reference costs less than a millisecond: build it
		// here, so that every answer of a version is set against that
		// version (answers stay reproducible, cached or not).
		if r, err := Build(context.Background(), snap); err == nil {
			t.store(r)
			return r
		}
		return ref
	}
	if t.building.CompareAndSwap(false, true) {
		go t.build(snap)
	}
	return ref
}

// SyncBuildMax is the largest training set whose Reference is built on the
// first query of a new version rather than in the background.
const SyncBuildMax = 1024

// store keeps r unless a newer Reference is already kept.
func (t *Tracker) store(r *Reference) {
	for {
		old := t.ref.Load()
		if old != nil && old.version >= r.version {
			return
		}
		if t.ref.CompareAndSwap(old, r) {
			return
		}
	}
}

// Prime builds snap's Reference in the background, so that the first
// query does not wait for it.
func (t *Tracker) Prime(snap *dataset.Snapshot) {
	if t.building.CompareAndSwap(false, true) {
		go t.build(snap)
	}
}

func (t *Tracker) build(snap *dataset.Snapshot) {
	defer t.building.Store(false)
	r, err := Build(context.Background(), snap)
	if err != nil {
		return
	}
	t.store(r)
}
