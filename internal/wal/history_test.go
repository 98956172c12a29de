package wal

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/dataset"
)

// TestHistorySurvivesCompactionAndRestart: the changes the feed lists,
// with their time and actor, come back after a restart, whether they were
// still in the log or a compaction had moved them to the history file;
// only the last ChangeWindow are kept.
func TestHistorySurvivesCompactionAndRestart(t *testing.T) {
	for _, every := range []int{1, 3, 1000} {
		dir := t.TempDir()
		l, snap := open(t, dir, Options{CompactEvery: every, ChangeWindow: 5})
		m := dataset.NewMemoryWith(snap, l, dataset.MemoryOptions{ChangeWindow: 5})
		ctx := dataset.WithActor(context.Background(), "bob")
		writes(t, m)
		_, err := m.Delete(ctx, 20, dataset.Precondition{})
		require.NoError(t, err)
		want, err := m.Changes(m.Oldest()-1, 100)
		require.NoError(t, err)
		require.Len(t, want, 5)
		require.NoError(t, l.Close())

		l2, _ := open(t, dir, Options{CompactEvery: every, ChangeWindow: 5})
		got := l2.RecoveredChanges()
		require.Len(t, got, 5, "compact every %d", every)
		for i := range want {
			assert.Equal(t, want[i].Version, got[i].Version)
			assert.Equal(t, want[i].Op, got[i].Op)
			assert.Equal(t, want[i].Actor, got[i].Actor)
			assert.True(t, want[i].Time.Equal(got[i].Time), "time %v != %v", want[i].Time, got[i].Time)
		}
		assert.Equal(t, "bob", got[4].Actor)
		m2 := dataset.NewMemoryWith(l2.cur, l2, dataset.MemoryOptions{ChangeWindow: 5, Recovered: got})
		listed, err := m2.Changes(got[0].Version-1, 100)
		require.NoError(t, err)
		assert.Len(t, listed, 5)
	}
}

// TestDamagedHistoryKeepsTheSet: a corrupt history file costs the feed its
// old changes, never the training set.
func TestDamagedHistoryKeepsTheSet(t *testing.T) {
	dir := t.TempDir()
	l, snap := open(t, dir, Options{CompactEvery: 2})
	m := dataset.NewMemory(snap, l)
	states := writes(t, m)
	require.NoError(t, l.Close())
	p := filepath.Join(dir, HistoryFile)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	b[len(b)-3] ^= 0xff
	require.NoError(t, os.WriteFile(p, b, 0o640))
	l2, got := open(t, dir, Options{CompactEvery: 2})
	assert.Equal(t, states[len(states)-1], stateOf(got))
	assert.Less(t, len(l2.RecoveredChanges()), len(states))
}
