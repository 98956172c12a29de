// Package datasettest holds the test helpers every store's tests share.
package datasettest

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/dataset"
)

// Valid checks a sample to write into st's current set
// (Snapshot.NewSample), failing the test if it is not valid.
func Valid(t testing.TB, st dataset.Store, id int64, f []float64, label string) dataset.ValidSample {
	t.Helper()
	v, err := st.Snapshot().NewSample(id, f, label)
	require.NoError(t, err)
	return v
}

// ValidOf is Valid for a whole sample.
func ValidOf(t testing.TB, st dataset.Store, x dataset.Sample) dataset.ValidSample {
	t.Helper()
	return Valid(t, st, x.ID, x.Features, x.Label)
}

// Iris returns the embedded Iris set as a snapshot (unscaled), failing the
// test if it does not load.
func Iris(t testing.TB) *dataset.Snapshot {
	t.Helper()
	table, err := dataset.ParseCSV(bytes.NewReader(data.IrisCSV), "")
	require.NoError(t, err)
	snap, err := dataset.NewSnapshot(table.Schema, table.Samples, dataset.ScaleNone)
	require.NoError(t, err)
	return snap
}
