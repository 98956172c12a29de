package wal

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/dataset"
)

// TestConcurrentWritesShareFsyncs runs many writers at once through a
// Memory store on the log: every write is acknowledged, the log needs
// fewer fsyncs than writes, and a reopened log recovers exactly the state
// the store published.
func TestConcurrentWritesShareFsyncs(t *testing.T) {
	dir := t.TempDir()
	l, snap := open(t, dir, Options{CompactEvery: 300})
	m := dataset.NewMemory(snap, l)
	const writers, each = 32, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				s := dataset.Sample{ID: int64(1000 + g*each + i), Features: []float64{float64(g), float64(i), 1, 1}, Label: "setosa"}
				if _, _, err := m.Put(context.Background(), validOf(t, m, s), dataset.Precondition{}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	final := m.Snapshot()
	assert.Equal(t, uint64(1+writers*each), final.Version())
	assert.Equal(t, 150+writers*each, final.Len())
	assert.Less(t, l.Syncs(), uint64(writers*each), "concurrent commits should share fsyncs")
	t.Logf("%d writes, %d fsyncs", writers*each, l.Syncs())
	require.NoError(t, l.Close())

	_, got := open(t, dir, Options{})
	assert.Equal(t, stateOf(final), stateOf(got))
}

// TestFailedFsyncFailsTheGroupAndIsNotRetried: changes appended before an
// fsync that fails are all refused, the fsync is not tried again, and the
// log refuses later changes.
func TestFailedFsyncFailsTheGroupAndIsNotRetried(t *testing.T) {
	l, snap := open(t, t.TempDir(), Options{})
	ctx := context.Background()
	c1 := dataset.Change{Version: snap.Version() + 1, Op: dataset.OpDelete, ID: 1}
	c2 := dataset.Change{Version: snap.Version() + 2, Op: dataset.OpDelete, ID: 2}
	s1, err := l.Append(ctx, c1)
	require.NoError(t, err)
	s2, err := l.Append(ctx, c2)
	require.NoError(t, err)

	l.f.Close() // the next fsync fails
	require.Error(t, l.Commit(ctx, s2))
	syncs := l.Syncs()
	require.Error(t, l.Commit(ctx, s1), "a change the failed fsync should have covered is not acknowledged")
	assert.Equal(t, syncs, l.Syncs(), "a failed fsync is never retried")
	_, err = l.Append(ctx, dataset.Change{Version: snap.Version() + 3, Op: dataset.OpReset})
	assert.ErrorContains(t, err, "refuses writes until a restart")
}

// TestCommitWaitsForItsOwnChange: a commit returns at once for a change an
// earlier fsync covered, and a lone commit costs exactly one fsync.
func TestCommitWaitsForItsOwnChange(t *testing.T) {
	l, snap := open(t, t.TempDir(), Options{})
	ctx := context.Background()
	s1, err := l.Append(ctx, dataset.Change{Version: snap.Version() + 1, Op: dataset.OpDelete, ID: 1})
	require.NoError(t, err)
	s2, err := l.Append(ctx, dataset.Change{Version: snap.Version() + 2, Op: dataset.OpDelete, ID: 2})
	require.NoError(t, err)
	require.NoError(t, l.Commit(ctx, s2))
	assert.Equal(t, uint64(1), l.Syncs(), "one fsync covers both")
	require.NoError(t, l.Commit(ctx, s1))
	assert.Equal(t, uint64(1), l.Syncs(), "the first change was covered already")
	require.NoError(t, l.Record(ctx, dataset.Change{Version: snap.Version() + 3, Op: dataset.OpReset}))
	assert.Equal(t, uint64(2), l.Syncs(), "a lone write: one fsync")
}

// BenchmarkGroupCommit measures acknowledged durable writes per second
// through a Memory store on the log at 1, 8 and 32 concurrent writers,
// with group commit and with one fsync per write (the journal hidden
// behind a plain dataset.Journal), in the same run. fsyncs/write shows the
// sharing.
func BenchmarkGroupCommit(b *testing.B) {
	for _, writers := range []int{1, 8, 32} {
		for _, group := range []bool{false, true} {
			mode := "fsync-per-write"
			if group {
				mode = "group"
			}
			b.Run(fmt.Sprintf("writers=%d/%s", writers, mode), func(b *testing.B) {
				l, snap, err := Open(b.TempDir(), loaded(b), Options{})
				require.NoError(b, err)
				defer l.Close()
				var j dataset.Journal = plainJournal{l}
				if group {
					j = l
				}
				m := dataset.NewMemory(snap, j)
				ctx := context.Background()
				b.ReportAllocs()
				start := time.Now()
				var wg sync.WaitGroup
				n := b.N
				for g := range writers {
					wg.Go(func() {
						for i := g; i < n; i += writers {
							s := dataset.Sample{ID: int64(1 + i%150), Features: []float64{5, 3, 1.5, float64(i%20) / 10}, Label: "setosa"}
							if _, _, err := m.Put(ctx, validOf(b, m, s), dataset.Precondition{}); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(n)/time.Since(start).Seconds(), "writes/s")
				b.ReportMetric(float64(l.Syncs())/float64(n), "fsyncs/write")
			})
		}
	}
}

// plainJournal hides the log's group commit: every write records alone.
type plainJournal struct{ l *Log }

func (p plainJournal) Record(ctx context.Context, c dataset.Change) error { return p.l.Record(ctx, c) }
