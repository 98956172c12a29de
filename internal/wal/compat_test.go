package wal

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/dataset"
)

// TestOpensADirectoryWrittenByTheIrisOnlyBuild opens a data directory that
// the Iris-only build wrote (testdata/iris-v1: a snapshot holding written
// state plus a log tail) and checks that it recovers exactly the samples,
// version and next id that server last answered, and that a reset restores
// the shipped set.
func TestOpensADirectoryWrittenByTheIrisOnlyBuild(t *testing.T) {
	const fixture = "testdata/iris-v1"
	dir := t.TempDir()
	for _, name := range []string{SnapshotFile, LogFile} {
		b, err := os.ReadFile(filepath.Join(fixture, name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o640))
	}
	var want struct {
		Samples []struct {
			ID       int64     `json:"id"`
			Features []float64 `json:"features"`
			Species  string    `json:"species"`
		} `json:"samples"`
		Total   int    `json:"total"`
		Version uint64 `json:"dataset_version"`
	}
	var wantSet struct {
		NextID int64 `json:"next_id"`
	}
	for name, v := range map[string]any{"samples.json": &want, "dataset.json": &wantSet} {
		b, err := os.ReadFile(filepath.Join(fixture, name))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, v))
	}

	l, snap := open(t, dir, Options{})
	assert.Equal(t, want.Version, snap.Version())
	assert.Equal(t, wantSet.NextID, snap.NextID())
	require.Equal(t, want.Total, snap.Len())
	i := 0
	snap.All(func(s dataset.Sample) bool {
		w := want.Samples[i]
		assert.Equal(t, w.ID, s.ID)
		assert.Equal(t, w.Features, s.Features)
		assert.Equal(t, w.Species, s.Label)
		i++
		return true
	})

	// The recorded loaded set is the shipped Iris: a reset brings it back.
	m := dataset.NewMemory(snap, l)
	_, err := m.Reset(context.Background())
	require.NoError(t, err)
	assert.Equal(t, stateOf(loaded(t)).Samples, stateOf(m.Snapshot()).Samples)
}
