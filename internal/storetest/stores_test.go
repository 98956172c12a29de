// Package storetest runs one table of writes against every store: in
// memory, durable on local disk (WAL) and shared through PostgreSQL. They
// differ only in how they record a change, so every step must give the same
// answer in each, and each must reopen to the same set.
package storetest

import (
	"context"
	"math"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/datasettest"
	"github.com/irisknn/irisknn/internal/pgstore"
	"github.com/irisknn/irisknn/internal/pgtest"
	"github.com/irisknn/irisknn/internal/wal"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// irisSnapshot is the embedded Iris set (the shared helper).
var irisSnapshot = datasettest.Iris

// kind is how a store opens: fresh, and again over what it recorded.
type kind struct {
	name string
	// open returns a fresh store over loaded, and a function that opens
	// the same recorded set again (nil when nothing is recorded).
	open func(t *testing.T, loaded *dataset.Snapshot) (dataset.Store, func() dataset.Store)
}

func kinds() []kind {
	return []kind{
		{"memory", func(t *testing.T, loaded *dataset.Snapshot) (dataset.Store, func() dataset.Store) {
			return dataset.NewMemory(loaded, nil), nil
		}},
		{"wal", func(t *testing.T, loaded *dataset.Snapshot) (dataset.Store, func() dataset.Store) {
			dir := t.TempDir()
			var cur *wal.Log
			open := func() dataset.Store {
				if cur != nil {
					require.NoError(t, cur.Close())
				}
				l, snap, err := wal.Open(dir, loaded, wal.Options{CompactEvery: 3})
				require.NoError(t, err)
				cur = l
				t.Cleanup(func() { l.Close() })
				return dataset.NewMemoryWith(snap, l, dataset.MemoryOptions{Recovered: l.RecoveredChanges()})
			}
			return open(), open
		}},
		{"postgres", func(t *testing.T, loaded *dataset.Snapshot) (dataset.Store, func() dataset.Store) {
			srv := pgtest.Database(t)
			open := func() dataset.Store {
				s, err := pgstore.Open(context.Background(), srv.URL(), loaded, pgstore.Options{SnapshotEvery: 3})
				require.NoError(t, err)
				t.Cleanup(func() { s.Close() })
				return s
			}
			return open(), open
		}},
	}
}

// outcome is what a step answers.
type outcome struct {
	Err     dataset.Kind // KindInternal (0) with OK: no error
	OK      bool
	ID      int64 // the created or written id
	Created bool
	Version uint64
	Len     int
	NextID  int64
}

type step struct {
	name string
	do   func(ctx context.Context, s dataset.Store) outcome
}

func result(s dataset.Store, id int64, created bool, err error) outcome {
	snap := s.Snapshot()
	o := outcome{OK: err == nil, ID: id, Created: created, Version: snap.Version(), Len: snap.Len(), NextID: snap.NextID()}
	if err != nil {
		o.Err, o.ID, o.Created = dataset.ErrorKind(err), 0, false
	}
	return o
}

// valid checks x for s's current set: the one check every store relies on
// (Snapshot.NewSample).
func valid(s dataset.Store, x dataset.Sample) (dataset.ValidSample, error) {
	return s.Snapshot().NewSample(x.ID, x.Features, x.Label)
}

func create(f []float64, species string) func(context.Context, dataset.Store) outcome {
	return func(ctx context.Context, s dataset.Store) outcome {
		v, err := valid(s, dataset.Sample{Features: f, Label: species})
		if err != nil {
			return result(s, 0, false, err)
		}
		x, _, err := s.Create(ctx, v)
		return result(s, x.ID, true, err)
	}
}

func put(x dataset.Sample, pre func(dataset.Store) dataset.Precondition) func(context.Context, dataset.Store) outcome {
	return func(ctx context.Context, s dataset.Store) outcome {
		var p dataset.Precondition
		if pre != nil {
			p = pre(s)
		}
		v, err := valid(s, x)
		if err != nil {
			return result(s, 0, false, err)
		}
		created, _, err := s.Put(ctx, v, p)
		return result(s, x.ID, created, err)
	}
}

func del(id int64, pre func(dataset.Store) dataset.Precondition) func(context.Context, dataset.Store) outcome {
	return func(ctx context.Context, s dataset.Store) outcome {
		var p dataset.Precondition
		if pre != nil {
			p = pre(s)
		}
		_, err := s.Delete(ctx, id, p)
		return result(s, id, false, err)
	}
}

// importRows imports n rows of the given label in mode (upsert: ids from
// first on) as one change.
func importRows(mode dataset.ImportMode, n int, first int64, label string) func(context.Context, dataset.Store) outcome {
	return func(ctx context.Context, s dataset.Store) outcome {
		rows := make([]dataset.Sample, n)
		for i := range rows {
			rows[i] = dataset.Sample{ID: first + int64(i), Features: []float64{float64(i), 1, 2, 3}, Label: label}
		}
		_, err := s.(dataset.Importer).Import(ctx, mode, rows, mode == dataset.ImportUpsert)
		return result(s, 0, false, err)
	}
}

func reset(ctx context.Context, s dataset.Store) outcome {
	_, err := s.Reset(ctx)
	return result(s, 0, false, err)
}

// revisionOf is the condition that sample id is as it is now (If-Match
// with its current ETag).
func revisionOf(id int64) func(dataset.Store) dataset.Precondition {
	return func(s dataset.Store) dataset.Precondition {
		x, _ := s.Snapshot().Get(id)
		return dataset.IfRevision(x.Revision())
	}
}

// stale is a condition on a revision the sample does not have.
func stale(dataset.Store) dataset.Precondition { return dataset.IfRevision(1) }

// exists is If-Match: *.
func exists(dataset.Store) dataset.Precondition { return dataset.IfExists() }

// steps is the table every store runs, in order; the answers are checked
// against the in-memory store and between the stores.
var steps = []step{
	{"create gets one more than the largest id", create([]float64{1, 2, 3, 4}, "setosa")},
	{"create of an unknown species is invalid", create([]float64{1, 2, 3, 4}, "rose")},
	{"create of an infinite feature is invalid", create([]float64{math.Inf(1), 2, 3, 4}, "setosa")},
	{"put of a new id creates it and moves the counter", put(dataset.Sample{ID: 500, Features: []float64{1, 1, 1, 1}, Label: "virginica"}, nil)},
	{"put of an id above 2^53 keeps it exactly", put(dataset.Sample{ID: 1<<53 + 1, Features: []float64{2, 2, 2, 2}, Label: "setosa"}, nil)},
	{"create after it gets the next integer", create([]float64{1, 2, 3, 4}, "versicolor")},
	{"put replaces", put(dataset.Sample{ID: 1, Features: []float64{9, 9, 9, 9}, Label: "virginica"}, nil)},
	{"put with a stale If-Match fails", put(dataset.Sample{ID: 7, Features: []float64{7, 7, 7, 7}, Label: "setosa"}, stale)},
	{"put with the current ETag succeeds", put(dataset.Sample{ID: 7, Features: []float64{7, 7, 7, 7}, Label: "setosa"}, revisionOf(7))},
	{"put with If-Match * on an absent id fails", put(dataset.Sample{ID: 999, Features: []float64{1, 1, 1, 1}, Label: "setosa"}, exists)},
	{"put of id 0 is invalid", put(dataset.Sample{ID: 0, Label: "setosa"}, nil)},
	{"delete of an absent id is not found", del(9999, nil)},
	{"delete with a stale If-Match fails", del(8, stale)},
	{"delete with If-Match * succeeds", del(8, exists)},
	{"delete of a created id", del(500, nil)},
	{"a deleted id is never handed out again", create([]float64{3, 3, 3, 3}, "setosa")},
	{"an append import of 400 rows is one version", importRows(dataset.ImportAppend, 400, 0, "versicolor")},
	{"an upsert import replaces and adds by id", importRows(dataset.ImportUpsert, 3, 1<<53, "virginica")},
	{"reset restores the loaded rows and keeps the counter", reset},
	{"create after a reset continues the counter", create([]float64{4, 4, 4, 4}, "virginica")},
}

// feedEntry is what the change feed says of a change, but its time.
type feedEntry struct {
	Version uint64
	Op      dataset.Op
	ID      int64
}

// feed lists s's change feed after version since.
func feed(t *testing.T, s dataset.Store, since uint64) []feedEntry {
	t.Helper()
	f, ok := s.(dataset.ChangeFeed)
	require.True(t, ok, "every store has a change feed")
	changes, err := f.Changes(since, 1000)
	require.NoError(t, err)
	out := make([]feedEntry, len(changes))
	for i, c := range changes {
		out[i] = feedEntry{c.Version, c.Op, c.ID + c.Sample.ID}
		assert.False(t, c.Time.IsZero(), "change %d has its time", c.Version)
	}
	return out
}

// state is everything a store's current snapshot says.
func state(s dataset.Store) (uint64, int64, []dataset.Sample) {
	snap := s.Snapshot()
	var all []dataset.Sample
	snap.All(func(x dataset.Sample) bool { all = append(all, x); return true })
	return snap.Version(), snap.NextID(), all
}

func TestEveryStoreGivesTheSameAnswers(t *testing.T) {
	ctx := context.Background()
	loaded := irisSnapshot(t)
	var want []outcome // the in-memory store's answers
	var wantVersion uint64
	var wantNext int64
	var wantAll []dataset.Sample
	var wantFeed []feedEntry
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			s, reopen := k.open(t, loaded)
			var got []outcome
			for _, st := range steps {
				got = append(got, st.do(ctx, s))
			}
			v, next, all := state(s)
			changes := feed(t, s, loaded.Version())
			if want == nil {
				want, wantVersion, wantNext, wantAll, wantFeed = got, v, next, all, changes
				require.Len(t, changes, int(v-loaded.Version()), "one change a version")
				// The table's own sanity: the answers the rules give.
				assert.Equal(t, int64(151), got[0].ID)
				assert.Equal(t, dataset.KindInvalid, got[1].Err)
				assert.Equal(t, int64(1<<53+2), got[5].ID, "ids are integers, not doubles")
				assert.Equal(t, dataset.KindPrecondition, got[7].Err)
				assert.True(t, got[8].OK)
				assert.Equal(t, dataset.KindPrecondition, got[9].Err)
				assert.Equal(t, dataset.KindNotFound, got[11].Err)
				assert.Equal(t, int64(1<<53+3), got[15].ID)
				assert.Equal(t, got[15].Version+1, got[16].Version, "one version for the whole import")
				assert.Equal(t, got[15].Len+400, got[16].Len)
				assert.Equal(t, got[16].Len+1, got[17].Len, "2^53+1 and 2^53+2 replaced, 2^53 added")
				assert.Equal(t, 150, got[18].Len)
				assert.Equal(t, int64(1<<53+4+400), got[19].ID)
			}
			for i := range steps {
				assert.Equal(t, want[i], got[i], "step %d: %s", i, steps[i].name)
			}
			assert.Equal(t, wantVersion, v)
			assert.Equal(t, wantNext, next)
			assert.Equal(t, wantAll, all)
			assert.Equal(t, wantFeed, changes, "the change feed")
			if reopen == nil {
				return
			}
			// What was recorded opens to the same set, and writes continue.
			s2 := reopen()
			v2, next2, all2 := state(s2)
			assert.Equal(t, v, v2, "version after reopening")
			assert.Equal(t, next, next2, "next id after reopening")
			assert.Equal(t, all, all2, "samples after reopening")
			assert.Equal(t, changes, feed(t, s2, loaded.Version()), "the change feed after reopening")
			v5, err := valid(s2, dataset.Sample{Features: []float64{5, 5, 5, 5}, Label: "setosa"})
			require.NoError(t, err)
			x, _, err := s2.Create(ctx, v5)
			require.NoError(t, err)
			assert.Equal(t, next, x.ID)
		})
	}
}

func TestCannotDeleteTheLastSampleInAnyStore(t *testing.T) {
	one, err := dataset.NewSnapshot(dataset.IrisSchema(), []dataset.Sample{{ID: 1, Features: []float64{1, 2, 3, 4}, Label: "a"}}, dataset.ScaleNone)
	require.NoError(t, err)
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			s, _ := k.open(t, one)
			_, err := s.Delete(context.Background(), 1, dataset.Precondition{})
			assert.Equal(t, dataset.KindConflict, dataset.ErrorKind(err))
			assert.Equal(t, uint64(1), s.Snapshot().Version(), "a refused write makes no version")
		})
	}
}
