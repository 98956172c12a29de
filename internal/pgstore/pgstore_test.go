package pgstore_test

import (
	"context"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/datasettest"
	"github.com/irisknn/irisknn/internal/pgstore"
	"github.com/irisknn/irisknn/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// valid checks a new sample for a store's set (the shared helper).
var valid = datasettest.Valid

// irisSnapshot is the embedded Iris set (the shared helper).
var irisSnapshot = datasettest.Iris

func open(t testing.TB, url string, loaded *dataset.Snapshot, opts pgstore.Options) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), url, loaded, opts)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// eventually waits until cond holds, for at most 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "timed out waiting until %s", what)
		time.Sleep(time.Millisecond)
	}
}

func TestReplicasSeeEachOthersWrites(t *testing.T) {
	srv := pgtest.Database(t)
	ctx := context.Background()
	a := open(t, srv.URL(), irisSnapshot(t), pgstore.Options{})
	b := open(t, srv.URL(), irisSnapshot(t), pgstore.Options{})
	assert.Equal(t, a.Identity(), b.Identity(), "the second replica joins the first one's dataset")

	x, snap, err := a.Create(ctx, valid(t, a, 0, []float64{1, 2, 3, 4}, "setosa"))
	require.NoError(t, err)
	eventually(t, "b sees a's write", func() bool { return b.Snapshot().Version() == snap.Version() })
	got, ok := b.Snapshot().Get(x.ID)
	require.True(t, ok)
	assert.Equal(t, x, got)

	// b writes next: it is current, so no conflict; a follows.
	snap, err = b.Delete(ctx, 3, dataset.Precondition{})
	require.NoError(t, err)
	eventually(t, "a sees b's delete", func() bool { return a.Snapshot().Version() == snap.Version() })
	_, ok = a.Snapshot().Get(3)
	assert.False(t, ok)
}

