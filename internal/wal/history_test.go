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

// TestCompactionsAppendToTheHistory: a compaction appends the changes it
// compacts to the history file instead of rewriting the whole window, and
// replaces the file once it would hold more than twice the window; what a
// restart recovers is the last window either way.
func TestCompactionsAppendToTheHistory(t *testing.T) {
	dir := t.TempDir()
	const window = 6
	l, snap := open(t, dir, Options{CompactEvery: 2, ChangeWindow: window})
	m := dataset.NewMemoryWith(snap, l, dataset.MemoryOptions{ChangeWindow: window})
	p := filepath.Join(dir, HistoryFile)
	records := func() int {
		t.Helper()
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		cs, err := decodeHistory(b, 4)
		require.NoError(t, err)
		return len(cs)
	}
	var seen []int
	for i := range 20 {
		_, _, err := m.Put(context.Background(), validOf(t, m, dataset.Sample{ID: int64(i%5 + 1), Features: []float64{5, 3, 1, float64(i%9) / 4}, Label: "setosa"}), dataset.Precondition{})
		require.NoError(t, err)
		if i%2 == 1 { // compacted
			n := records()
			assert.LessOrEqual(t, n, 2*window)
			seen = append(seen, n)
		}
	}
	assert.Equal(t, []int{2, 4, 6, 8, 10, 12, 6, 8, 10, 12}, seen, "appended, then rewritten as the window")
	want, err := m.Changes(m.Oldest()-1, 100)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	l2, _ := open(t, dir, Options{CompactEvery: 2, ChangeWindow: window})
	got := l2.RecoveredChanges()
	require.Len(t, got, window)
	for i := range want {
		assert.Equal(t, want[i].Version, got[i].Version)
		assert.Equal(t, want[i].Sample, got[i].Sample)
	}
}

// TestTornHistoryAppend: a crash in the middle of appending to the history
// file (the log not yet emptied) leaves a torn record at its end; the log
// still holds those changes, so the feed loses nothing, and the next
// compaction writes the file whole again.
func TestTornHistoryAppend(t *testing.T) {
	dir := t.TempDir()
	l, snap := open(t, dir, Options{CompactEvery: 3, ChangeWindow: 10})
	m := dataset.NewMemoryWith(snap, l, dataset.MemoryOptions{ChangeWindow: 10})
	writes(t, m) // 7 writes: compacted after 3 and 6, one left in the log
	want, err := m.Changes(m.Oldest()-1, 100)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	p := filepath.Join(dir, HistoryFile)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write(frame(EncodeChange(dataset.Change{Version: 8, Op: dataset.OpReset}))[:7])
	require.NoError(t, err)
	require.NoError(t, f.Close())

	l2, snap2 := open(t, dir, Options{CompactEvery: 3, ChangeWindow: 10})
	got := l2.RecoveredChanges()
	require.Len(t, got, len(want))
	for i := range want {
		assert.Equal(t, want[i].Version, got[i].Version)
	}
	assert.Equal(t, -1, l2.histFile, "the damaged file is to be written whole")
	m2 := dataset.NewMemoryWith(snap2, l2, dataset.MemoryOptions{ChangeWindow: 10, Recovered: got})
	_, err = m2.Reset(context.Background())
	require.NoError(t, err)
	require.NoError(t, l2.Compact())
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	cs, err := decodeHistory(b, 4)
	require.NoError(t, err, "rewritten whole")
	assert.Len(t, cs, len(want)+1)
}
