package dataset

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/irisknn/irisknn/internal/knn"
)

// Snapshot is one immutable version of the training set. All its methods
// are safe for concurrent use and never block.
//
// The samples live only in a live KNN index (knn.Index): a k-d tree plus a
// small log of the writes since it was built. Versions share the tree and
// the log, so Apply costs time independent of the number of samples, and a
// million samples take about 60 bytes each (features, id and label, the
// tree, an id table and tombstones).
type Snapshot struct {
	schema  *Schema
	version uint64
	nextID  int64      // the id the next POST assigns
	classes []string   // sorted; fixed by the loaded data
	index   *knn.Index // the current samples
	initial *knn.Index // the loaded set, restored by a reset; shared
	counts  []int      // samples per class; shared, never modified
}

// NewSnapshot returns version 1 of a training set of the given schema made
// of initial, which must be non-empty with unique positive ids and valid
// values. The labels found in initial become the set's classes for its whole
// life. initial is not retained.
func NewSnapshot(schema *Schema, initial []Sample) (*Snapshot, error) {
	if len(initial) == 0 {
		return nil, errors.New("a training set needs at least one sample")
	}
	classes := Classes(initial)
	if len(classes) > MaxClasses {
		return nil, fmt.Errorf("%d classes: at most %d are supported", len(classes), MaxClasses)
	}
	s := &Snapshot{schema: schema, version: 1, classes: classes}
	index, counts, err := s.buildIndex(initial)
	if err != nil {
		return nil, err
	}
	s.index, s.initial, s.counts = index, index, counts
	s.nextID = maxID(initial) + 1
	return s, nil
}

func maxID(samples []Sample) int64 {
	var m int64
	for _, x := range samples {
		m = max(m, x.ID)
	}
	return m
}

// buildIndex validates samples against s's classes and indexes them.
func (s *Snapshot) buildIndex(samples []Sample) (*knn.Index, []int, error) {
	dim := s.schema.Dim()
	ids := make([]int64, len(samples))
	points := make([]float64, len(samples)*dim)
	labels := make([]uint8, len(samples))
	counts := make([]int, len(s.classes))
	// Samples of one class usually come in runs: remember the last.
	last, lastLabel := "", -1
	for i, x := range samples {
		if x.ID < 1 {
			return nil, nil, fmt.Errorf("sample id %d: ids must be positive", x.ID)
		}
		if err := s.schema.CheckFeatures("features", x.Features); err != nil {
			return nil, nil, fmt.Errorf("sample %d: %w", x.ID, err)
		}
		if x.Label != last || lastLabel < 0 {
			l, ok := s.ClassIndex(x.Label)
			if !ok {
				return nil, nil, fmt.Errorf("sample %d: %w", x.ID, s.unknownClass(x.Label))
			}
			last, lastLabel = x.Label, l
		}
		ids[i] = x.ID
		copy(points[i*dim:], x.Features)
		labels[i] = uint8(lastLabel)
		counts[lastLabel]++
	}
	index, err := knn.NewIndexOwned(dim, s.classes, ids, points, labels)
	if err != nil {
		if msg := err.Error(); strings.HasPrefix(msg, "knn: id ") {
			return nil, nil, fmt.Errorf("sample id %s", strings.TrimPrefix(msg, "knn: id "))
		}
		return nil, nil, err
	}
	return index, counts, nil
}

// sample returns the domain sample for an indexed point.
func (s *Snapshot) sample(id int64, p []float64, label int) Sample {
	return Sample{ID: id, Features: slices.Clone(p), Label: s.classes[label]}
}

// unknownClass is the error for a label that is not one of the classes.
func (s *Snapshot) unknownClass(label string) error {
	return Invalidf(s.schema.label, "unknown %s %q: want one of %v", s.schema.label, label, s.classes)
}

// Schema returns the set's schema.
func (s *Snapshot) Schema() *Schema { return s.schema }

// Version returns the snapshot's version: 1 for the loaded set, one more for
// every change since.
func (s *Snapshot) Version() uint64 { return s.version }

// Len returns the number of samples.
func (s *Snapshot) Len() int { return s.index.Len() }

// NextID returns the id that the next created sample gets: one more than the
// largest id ever used, so a deleted id is never handed out again.
func (s *Snapshot) NextID() int64 { return s.nextID }

// Classes returns the sorted labels; do not modify the result.
func (s *Snapshot) Classes() []string { return s.classes }

// ClassIndex returns the position of label in Classes.
func (s *Snapshot) ClassIndex(label string) (int, bool) {
	return slices.BinarySearch(s.classes, label)
}