func TestConcurrentIfMatchWritesNeverLoseAnUpdate(t *testing.T) {
	srv := pgtest.Database(t)
	ctx := context.Background()
	var stores []*pgstore.Store
	for range 3 {
		stores = append(stores, open(t, srv.URL(), irisSnapshot(t), pgstore.Options{}))
	}
	// Every writer increments sample 1's first feature with a
	// read-modify-write guarded by If-Match, retrying on 412: the final value
	// counts every success exactly once, whichever replica it went through.
	const perWriter = 15
	var wins atomic.Int64
	var wg sync.WaitGroup
	for w := range 6 {
		s := stores[w%3]
		wg.Go(func() {
			for done := 0; done < perWriter; {
				cur, _ := s.Snapshot().Get(1)
				next := cur
				next.Features = slices.Clone(cur.Features) // cur keeps its ETag
				next.Features[0]++
				v, err := s.Snapshot().NewSample(next.ID, next.Features, next.Label)
				if err != nil {
					t.Errorf("sample: %v", err)
					return
				}
				_, _, err = s.Put(ctx, v, dataset.IfRevision(cur.Revision()))
				switch dataset.ErrorKind(err) {
				case dataset.KindPrecondition:
					time.Sleep(time.Millisecond) // let the follower catch up
				case dataset.KindInternal:
					if err == nil {
						done++
						wins.Add(1)
						continue
					}
					t.Errorf("put: %v", err)
					return
				default:
					t.Errorf("put: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	want := 5.1 + float64(wins.Load())
	for i, s := range stores {
		eventually(t, "every replica has every increment", func() bool {
			x, _ := s.Snapshot().Get(1)
			return x.Features[0] >= want-1e-9
		})
		x, _ := s.Snapshot().Get(1)
		assert.InDelta(t, want, x.Features[0], 1e-9, "replica %d", i)
	}
	assert.Equal(t, int64(6*perWriter), wins.Load())
}

func TestConcurrentCreatesGetDistinctIds(t *testing.T) {
	srv := pgtest.Database(t)
	ctx := context.Background()
	var stores []*pgstore.Store
	for range 3 {
		stores = append(stores, open(t, srv.URL(), irisSnapshot(t), pgstore.Options{}))
	}
	var mu sync.Mutex
	ids := map[int64]bool{}
	var wg sync.WaitGroup
	for w := range 9 {
		wg.Go(func() {
			for range 10 {
				st := stores[w%3]
				v, err := st.Snapshot().NewSample(0, []float64{1, 2, 3, 4}, "setosa")
				if !assert.NoError(t, err) {
					return
				}
				x, _, err := st.Create(ctx, v)
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				assert.False(t, ids[x.ID], "id %d handed out twice", x.ID)
				ids[x.ID] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Len(t, ids, 90)
	final := uint64(1 + 90)
	for _, s := range stores {
		eventually(t, "all at the final version", func() bool { return s.Snapshot().Version() == final })
		assert.Equal(t, 240, s.Snapshot().Len())
	}
}

func TestSeedingIsOnceAndNeverAgain(t *testing.T) {
	srv := pgtest.Database(t)
	ctx := context.Background()
	// Replicas that start together seed one dataset.
	var wg sync.WaitGroup
	idents := make([]string, 4)
	for i := range idents {
		wg.Go(func() { idents[i] = open(t, srv.URL(), irisSnapshot(t), pgstore.Options{}).Identity() })
	}
	wg.Wait()
	for _, id := range idents {
		assert.Equal(t, idents[0], id)
	}
	n, err := srv.SQL("SELECT count(*) FROM irisknn_dataset")
	require.NoError(t, err)
	assert.Equal(t, "1", n)

	// An acknowledged write survives a replica starting with another file.
	s := open(t, srv.URL(), irisSnapshot(t), pgstore.Options{})
	x, snap, err := s.Create(ctx, valid(t, s, 0, []float64{1, 2, 3, 4}, "setosa"))
	require.NoError(t, err)
	other, err := dataset.NewSnapshot(dataset.IrisSchema(), []dataset.Sample{{ID: 1, Features: []float64{1, 1, 1, 1}, Label: "rose"}}, dataset.ScaleNone)
	require.NoError(t, err)
	late := open(t, srv.URL(), other, pgstore.Options{})
	assert.Equal(t, idents[0], late.Identity())
	assert.Equal(t, snap.Version(), late.Snapshot().Version())
	got, ok := late.Snapshot().Get(x.ID)
	assert.True(t, ok)
	assert.Equal(t, x, got)
	assert.Equal(t, 151, late.Snapshot().Len(), "the database's set, not the other file")

	// A wiped database is seeded again under a new identity.
	_, err = srv.SQL("DELETE FROM irisknn_dataset")
	require.NoError(t, err)
	fresh := open(t, srv.URL(), irisSnapshot(t), pgstore.Options{})
	assert.NotEqual(t, idents[0], fresh.Identity())
	assert.Equal(t, uint64(1), fresh.Snapshot().Version())
	// The replica of the old identity refuses writes: they would be lost.
	_, _, err = s.Create(ctx, valid(t, s, 0, []float64{1, 2, 3, 4}, "setosa"))
	assert.Equal(t, dataset.KindUnavailable, dataset.ErrorKind(err))
}

func TestCatchUpFromASnapshot(t *testing.T) {
	srv := pgtest.Database(t)
	ctx := context.Background()
	a := open(t, srv.URL(), irisSnapshot(t), pgstore.Options{SnapshotEvery: 10, PingEvery: 50 * time.Millisecond})
	for i := range 35 {
		_, _, err := a.Put(ctx, valid(t, a, int64(1000+i), []float64{1, 2, 3, 4}, "setosa"), dataset.Precondition{})
		require.NoError(t, err)
	}
	eventually(t, "a snapshot is stored", func() bool {
		n, _ := srv.SQL("SELECT count(*) FROM irisknn_snapshots WHERE version > 1")
		return n != "0"
	})
	n, err := srv.SQL("SELECT count(*) FROM irisknn_snapshots")
	require.NoError(t, err)
	assert.LessOrEqual(t, n, "2", "old snapshots are dropped")
	b := open(t, srv.URL(), irisSnapshot(t), pgstore.Options{SnapshotEvery: 10})
	assert.Equal(t, a.Snapshot().Version(), b.Snapshot().Version())
	assert.Equal(t, 185, b.Snapshot().Len())
}

func TestWritesFailFastWhilePostgresIsDownAndRecover(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	s := open(t, srv.URL(), irisSnapshot(t), pgstore.Options{WriteTimeout: time.Second, PingEvery: 200 * time.Millisecond})
	require.NoError(t, s.Health())
	srv.Kill()
	eventually(t, "health reports the outage", func() bool { return s.Health() != nil })
	start := time.Now()
	_, _, err := s.Create(ctx, valid(t, s, 0, []float64{1, 2, 3, 4}, "setosa"))
	assert.Equal(t, dataset.KindUnavailable, dataset.ErrorKind(err))
	assert.Less(t, time.Since(start), 2*time.Second, "a refused write answers fast")
	assert.Equal(t, 150, s.Snapshot().Len(), "predictions keep their set")

	require.NoError(t, srv.Restart())
	eventually(t, "health recovers by itself", func() bool { return s.Health() == nil })
	_, snap, err := s.Create(ctx, valid(t, s, 0, []float64{1, 2, 3, 4}, "setosa"))
	require.NoError(t, err)
	assert.Equal(t, uint64(2), snap.Version())
}

// TestAChangeTooBigToNotifyReachesTheOtherReplicas: an import of 400 rows
// encodes to far more than a notification may carry; the other replica
// reads it from the table, and lists it in its change feed.
func TestAChangeTooBigToNotifyReachesTheOtherReplicas(t *testing.T) {
	srv := pgtest.Database(t)
	ctx := context.Background()
	a := open(t, srv.URL(), irisSnapshot(t), pgstore.Options{})
	b := open(t, srv.URL(), irisSnapshot(t), pgstore.Options{})
	rows := make([]dataset.Sample, 400)
	for i := range rows {
		rows[i] = dataset.Sample{Features: []float64{float64(i), 1, 2, 3}, Label: "setosa"}
	}
	snap, err := a.Import(ctx, dataset.ImportAppend, rows, false)
	require.NoError(t, err)
	eventually(t, "b has the import", func() bool { return b.Snapshot().Version() == snap.Version() })
	assert.Equal(t, 550, b.Snapshot().Len())
	changes, err := b.Changes(1, 10)
	require.NoError(t, err)
	require.Len(t, changes, 1)
	assert.Equal(t, dataset.OpImport, changes[0].Op)
	assert.Equal(t, 400, changes[0].Import.Rows)
}

// TestAReplicaWaitsForAVersionAnotherReplicaMakes: a replica asked for the
// changes after a version it has not reached answers an empty list, not
// dataset.ErrAhead (another replica may be ahead), and its Wait wakes once
// the other replica's writes arrive; then it lists them.
func TestAReplicaWaitsForAVersionAnotherReplicaMakes(t *testing.T) {
	srv := pgtest.Database(t)
	ctx := context.Background()
	a := open(t, srv.URL(), irisSnapshot(t), pgstore.Options{})
	b := open(t, srv.URL(), irisSnapshot(t), pgstore.Options{})
	ahead := b.Snapshot().Version() + 1
	changes, err := b.Changes(ahead, 10)
	require.NoError(t, err, "a version after b's newest is no error on a shared set")
	assert.Empty(t, changes)
	woken := b.Wait(ahead)

	_, _, err = a.Create(ctx, valid(t, a, 0, []float64{1, 2, 3, 4}, "setosa"))
	require.NoError(t, err)
	_, snap, err := a.Create(ctx, valid(t, a, 0, []float64{4, 3, 2, 1}, "virginica"))
	require.NoError(t, err)
	require.Equal(t, ahead+1, snap.Version())
	select {
	case <-woken:
	case <-time.After(10 * time.Second):
		t.Fatal("b's Wait did not wake when a's writes reached it")
	}
	eventually(t, "b has a's writes", func() bool { return b.Snapshot().Version() == snap.Version() })
	changes, err = b.Changes(ahead, 10)
	require.NoError(t, err)
	require.Len(t, changes, 1)
	assert.Equal(t, snap.Version(), changes[0].Version)
}
