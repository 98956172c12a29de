package iris

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"sync"

	"github.com/irisknn/irisknn/internal/knn"
)

// Snapshot is one immutable version of the training set. All its methods
// are safe for concurrent use and never block.
type Snapshot struct {
	version uint64
	nextID  int64    // the id the next POST assigns
	classes []string // sorted; fixed by the loaded data
	samples []Sample // sorted by id
	initial []Sample // the loaded set, restored by a reset; shared, never modified
	index   *knn.Dataset
}

// NewSnapshot returns version 1 of a training set made of initial, which
// must be non-empty with unique positive ids and valid values. The species
// found in initial become the set's classes for its whole life.
func NewSnapshot(initial []Sample) (*Snapshot, error) {
	if len(initial) == 0 {
		return nil, errors.New("a training set needs at least one sample")
	}
	classes := Classes(initial)
	if len(classes) > MaxClasses {
		return nil, fmt.Errorf("%d species: at most %d are supported", len(classes), MaxClasses)
	}
	samples := slices.Clone(initial)
	slices.SortFunc(samples, func(a, b Sample) int { return cmpID(a.ID, b.ID) })
	for i, s := range samples {
		if s.ID < 1 {
			return nil, fmt.Errorf("sample id %d: ids must be positive", s.ID)
		}
		if i > 0 && samples[i-1].ID == s.ID {
			return nil, fmt.Errorf("sample id %d appears twice", s.ID)
		}
		if err := CheckFeatures(s.Features); err != nil {
			return nil, fmt.Errorf("sample %d: %w", s.ID, err)
		}
	}
	s := &Snapshot{version: 1, classes: classes, initial: samples}
	s.setSamples(samples)
	s.nextID = samples[len(samples)-1].ID + 1
	return s, nil
}

