package redisstore_test

import (
	"bytes"
	"context"
	"github.com/irisknn/irisknn/internal/datasettest"
	"net"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/redisstore"
	"github.com/irisknn/irisknn/internal/redistest"
)

func irisSamples(t testing.TB) []dataset.Sample {
	s, err := dataset.ParseCSV(bytes.NewReader(data.IrisCSV), "")
	require.NoError(t, err)
	return s.Samples
}

// open starts a replica on the server's namespace.
func open(t testing.TB, srv *redistest.Server, prefix string) *redisstore.Store {
	t.Helper()
	st, err := redisstore.Open(context.Background(), srv.Client(t), dataset.IrisSchema(), irisSamples(t), redisstore.Options{Prefix: prefix})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

func waitVersion(t testing.TB, st *redisstore.Store, v uint64) *dataset.Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snap, err := st.WaitVersion(ctx, v)
	require.NoError(t, err, "replica did not reach version %d", v)
	return snap
}

func TestReplicasShareWrites(t *testing.T) {
	srv := redistest.Start(t)
	a, b := open(t, srv, "t1:"), open(t, srv, "t1:")
	ctx := context.Background()
	require.Equal(t, uint64(1), a.Snapshot().Version())
	require.Equal(t, 150, b.Snapshot().Len())

	x, snap, err := a.Create(ctx, valid(t, a, 0, []float64{5, 3, 1.5, 0.2}, "setosa"))
	require.NoError(t, err)
	assert.Equal(t, int64(151), x.ID)
	// Read your writes on the writing replica: no wait.
	got, ok := a.Snapshot().Get(151)
	require.True(t, ok)
	assert.Equal(t, x, got)
	assert.Equal(t, uint64(2), snap.Version())

	bs := waitVersion(t, b, 2)
	got, ok = bs.Get(151)
	require.True(t, ok)
	assert.Equal(t, x, got)

	created, _, err := b.Put(ctx, validOf(t, b, dataset.Sample{ID: 151, Features: []float64{6, 3, 4, 1.3}, Label: "versicolor"}), dataset.IfRevision(x.Revision()))
	require.NoError(t, err)
	assert.False(t, created)
	_, err = b.Delete(ctx, 1, dataset.Precondition{})
	require.NoError(t, err)
	as := waitVersion(t, a, 4)
	_, ok = as.Get(1)
	assert.False(t, ok)
	got, _ = as.Get(151)
	assert.Equal(t, "versicolor", got.Label)

	rs, err := a.Reset(ctx)
	require.NoError(t, err)
	assert.Equal(t, 150, rs.Len())
	assert.Equal(t, int64(152), rs.NextID(), "ids used before a reset stay used")
	bs = waitVersion(t, b, 5)
	assert.Equal(t, 150, bs.Len())
	_, ok = bs.Get(1)
	assert.True(t, ok)

	// A third replica started now loads the current state, not its own set.
	c := open(t, srv, "t1:")
	assert.Equal(t, uint64(5), c.Snapshot().Version())
	x2, _, err := c.Create(ctx, valid(t, c, 0, []float64{1, 1, 1, 1}, "virginica"))
	require.NoError(t, err)
	assert.Equal(t, int64(152), x2.ID)
}

func TestWriteErrors(t *testing.T) {
	srv := redistest.Start(t)
	a := open(t, srv, "t2:")
	ctx := context.Background()
	one, _ := a.Snapshot().Get(1)
	tests := []struct {
		name  string
		write func() error
		kind  dataset.Kind
	}{
		{"delete missing", func() error { _, err := a.Delete(ctx, 999, dataset.Precondition{}); return err }, dataset.KindNotFound},
		{"put stale etag", func() error {
			_, _, err := a.Put(ctx, validOf(t, a, dataset.Sample{ID: 1, Features: one.Features, Label: "virginica"}), dataset.IfRevision(0))
			return err
		}, dataset.KindPrecondition},
		{"put if-match on missing", func() error {
			_, _, err := a.Put(ctx, validOf(t, a, dataset.Sample{ID: 500, Features: one.Features, Label: "virginica"}), dataset.IfExists())
			return err
		}, dataset.KindPrecondition},
		{"delete stale etag", func() error { _, err := a.Delete(ctx, 1, dataset.IfRevision(0)); return err }, dataset.KindPrecondition},
		{"unknown species", func() error {
			_, err := a.Snapshot().NewSample(0, one.Features, "rose")
			return err
		}, dataset.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.write()
			require.Error(t, err)
			assert.Equal(t, tt.kind, dataset.ErrorKind(err), "%v", err)
		})
	}
	assert.Equal(t, uint64(1), a.Snapshot().Version(), "failed writes change nothing")
}

