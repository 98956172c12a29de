package dataset

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"

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
// tree, an id table and tombstones). With scaling, the samples are kept
// twice: as written (what reads return, exactly) and scaled (what
// predictions search).
type Snapshot struct {
	schema  *Schema
	scaler  Scaler // of cur: fitted on the loaded set, or on the rows of the last replace
	loaded  Scaler // fitted on the loaded set: a reset restores it with initial
	version uint64
	lastID  int64    // the largest id ever used; POST assigns the next
	classes []string // sorted; fixed by the loaded data
	cur     points   // the current samples
	initial points   // the loaded set, restored by a reset; shared
	counts  []int    // samples per class; shared, never modified
	ranges  []Range  // of each feature in the loaded set; shared
}

// Range is the smallest and largest value of a feature.
type Range struct{ Min, Max float64 }

// rangesOf returns the range of each of dim features over samples.
func rangesOf(dim int, samples []Sample) []Range {
	r := make([]Range, dim)
	for j := range r {
		r[j] = Range{Min: math.Inf(1), Max: math.Inf(-1)}
	}
	for _, x := range samples {
		for j, v := range x.Features {
			r[j].Min, r[j].Max = min(r[j].Min, v), max(r[j].Max, v)
		}
	}
	return r
}

// points are a set of samples in the two forms a snapshot needs.
type points struct {
	rows   *knn.Index // the samples as written
	search *knn.Index // the samples scaled; rows itself without scaling
}

// NewSnapshot returns version 1 of a training set of the given schema made
// of initial, which must be non-empty with unique positive ids and valid
// values, with features scaled as kind says (fitted on initial). The labels
// found in initial become the set's classes for its whole life. initial is
// not retained.
func NewSnapshot(schema *Schema, initial []Sample, kind ScaleKind) (*Snapshot, error) {
	return newSnapshot(schema, initial, func() Scaler { return Fit(kind, schema.Dim(), initial) })
}

// newSnapshot is NewSnapshot with the scaler made by scaler (after the
// samples are checked).
func newSnapshot(schema *Schema, initial []Sample, scaler func() Scaler) (*Snapshot, error) {
	if len(initial) == 0 {
		return nil, errors.New("a training set needs at least one sample")
	}
	classes := classes(initial)
	if len(classes) > MaxClasses {
		return nil, fmt.Errorf("%d classes: at most %d are supported", len(classes), MaxClasses)
	}
	s := &Snapshot{schema: schema, version: 1, classes: classes}
	if err := s.checkAll(initial); err != nil {
		return nil, err
	}
	s.scaler = scaler()
	s.loaded = s.scaler
	p, counts, err := s.build(initial)
	if err != nil {
		return nil, err
	}
	s.cur, s.initial, s.counts = p, p, counts
	s.ranges = rangesOf(schema.Dim(), initial)
	s.lastID = maxID(initial)
	return s, nil
}

func maxID(samples []Sample) int64 {
	var m int64
	for _, x := range samples {
		m = max(m, x.ID)
	}
	return m
}

// checkAll validates samples (a loaded or recorded set) for s.
func (s *Snapshot) checkAll(samples []Sample) error {
	for _, x := range samples {
		if x.ID < 1 {
			return fmt.Errorf("sample id %d: ids must be positive", x.ID)
		}
		if err := s.schema.CheckFeatures("features", x.Features); err != nil {
			return fmt.Errorf("sample %d: %w", x.ID, err)
		}
	}
	return nil
}

// build indexes samples, checked by checkAll, in both forms.
func (s *Snapshot) build(samples []Sample) (points, []int, error) {
	dim := s.schema.Dim()
	ids := make([]int64, len(samples))
	raw := make([]float64, len(samples)*dim)
	labels := make([]uint8, len(samples))
	counts := make([]int, len(s.classes))
	// Samples of one class usually come in runs: remember the last.
	last, lastLabel := "", -1
	for i, x := range samples {
		if x.Label != last || lastLabel < 0 {
			l, ok := s.ClassIndex(x.Label)
			if !ok {
				return points{}, nil, fmt.Errorf("sample %d: %w", x.ID, s.unknownClass(x.Label))
			}
			last, lastLabel = x.Label, l
		}
		ids[i] = x.ID
		copy(raw[i*dim:], x.Features)
		labels[i] = uint8(lastLabel)
		counts[lastLabel]++
	}
	var scaled []float64
	if !s.scaler.Identity() {
		scaled = make([]float64, len(raw))
		for i, x := range samples {
			f, err := s.scaler.scaled(s.schema, "features", scaled[i*dim:i*dim], x.Features)
			if err != nil {
				return points{}, nil, fmt.Errorf("sample %d: %w", x.ID, err)
			}
			copy(scaled[i*dim:], f)
		}
	}
	index := func(points []float64) (*knn.Index, error) {
		ix, err := knn.NewIndexOwned(dim, s.classes, slices.Clone(ids), points, slices.Clone(labels))
		if dup, ok := errors.AsType[*knn.DuplicateIDError](err); ok {
			return nil, fmt.Errorf("sample id %d appears twice", dup.ID)
		}
		return ix, err
	}
	rows, err := index(raw)
	if err != nil {
		return points{}, nil, err
	}
	p := points{rows: rows, search: rows}
	if scaled != nil {
		if p.search, err = index(scaled); err != nil {
			return points{}, nil, err
		}
	}
	return p, counts, nil
}

