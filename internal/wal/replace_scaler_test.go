package wal

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/dataset"
)

// TestRefittedScalerSurvivesARestart imports, with mode replace, half of
// Iris into a set loaded with -scale standard, restarts, and checks that
// the recovered set has the scaler fitted on the imported rows (snapshot
// format 4) and still restores the loaded set's scaler on a reset; a set
// never replaced keeps writing format 3.
func TestRefittedScalerSurvivesARestart(t *testing.T) {
	tab, err := dataset.ParseCSV(bytes.NewReader(data.IrisCSV), "")
	require.NoError(t, err)
	first, err := dataset.NewSnapshot(tab.Schema, tab.Samples, dataset.ScaleStandard)
	require.NoError(t, err)
	dir := t.TempDir()
	magic := func() string {
		b, err := os.ReadFile(filepath.Join(dir, SnapshotFile))
		require.NoError(t, err)
		return string(b[:len(snapshotMagic)])
	}

	l, snap, err := Open(dir, first, Options{})
	require.NoError(t, err)
	assert.Equal(t, snapshotMagic, magic(), "a set never replaced keeps format 3")
	m := dataset.NewMemory(snap, l)
	rows := append([]dataset.Sample(nil), tab.Samples[50:]...) // versicolor and virginica
	replaced, err := m.Import(context.Background(), dataset.ImportReplace, rows, true)
	require.NoError(t, err)
	want := dataset.Fit(dataset.ScaleStandard, 4, rows)
	require.Equal(t, want, replaced.Scaler())
	require.NoError(t, l.Close())
	assert.Equal(t, snapshotMagicV4, magic())

	l, snap, err = Open(dir, first, Options{})
	require.NoError(t, err)
	defer l.Close()
	assert.Equal(t, want, snap.Scaler(), "the refitted scaler is recovered")
	assert.Equal(t, first.Scaler(), snap.LoadedScaler(), "and the loaded set's, for a reset")
	reset, err := dataset.NewMemory(snap, l).Reset(context.Background())
	require.NoError(t, err)
	assert.Equal(t, first.Scaler(), reset.Scaler())
}