// Two replicas update one sample concurrently, each with the ETag it read:
// exactly one of each conflicting pair wins, the other gets 412, and the
// number of versions equals the number of successful writes.
func TestConcurrentPutsNeverLoseAnUpdate(t *testing.T) {
	srv := redistest.Start(t)
	a, b := open(t, srv, "t3:"), open(t, srv, "t3:")
	ctx := context.Background()
	var (
		mu        sync.Mutex
		succeeded int
		failed    int
	)
	// Each writer does read-modify-write of sample 7's sepal length += 1,
	// retrying on 412. Without the ETag check increments would be lost.
	const perWriter = 25
	var wg sync.WaitGroup
	for w, st := range []*redisstore.Store{a, b} {
		wg.Go(func() {
			for range perWriter {
				for {
					cur, ok := st.Snapshot().Get(7)
					require.True(t, ok)
					next := cur
					next.Features = slices.Clone(cur.Features)
					next.Features[0]++
					_, _, err := st.Put(ctx, validOf(t, st, next), dataset.IfRevision(cur.Revision()))
					if err == nil {
						mu.Lock()
						succeeded++
						mu.Unlock()
						break
					}
					require.Equal(t, dataset.KindPrecondition, dataset.ErrorKind(err), "writer %d: %v", w, err)
					mu.Lock()
					failed++
					mu.Unlock()
					// Wait for the winning write before re-reading.
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 2*perWriter, succeeded)
	v := uint64(1 + 2*perWriter)
	sa, sb := waitVersion(t, a, v), waitVersion(t, b, v)
	x, _ := sa.Get(7)
	orig := irisSamples(t)[6]
	assert.Equal(t, orig.Features[0]+2*perWriter, x.Features[0], "every increment is kept")
	y, _ := sb.Get(7)
	assert.Equal(t, x, y)
	t.Logf("%d successful writes, %d refused with 412 and retried", succeeded, failed)
}

func TestConcurrentSeedingDoesNotDuplicate(t *testing.T) {
	srv := redistest.Start(t)
	var wg sync.WaitGroup
	stores := make([]*redisstore.Store, 6)
	for i := range stores {
		wg.Go(func() {
			st, err := redisstore.Open(context.Background(), srv.Client(t), dataset.IrisSchema(), irisSamples(t), redisstore.Options{Prefix: "t4:"})
			if assert.NoError(t, err) {
				stores[i] = st
			}
		})
	}
	wg.Wait()
	for _, st := range stores {
		require.NotNil(t, st)
		defer st.Close()
		assert.Equal(t, uint64(1), st.Snapshot().Version())
		assert.Equal(t, 150, st.Snapshot().Len())
	}
	c := srv.Client(t)
	n, err := c.HLen(context.Background(), "t4:samples").Result()
	require.NoError(t, err)
	assert.Equal(t, int64(150), n)
	seeds, err := c.XLen(context.Background(), "t4:changes").Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), seeds, "one seed entry")
}

// A replica that missed changes (its stream entries trimmed away) reloads.
func TestGapTriggersReload(t *testing.T) {
	srv := redistest.Start(t)
	a := open(t, srv, "t5:")
	b := open(t, srv, "t5:")
	require.NoError(t, b.Close()) // b stops following
	ctx := context.Background()
	for i := range 20 {
		_, _, err := a.Create(ctx, valid(t, a, 0, []float64{float64(i), 1, 1, 1}, "setosa"))
		require.NoError(t, err)
	}
	c := srv.Client(t)
	require.NoError(t, c.XTrimMaxLen(ctx, "t5:changes", 2).Err())
	// A new replica on the trimmed stream still gets everything (load).
	d := open(t, srv, "t5:")
	assert.Equal(t, uint64(21), d.Snapshot().Version())
	assert.Equal(t, 170, d.Snapshot().Len())
	// A follower that sees a change that skips versions reloads: simulate
	// by writing a change entry out of order.
	require.NoError(t, c.XAdd(ctx, &redis.XAddArgs{Stream: "t5:changes", Values: []any{"v", 30, "op", "reset"}}).Err())
	require.NoError(t, c.HSet(ctx, "t5:meta", "version", 30).Err())
	snap := waitVersion(t, d, 30)
	assert.Equal(t, 170, snap.Len(), "reloaded the state in Redis, not the bogus reset")
}

func TestSeedRefusesAnInvalidSet(t *testing.T) {
	srv := redistest.Start(t)
	_, err := redisstore.Open(context.Background(), srv.Client(t), dataset.IrisSchema(), nil, redisstore.Options{Prefix: "t6:"})
	require.Error(t, err)
}

// TestPropagationDelay measures how long a write through one replica takes
// to be visible on another (logged; not asserted beyond a generous bound).
func TestPropagationDelay(t *testing.T) {
	srv := redistest.Start(t)
	a, b := open(t, srv, "t7:"), open(t, srv, "t7:")
	ctx := context.Background()
	var delays []time.Duration
	for i := range 200 {
		start := time.Now()
		_, snap, err := a.Create(ctx, valid(t, a, 0, []float64{float64(i), 2, 3, 4}, "setosa"))
		require.NoError(t, err)
		waitVersion(t, b, snap.Version())
		delays = append(delays, time.Since(start))
	}
	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	p := func(q float64) time.Duration { return delays[int(q*float64(len(delays)-1))] }
	t.Logf("write on A until visible on B (includes the write itself): p50 %v p90 %v p99 %v max %v",
		p(0.5), p(0.9), p(0.99), delays[len(delays)-1])
	assert.Less(t, p(0.5), 5*time.Second)
}

func TestUnreachableRedisIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	_, err = redisstore.Open(context.Background(), c, dataset.IrisSchema(), irisSamples(t), redisstore.Options{})
	require.Error(t, err)
	assert.Equal(t, dataset.KindUnavailable, dataset.ErrorKind(err))
}

// Writes fail with KindUnavailable while Redis is down, and reads go on
// from the replica's own snapshot.
func TestWritesFailWhileRedisIsDown(t *testing.T) {
	srv := redistest.Start(t)
	a := open(t, srv, "t8:")
	srv.Client(t).Shutdown(context.Background()) // answers by closing the connection
	_, _, err := a.Create(context.Background(), valid(t, a, 0, []float64{1, 2, 3, 4}, "setosa"))
	require.Error(t, err)
	assert.Equal(t, dataset.KindUnavailable, dataset.ErrorKind(err))
	assert.Equal(t, 150, a.Snapshot().Len(), "reads still served")
}

// The shared helpers: valid checks a new sample for a store's set, validOf a whole sample.
var (
	valid   = datasettest.Valid
	validOf = datasettest.ValidOf
)