// put returns p with the sample x (whose scaled features are f) added or
// replaced, and the label of the sample it replaced (-1 if none).
func (p points) put(x Sample, f []float64, label int) (points, int, error) {
	rows, old, err := p.rows.Put(x.ID, x.Features, label)
	if err != nil {
		return p, 0, err
	}
	if p.search == p.rows {
		return points{rows: rows, search: rows}, old, nil
	}
	search, _, err := p.search.Put(x.ID, f, label)
	if err != nil {
		return p, 0, err
	}
	return points{rows: rows, search: search}, old, nil
}

// del returns p without the sample with id, and that sample's label.
func (p points) del(id int64) (points, int) {
	rows, old := p.rows.Delete(id)
	if p.search == p.rows {
		return points{rows: rows, search: rows}, old
	}
	search, _ := p.search.Delete(id)
	return points{rows: rows, search: search}, old
}

// sample returns the domain sample for an indexed point.
func (s *Snapshot) sample(id int64, p []float64, label int) Sample {
	return Sample{ID: id, Features: slices.Clone(p), Label: s.classes[label]}
}

// unknownClass is the error for a label that is not one of the classes.
func (s *Snapshot) unknownClass(label string) error {
	return Invalidf(s.schema.label, "unknown %s %q: want one of %v", s.schema.label, label, s.classes)
}

// CheckClass reports whether label is one of the set's classes (a
// KindInvalid error naming the label's field otherwise).
func (s *Snapshot) CheckClass(label string) error {
	if _, ok := s.ClassIndex(label); !ok {
		return s.unknownClass(label)
	}
	return nil
}

// ValidSample is a sample checked for a training set: made only by
// Snapshot.NewSample, so a store takes it without checking it again.
type ValidSample struct {
	x      Sample
	schema *Schema
}

// Sample returns the sample.
func (v ValidSample) Sample() Sample { return v.x }

// NewSample checks a sample to write into this set (the one check of a
// written sample): a positive id (0 for one the store assigns), features
// accepted by Schema.CheckFeatures, a label among the classes. The classes
// and the schema are fixed for the set's life, so the result is valid for
// every later version too.
func (s *Snapshot) NewSample(id int64, features []float64, label string) (ValidSample, error) {
	if id < 0 {
		return ValidSample{}, Invalidf("id", "id must be a positive integer, got %d", id)
	}
	if err := s.schema.CheckFeatures("features", features); err != nil {
		return ValidSample{}, err
	}
	if err := s.CheckClass(label); err != nil {
		return ValidSample{}, err
	}
	return ValidSample{x: Sample{ID: id, Features: features, Label: label}, schema: s.schema}, nil
}

// Schema returns the set's schema.
func (s *Snapshot) Schema() *Schema { return s.schema }

// Ranges returns the range of each feature in the loaded set (the set a
// reset restores), in schema order; do not modify the result.
func (s *Snapshot) Ranges() []Range { return s.ranges }

// Scaler returns the scaler of the current samples: distances are measured
// between scaled features. It is fitted on the loaded set, and fitted again
// on the rows of an import with mode replace (a reset restores the loaded
// set's).
func (s *Snapshot) Scaler() Scaler { return s.scaler }

// LoadedScaler returns the scaler fitted on the loaded set, which a reset
// restores with it.
func (s *Snapshot) LoadedScaler() Scaler { return s.loaded }

// Version returns the snapshot's version: 1 for the loaded set, one more for
// every change since.
func (s *Snapshot) Version() uint64 { return s.version }

