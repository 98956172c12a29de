package dataset_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/dataset"
)

func TestHistoryKeepsTheLastVersions(t *testing.T) {
	m := dataset.NewMemoryKeep(irisSnapshot(t), nil, 3)
	snaps := map[uint64]*dataset.Snapshot{1: m.Snapshot()}
	for range 5 {
		_, s, err := m.Create(context.Background(), valid(t, m, 0, []float64{5, 3, 1, 0.2}, "setosa"))
		require.NoError(t, err)
		snaps[s.Version()] = s
	}
	assert.Equal(t, []uint64{4, 5, 6}, m.Versions())
	for v := uint64(4); v <= 6; v++ {
		s, err := m.SnapshotAt(v)
		require.NoError(t, err)
		assert.Same(t, snaps[v], s, "version %d is the very snapshot that was current", v)
	}
	for _, c := range []struct {
		name string
		get  func() (*dataset.Snapshot, error)
		text string
	}{
		{"evicted", func() (*dataset.Snapshot, error) { return m.SnapshotAt(3) }, "dataset version 3 is not kept"},
		{"future", func() (*dataset.Snapshot, error) { return m.SnapshotAt(7) }, "dataset version 7 is not kept"},
		{"zero", func() (*dataset.Snapshot, error) { return dataset.SnapshotAtString(m, "0") }, `"0" is not kept`},
		{"not a number", func() (*dataset.Snapshot, error) { return dataset.SnapshotAtString(m, "latest") }, `"latest" is not kept`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.get()
			require.Error(t, err)
			assert.Equal(t, dataset.KindNotFound, dataset.ErrorKind(err))
			assert.Contains(t, err.Error(), c.text)
			assert.Contains(t, err.Error(), "the oldest kept version is 4")
		})
	}
	s, err := dataset.SnapshotAtString(m, "5")
	require.NoError(t, err)
	assert.Same(t, snaps[5], s)
}

func TestHistoryRestartsOnAnOlderSnapshot(t *testing.T) {
	first := irisSnapshot(t)
	h := dataset.NewHistory(first, 4)
	next, err := first.Apply(dataset.Change{Version: 2, Op: dataset.OpReset})
	require.NoError(t, err)
	h.Publish(next)
	assert.Equal(t, []uint64{1, 2}, h.Versions())
	// A store resynchronised to a state not after its own (a replica
	// reloading) cannot vouch for the versions it kept.
	h.Publish(first)
	assert.Equal(t, []uint64{1}, h.Versions())
	assert.Same(t, first, h.Snapshot())
	assert.True(t, strings.Contains(h.String(), "keep 4"))
}

func TestHistoryDefaultKeep(t *testing.T) {
	h := dataset.NewHistory(irisSnapshot(t), 0)
	assert.Equal(t, dataset.DefaultKeepVersions, h.Keep())
}
