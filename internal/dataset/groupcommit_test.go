package dataset_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/dataset"
)

// gatedJournal is a GroupJournal whose commits wait until the test opens
// the gate, and then fail with fail if set.
type gatedJournal struct {
	mu       sync.Mutex
	appended []dataset.Change
	gate     chan struct{}
	fail     error
}

func (g *gatedJournal) Record(ctx context.Context, c dataset.Change) error {
	seq, err := g.Append(ctx, c)
	if err != nil {
		return err
	}
	return g.Commit(ctx, seq)
}

func (g *gatedJournal) Append(_ context.Context, c dataset.Change) (uint64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.appended = append(g.appended, c)
	return uint64(len(g.appended)), nil
}

func (g *gatedJournal) Commit(context.Context, uint64) error {
	<-g.gate
	return g.fail
}

func (g *gatedJournal) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.appended)
}

// TestGroupCommitPublishesOnlyDurableChanges: while commits wait, a second
// writer builds on the first one's change (writes stay serialised), but
// readers see neither until they are durable; then both are published.
func TestGroupCommitPublishesOnlyDurableChanges(t *testing.T) {
	j := &gatedJournal{gate: make(chan struct{})}
	m := dataset.NewMemory(irisSnapshot(t), j)
	before := m.Snapshot()
	ctx := context.Background()
	var wg sync.WaitGroup
	versions := make(chan uint64, 2)
	for _, id := range []int64{1, 2} {
		wg.Go(func() {
			snap, err := m.Delete(ctx, id, dataset.Precondition{})
			assert.NoError(t, err)
			versions <- snap.Version()
		})
	}
	require.Eventually(t, func() bool { return j.count() == 2 }, 5*time.Second, time.Millisecond)
	assert.Same(t, before, m.Snapshot(), "a change is not visible before it is durable")
	close(j.gate)
	wg.Wait()
	close(versions)
	got := map[uint64]bool{}
	for v := range versions {
		got[v] = true
	}
	assert.Equal(t, map[uint64]bool{before.Version() + 1: true, before.Version() + 2: true}, got)
	assert.Equal(t, before.Version()+2, m.Snapshot().Version())
	assert.Equal(t, before.Len()-2, m.Snapshot().Len())
}

// TestGroupCommitFailureAppliesNothing: a failed commit publishes nothing,
// and the next write builds on the last published snapshot again.
func TestGroupCommitFailureAppliesNothing(t *testing.T) {
	j := &gatedJournal{gate: make(chan struct{}), fail: errors.New("fsync: I/O error")}
	close(j.gate)
	m := dataset.NewMemory(irisSnapshot(t), j)
	before := m.Snapshot()
	_, err := m.Delete(context.Background(), 1, dataset.Precondition{})
	assert.Equal(t, dataset.KindUnavailable, dataset.ErrorKind(err))
	assert.Same(t, before, m.Snapshot())
	j.fail = nil
	snap, err := m.Delete(context.Background(), 1, dataset.Precondition{})
	require.NoError(t, err, "sample 1 was never deleted")
	assert.Equal(t, before.Version()+1, snap.Version())
}