// Len returns the number of samples.
func (s *Snapshot) Len() int { return s.cur.rows.Len() }

// NextID returns the id that the next created sample gets: one more than the
// largest id ever used, so a deleted id is never handed out again. Once
// the largest int64 has been used no id is left, and it returns 0 (never
// an id).
func (s *Snapshot) NextID() int64 {
	if s.lastID == math.MaxInt64 {
		return 0
	}
	return s.lastID + 1
}

// Next is one more than the largest id ever used, as State records it.
func (s *Snapshot) Next() uint64 { return uint64(s.lastID) + 1 }

// Classes returns the sorted labels; do not modify the result.
func (s *Snapshot) Classes() []string { return s.classes }

// ClassIndex returns the position of label in Classes.
func (s *Snapshot) ClassIndex(label string) (int, bool) {
	return slices.BinarySearch(s.classes, label)
}

// Get returns the sample with the given id.
func (s *Snapshot) Get(id int64) (Sample, bool) {
	p, label, ok := s.cur.rows.Lookup(nil, id)
	if !ok {
		return Sample{}, false
	}
	return s.sample(id, p, label), true
}

// find reports whether a sample with id exists (the int is not meaningful:
// samples have no positions any more).
func (s *Snapshot) find(id int64) (int, bool) {
	return 0, s.cur.rows.Has(id)
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
	s.cur.rows.After(f.AfterID, func(id int64, p []float64, label int) bool {
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
// Classes order; neighbours' labels index Classes. The query must have
// passed CheckQuery and f Schema.CheckFeatures, where the input came in:
// Predict does not check them again. The one error it may add is a row
// too far outside the training range once scaled.
func (s *Snapshot) Predict(pr *knn.Prediction, f []float64, q knn.Query) error {
	if s.scaler.Identity() {
		return s.cur.search.PredictInto(pr, f, q)
	}
	buf := scratchPool.Get().(*[]float64)
	defer scratchPool.Put(buf)
	g, err := s.scaler.scaled(s.schema, "features", *buf, f)
	if err != nil {
		return err
	}
	*buf = g
	return s.cur.search.PredictInto(pr, g, q)
}

// scratchPool holds buffers for scaled queries.
var scratchPool = sync.Pool{New: func() any { return new([]float64) }}

// scaleRows returns the rows scaled for the search (fs itself without
// scaling).
func (s *Snapshot) scaleRows(fs [][]float64) ([][]float64, error) {
	if s.scaler.Identity() {
		return fs, nil
	}
	dim := s.schema.Dim()
	all := make([]float64, len(fs)*dim)
	out := make([][]float64, len(fs))
	for i, f := range fs {
		dst := all[i*dim : i*dim : (i+1)*dim]
		g, err := s.scaler.scaled(s.schema, "", dst, f)
		if err != nil {
			// Name the row only once it is found wrong: formatting every
			// row's name cost an allocation a row.
			_, err = s.scaler.scaled(s.schema, fmt.Sprintf("instances[%d]", i), dst, f)
			return nil, err
		}
		out[i] = g
	}
	return out, nil
}

// parallelMin is the batch size from which PredictBatch uses every CPU.
// Below it a batch takes under about 150 us on one goroutine; splitting it
// costs goroutine wake-ups (futex calls) that, under concurrent requests,
// buy no throughput: every CPU is busy with other requests anyway.
const parallelMin = 256

// PredictBatch classifies every row of fs into out (which must have the
// same length), using all CPUs for large batches, under the same contract
// as Predict. It stops early, returning ctx's error, when ctx is done.
func (s *Snapshot) PredictBatch(ctx context.Context, out []knn.Prediction, fs [][]float64, q knn.Query) error {
	if len(out) != len(fs) {
		return fmt.Errorf("dataset: %d outputs for %d rows", len(out), len(fs))
	}
	fs, err := s.scaleRows(fs)
	if err != nil {
		return err
	}
	// A big batch on a big set is searched in tree order (the answers
	// land in their rows all the same): neighbouring queries then share
	// the cache.
	order := s.cur.search.CacheFriendlyOrder(len(fs), func(i int) []float64 { return fs[i] })
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
				if err := s.cur.search.PredictInto(&out[i], fs[i], q); err != nil {
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
		if err := s.cur.search.PredictInto(&out[i], fs[i], q); err != nil {
			return err
		}
	}
	return nil
}

// State is the recorded state of a training set, from which RestoreSnapshot
// rebuilds a snapshot.
type State struct {
	Schema *Schema
	Scaler Scaler // as fitted on Initial when the set was loaded
	// CurrentScaler is the scaler of Current when an import with mode
	// replace fitted it again; the zero value means Scaler.
	CurrentScaler Scaler
	Initial       []Sample // the loaded set, restored by a reset
	Current       []Sample // the samples now
	Version       uint64
	// Next is one more than the largest id ever used (so 1<<63 once
	// 9223372036854775807 has been used: then no id is left for POST).
	Next uint64
}

// RestoreSnapshot rebuilds a snapshot from recorded state. Durable and
// replicated stores use it to recover or to resynchronise.
func RestoreSnapshot(st State) (*Snapshot, error) {
	s, err := newSnapshot(st.Schema, st.Initial, func() Scaler { return st.Scaler })
	if err != nil {
		return nil, fmt.Errorf("loaded set: %w", err)
	}
	if err := st.Scaler.check(st.Schema.Dim()); err != nil {
		return nil, err
	}
	if st.Version < 1 {
		return nil, fmt.Errorf("version %d: versions start at 1", st.Version)
	}
	if len(st.Current) == 0 {
		return nil, errors.New("a training set needs at least one sample")
	}
	if err := s.checkAll(st.Current); err != nil {
		return nil, err
	}
	if st.CurrentScaler.Kind != ScaleNone {
		if st.CurrentScaler.Kind != st.Scaler.Kind {
			return nil, fmt.Errorf("current scaler %v differs in kind from the loaded set's %v", st.CurrentScaler.Kind, st.Scaler.Kind)
		}
		if err := st.CurrentScaler.check(st.Schema.Dim()); err != nil {
			return nil, err
		}
		s.scaler = st.CurrentScaler
	}
	cur, counts, err := s.build(st.Current)
	if err != nil {
		return nil, err
	}
	if last := uint64(maxID(st.Current)); st.Next <= last || st.Next > 1<<63 {
		return nil, fmt.Errorf("next id %d is not above the largest id %d", st.Next, last)
	}
	s.version = st.Version
	s.lastID = max(int64(st.Next-1), s.lastID)
	s.cur, s.counts = cur, counts
	return s, nil
}

// Initial returns the loaded set that a reset restores, ordered by id. It
// is built on each call (the set is kept only in its index); do not call it
// on a hot path.
func (s *Snapshot) Initial() []Sample {
	out := make([]Sample, 0, s.initial.rows.Len())
	s.initial.rows.All(func(id int64, p []float64, label int) bool {
		out = append(out, s.sample(id, p, label))
		return true
	})
	return out
}

// All calls yield for every sample in id order until it returns false.
func (s *Snapshot) All(yield func(Sample) bool) {
	s.cur.rows.All(func(id int64, p []float64, label int) bool {
		return yield(s.sample(id, p, label))
	})
}

// apply returns the snapshot that c produces from s (see Apply): each
// write costs time independent of the number of samples.
func (s *Snapshot) apply(c Change) (*Snapshot, error) {
	next := *s
	next.version = c.Version
	switch c.Op {
	case OpPut:
		f, err := s.scaler.scaled(s.schema, "features", nil, c.Sample.Features)
		if err != nil {
			return nil, err
		}
		label, _ := s.ClassIndex(c.Sample.Label)
		p, old, err := s.cur.put(c.Sample, f, label)
		if err != nil {
			return nil, err
		}
		next.cur = p
		next.counts = slices.Clone(s.counts)
		next.counts[label]++
		if old >= 0 {
			next.counts[old]--
		}
		next.lastID = max(next.lastID, c.Sample.ID)
	case OpDelete:
		if !s.cur.rows.Has(c.ID) {
			return nil, NotFoundf("no sample with id %d", c.ID)
		}
		if s.Len() == 1 {
			return nil, &Error{Kind: KindConflict, Message: "cannot delete the last sample: a training set needs at least one"}
		}
		p, old := s.cur.del(c.ID)
		next.cur = p
		next.counts = slices.Clone(s.counts)
		next.counts[old]--
	case OpReset:
		next.cur, next.scaler = s.initial, s.loaded
		next.counts = make([]int, len(s.classes))
		s.initial.rows.All(func(_ int64, _ []float64, label int) bool {
			next.counts[label]++
			return true
		})
	case OpImport:
		return s.importSnapshot(c)
	default:
		return nil, fmt.Errorf("dataset: unknown change op %v", c.Op)
	}
	return &next, nil
}