// Get returns the sample with the given id.
func (s *Snapshot) Get(id int64) (Sample, bool) {
	p, label, ok := s.index.Lookup(nil, id)
	if !ok {
		return Sample{}, false
	}
	return s.sample(id, p, label), true
}

// find reports whether a sample with id exists (the int is not meaningful:
// samples have no positions any more).
func (s *Snapshot) find(id int64) (int, bool) {
	return 0, s.index.Has(id)
}

// Filter selects samples for List.
type Filter struct {
	Label string // only this class; "" for all
	Limit int    // at most this many
	// Offset skips this many matching samples first: the skipped ones are
	// walked, so a deep offset costs time in proportion to it.
	Offset int
	// AfterID starts after this id (a cursor: the last id of the page
	// before). It seeks in the index, so every page costs the same at any
	// depth. Ids are positive: 0 starts at the beginning.
	AfterID int64
}

// List returns the samples matching f ordered by id, and the total number
// matching before paging.
func (s *Snapshot) List(f Filter) (page []Sample, total int) {
	want := -1
	if f.Label != "" {
		l, ok := s.ClassIndex(f.Label)
		if !ok {
			return []Sample{}, 0
		}
		want = l
		total = s.counts[l]
	} else {
		total = s.Len()
	}
	if f.Limit <= 0 || f.Offset >= total {
		return []Sample{}, total
	}
	page = make([]Sample, 0, min(f.Limit, total-f.Offset))
	skip := f.Offset
	s.index.After(f.AfterID, func(id int64, p []float64, label int) bool {
		if want >= 0 && label != want {
			return true
		}
		if skip > 0 {
			skip--
			return true
		}
		page = append(page, s.sample(id, p, label))
		return len(page) < f.Limit
	})
	return page, total
}

// Counts returns the number of samples of each class, in Classes order.
func (s *Snapshot) Counts() []int { return slices.Clone(s.counts) }

// CheckQuery validates a query against this snapshot.
func (s *Snapshot) CheckQuery(q knn.Query) error {
	if err := q.Check(s.Len()); err != nil {
		field := "k"
		switch {
		case errors.Is(err, knn.ErrMetric):
			field = "metric"
		case errors.Is(err, knn.ErrWeights):
			field = "weights"
		}
		return Invalidf(field, "%v", err)
	}
	return nil
}

// Predict classifies f into pr, reusing pr's slices. Probabilities are in
// Classes order; neighbours' labels index Classes.
func (s *Snapshot) Predict(pr *knn.Prediction, f []float64, q knn.Query) error {
	if err := s.CheckQuery(q); err != nil {
		return err
	}
	if err := s.schema.CheckFeatures("features", f); err != nil {
		return err
	}
	return s.index.PredictInto(pr, f, q)
}

// parallelMin is the batch size from which PredictBatch uses every CPU.
// Below it a batch takes under about 150 us on one goroutine; splitting it
// costs goroutine wake-ups (futex calls) that, under concurrent requests,
// buy no throughput: every CPU is busy with other requests anyway.
const parallelMin = 256

