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

// SklearnCase is one scikit-learn answer of the reference files under
// internal/dataset/testdata (written by its gen_sklearn*.py scripts with
// Debian's python3-sklearn): a query, by index, with its settings and
// scikit-learn's class and probabilities, and whether a distance tie at the
// k-th neighbour, scikit-learn's inexact zero distance or a vote tie
// decides it.
type SklearnCase struct {
	Query         int       `json:"query"`
	Scale         string    `json:"scale"`
	Metric        string    `json:"metric"`
	Weights       string    `json:"weights"`
	K             int       `json:"k"`
	Class         string    `json:"class"`
	Probabilities []float64 `json:"probabilities"`
	KthTie        bool      `json:"kth_distance_tie"`
	InexactZero   bool      `json:"sklearn_inexact_zero"`
	VoteTie       bool      `json:"vote_tie"`
}