func cmpID(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// setSamples installs samples (sorted by id) and builds the index.
func (s *Snapshot) setSamples(samples []Sample) {
	s.samples = samples
	d := knn.NewDataset(Dim, s.classes)
	d.Grow(len(samples))
	for _, x := range samples {
		label, _ := s.ClassIndex(x.Species)
		if err := d.Add(x.ID, x.Features[:], label); err != nil {
			panic(fmt.Sprintf("iris: sample %d passed validation but not the index: %v", x.ID, err))
		}
	}
	s.index = d
}

// Version returns the snapshot's version: 1 for the loaded set, one more for
// every change since.
func (s *Snapshot) Version() uint64 { return s.version }

// Len returns the number of samples.
func (s *Snapshot) Len() int { return len(s.samples) }

// NextID returns the id that the next created sample gets: one more than the
// largest id ever used, so a deleted id is never handed out again.
func (s *Snapshot) NextID() int64 { return s.nextID }

// Classes returns the sorted species names; do not modify the result.
func (s *Snapshot) Classes() []string { return s.classes }

// ClassIndex returns the position of species in Classes.
func (s *Snapshot) ClassIndex(species string) (int, bool) {
	return slices.BinarySearch(s.classes, species)
}

// Get returns the sample with the given id.
func (s *Snapshot) Get(id int64) (Sample, bool) {
	i, ok := s.find(id)
	if !ok {
		return Sample{}, false
	}
	return s.samples[i], true
}

func (s *Snapshot) find(id int64) (int, bool) {
	i := sort.Search(len(s.samples), func(i int) bool { return s.samples[i].ID >= id })
	return i, i < len(s.samples) && s.samples[i].ID == id
}

// Filter selects samples for List.
type Filter struct {
	Species string // only this species; "" for all
	Limit   int    // at most this many
	Offset  int    // after skipping this many
}

// List returns the samples matching f ordered by id, and the total number
// matching before paging.
func (s *Snapshot) List(f Filter) (page []Sample, total int) {
	if f.Species == "" {
		total = len(s.samples)
		lo := min(f.Offset, total)
		hi := min(lo+f.Limit, total)
		return slices.Clone(s.samples[lo:hi]), total
	}
	for _, x := range s.samples {
		if x.Species != f.Species {
			continue
		}
		if total >= f.Offset && len(page) < f.Limit {
			page = append(page, x)
		}
		total++
	}
	return page, total
}

// Counts returns the number of samples of each class, in Classes order.
func (s *Snapshot) Counts() []int {
	counts := make([]int, len(s.classes))
	for _, x := range s.samples {
		i, _ := s.ClassIndex(x.Species)
		counts[i]++
	}
	return counts
}

// CheckQuery validates a query against this snapshot.
func (s *Snapshot) CheckQuery(q knn.Query) error {
	if err := q.Check(len(s.samples)); err != nil {
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
func (s *Snapshot) Predict(pr *knn.Prediction, f Features, q knn.Query) error {
	if err := s.CheckQuery(q); err != nil {
		return err
	}
	if err := CheckFeatures(f); err != nil {
		return err
	}
	return s.index.PredictInto(pr, f[:], q)
}

// parallelMin is the batch size from which PredictBatch uses every CPU.
const parallelMin = 64

// PredictBatch classifies every row of fs into out (which must have the
// same length), using all CPUs for large batches. It stops early, returning
// ctx's error, when ctx is done.
func (s *Snapshot) PredictBatch(ctx context.Context, out []knn.Prediction, fs []Features, q knn.Query) error {
	if len(out) != len(fs) {
		return fmt.Errorf("iris: %d outputs for %d rows", len(out), len(fs))
	}
	if err := s.CheckQuery(q); err != nil {
		return err
	}
	for i, f := range fs {
		if err := CheckFeatures(f); err != nil {
			field := fmt.Sprintf("instances[%d]", i)
			return Invalidf(field, "%s: %s", field, err.(*Error).Message)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), (len(fs)+parallelMin-1)/parallelMin)
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

func (s *Snapshot) predictRange(ctx context.Context, out []knn.Prediction, fs []Features, q knn.Query) error {
	for i := range fs {
		if i%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if err := s.index.PredictInto(&out[i], fs[i][:], q); err != nil {
			return err
		}
	}
	return nil
}

// RestoreSnapshot rebuilds a snapshot from recorded state: the loaded set
// (restored by a reset), the current samples, the version and the next id.
// Durable and replicated stores use it to recover or to resynchronise.
func RestoreSnapshot(initial, current []Sample, version uint64, nextID int64) (*Snapshot, error) {
	s, err := NewSnapshot(initial)
	if err != nil {
		return nil, fmt.Errorf("loaded set: %w", err)
	}
	if version < 1 {
		return nil, fmt.Errorf("version %d: versions start at 1", version)
	}
	cur := slices.Clone(current)
	slices.SortFunc(cur, func(a, b Sample) int { return cmpID(a.ID, b.ID) })
	for i, x := range cur {
		if i > 0 && cur[i-1].ID == x.ID {
			return nil, fmt.Errorf("sample id %d appears twice", x.ID)
		}
		if err := s.checkSample(x); err != nil {
			return nil, fmt.Errorf("sample %d: %w", x.ID, err)
		}
	}
	if len(cur) == 0 {
		return nil, errors.New("a training set needs at least one sample")
	}
	if last := cur[len(cur)-1].ID; nextID <= last {
		return nil, fmt.Errorf("next id %d is not above the largest id %d", nextID, last)
	}
	s.version = version
	s.nextID = max(nextID, s.nextID)
	s.setSamples(cur)
	return s, nil
}

// Initial returns the loaded set that a reset restores, ordered by id; do
// not modify it.
func (s *Snapshot) Initial() []Sample { return s.initial }

// All calls yield for every sample in id order until it returns false.
func (s *Snapshot) All(yield func(Sample) bool) {
	for _, x := range s.samples {
		if !yield(x) {
			return
		}
	}
}