// PredictBatch classifies every row of fs into out (which must have the
// same length), using all CPUs for large batches. It stops early, returning
// ctx's error, when ctx is done.
func (s *Snapshot) PredictBatch(ctx context.Context, out []knn.Prediction, fs [][]float64, q knn.Query) error {
	if len(out) != len(fs) {
		return fmt.Errorf("dataset: %d outputs for %d rows", len(out), len(fs))
	}
	if err := s.CheckQuery(q); err != nil {
		return err
	}
	for i, f := range fs {
		if err := s.schema.CheckFeatures(fmt.Sprintf("instances[%d]", i), f); err != nil {
			return err
		}
	}
	// A big batch on a big set is searched in tree order (the answers
	// land in their rows all the same): neighbouring queries then share
	// the cache.
	order := s.index.CacheFriendlyOrder(len(fs), func(i int) []float64 { return fs[i] })
	workers := min(runtime.GOMAXPROCS(0), (len(fs)+parallelMin-1)/parallelMin)
	if order != nil {
		return s.predictOrdered(ctx, out, fs, q, order, workers)
	}
	if workers <= 1 {
		return s.predictRange(ctx, out, fs, q)
	}
	var (
		wg   sync.WaitGroup
		errs = make([]error, workers)
		per  = (len(fs) + workers - 1) / workers
	)
	for w := range workers {
		lo, hi := w*per, min((w+1)*per, len(fs))
		wg.Go(func() { errs[w] = s.predictRange(ctx, out[lo:hi], fs[lo:hi], q) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// predictOrdered predicts rows order[0], order[1], ... on workers
// goroutines.
func (s *Snapshot) predictOrdered(ctx context.Context, out []knn.Prediction, fs [][]float64, q knn.Query, order []int32, workers int) error {
	var (
		wg   sync.WaitGroup
		errs = make([]error, workers)
		per  = (len(order) + workers - 1) / workers
	)
	for w := range workers {
		part := order[w*per : min((w+1)*per, len(order))]
		wg.Go(func() {
			for j, i := range part {
				if j%256 == 0 && ctx.Err() != nil {
					errs[w] = ctx.Err()
					return
				}
				if err := s.index.PredictInto(&out[i], fs[i], q); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *Snapshot) predictRange(ctx context.Context, out []knn.Prediction, fs [][]float64, q knn.Query) error {
	for i := range fs {
		if i%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if err := s.index.PredictInto(&out[i], fs[i], q); err != nil {
			return err
		}
	}
	return nil
}

// State is the recorded state of a training set, from which RestoreSnapshot
// rebuilds a snapshot.
type State struct {
	Schema  *Schema
	Initial []Sample // the loaded set, restored by a reset
	Current []Sample // the samples now
	Version uint64
	NextID  int64
}

// RestoreSnapshot rebuilds a snapshot from recorded state. Durable and
// replicated stores use it to recover or to resynchronise.
func RestoreSnapshot(st State) (*Snapshot, error) {
	initial, current, version, nextID := st.Initial, st.Current, st.Version, st.NextID
	s, err := NewSnapshot(st.Schema, initial)
	if err != nil {
		return nil, fmt.Errorf("loaded set: %w", err)
	}
	if version < 1 {
		return nil, fmt.Errorf("version %d: versions start at 1", version)
	}
	if len(current) == 0 {
		return nil, errors.New("a training set needs at least one sample")
	}
	for _, x := range current {
		if err := s.checkSample(x); err != nil {
			return nil, fmt.Errorf("sample %d: %w", x.ID, err)
		}
	}
	index, counts, err := s.buildIndex(current)
	if err != nil {
		return nil, err
	}
	if last := maxID(current); nextID <= last {
		return nil, fmt.Errorf("next id %d is not above the largest id %d", nextID, last)
	}
	s.version = version
	s.nextID = max(nextID, s.nextID)
	s.index, s.counts = index, counts
	return s, nil
}

// Initial returns the loaded set that a reset restores, ordered by id. It
// is built on each call (the set is kept only in its index); do not call it
// on a hot path.
func (s *Snapshot) Initial() []Sample {
	out := make([]Sample, 0, s.initial.Len())
	s.initial.All(func(id int64, p []float64, label int) bool {
		out = append(out, s.sample(id, p, label))
		return true
	})
	return out
}

// All calls yield for every sample in id order until it returns false.
func (s *Snapshot) All(yield func(Sample) bool) {
	s.index.All(func(id int64, p []float64, label int) bool {
		return yield(s.sample(id, p, label))
	})
}

// apply returns the snapshot that c produces from s (see Apply): each
// write costs time independent of the number of samples.
func (s *Snapshot) apply(c Change) (*Snapshot, error) {
	next := &Snapshot{schema: s.schema, version: c.Version, nextID: s.nextID, classes: s.classes, index: s.index, initial: s.initial, counts: s.counts}
	switch c.Op {
	case OpPut:
		if err := s.checkSample(c.Sample); err != nil {
			return nil, err
		}
		label, _ := s.ClassIndex(c.Sample.Label)
		index, old, err := s.index.Put(c.Sample.ID, c.Sample.Features, label)
		if err != nil {
			return nil, err
		}
		next.index = index
		next.counts = slices.Clone(s.counts)
		next.counts[label]++
		if old >= 0 {
			next.counts[old]--
		}
		next.nextID = max(next.nextID, c.Sample.ID+1)
	case OpDelete:
		if !s.index.Has(c.ID) {
			return nil, NotFoundf("no sample with id %d", c.ID)
		}
		if s.Len() == 1 {
			return nil, &Error{Kind: KindConflict, Message: "cannot delete the last sample: a training set needs at least one"}
		}
		index, old := s.index.Delete(c.ID)
		next.index = index
		next.counts = slices.Clone(s.counts)
		next.counts[old]--
	case OpReset:
		next.index = s.initial
		next.counts = make([]int, len(s.classes))
		s.initial.All(func(_ int64, _ []float64, label int) bool {
			next.counts[label]++
			return true
		})
		next.nextID = max(s.nextID, s.initialMaxID()+1)
	default:
		return nil, fmt.Errorf("dataset: unknown change op %v", c.Op)
	}
	return next, nil
}

// initialMaxID returns the largest id of the loaded set.
func (s *Snapshot) initialMaxID() int64 {
	var m int64
	s.initial.All(func(id int64, _ []float64, _ int) bool {
		m = id
		return true
	})
	return m
}
