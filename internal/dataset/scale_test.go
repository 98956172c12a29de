package dataset_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/knn"
)

func TestFitScaler(t *testing.T) {
	samples := []dataset.Sample{
		{ID: 1, Features: []float64{1, 10, 5}, Label: "a"},
		{ID: 2, Features: []float64{2, 20, 5}, Label: "a"},
		{ID: 3, Features: []float64{3, 60, 5}, Label: "b"},
	}
	for _, tc := range []struct {
		kind          dataset.ScaleKind
		offset, scale []float64
	}{
		{dataset.ScaleNone, nil, nil},
		// Population standard deviation; the constant column gets 1.
		{dataset.ScaleStandard, []float64{2, 30, 5}, []float64{math.Sqrt(2.0 / 3), math.Sqrt(1400.0 / 3), 1}},
		{dataset.ScaleMinMax, []float64{1, 10, 5}, []float64{2, 50, 1}},
	} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			s := dataset.Fit(tc.kind, 3, samples)
			assert.Equal(t, tc.kind, s.Kind)
			assert.InDeltaSlice(t, tc.offset, s.Offset, 1e-12)
			assert.InDeltaSlice(t, tc.scale, s.Scale, 1e-12)
			got := s.Apply(nil, []float64{3, 60, 7})
			want := []float64{3, 60, 7}
			for i := range want {
				if tc.offset != nil {
					want[i] = (want[i] - tc.offset[i]) / tc.scale[i]
				}
			}
			assert.InDeltaSlice(t, want, got, 1e-12)
		})
	}
	k, err := dataset.ParseScale("minmax")
	require.NoError(t, err)
	assert.Equal(t, dataset.ScaleMinMax, k)
	_, err = dataset.ParseScale("Standard")
	assert.ErrorContains(t, err, "want one of none, standard, minmax")
}

// TestScaledSnapshot checks that a scaled set searches in the scaled space
// (so the widest column no longer decides every distance), keeps every
// sample exactly as written, and refits nothing on a write.
func TestScaledSnapshot(t *testing.T) {
	csv := "a,b,label\n0,0,x\n1,1000,y\n0.9,0,z\n"
	table, err := dataset.ParseCSV(strings.NewReader(csv), "")
	require.NoError(t, err)
	raw, err := dataset.NewSnapshot(table.Schema, table.Samples, dataset.ScaleNone)
	require.NoError(t, err)
	scaled, err := dataset.NewSnapshot(table.Schema, table.Samples, dataset.ScaleMinMax)
	require.NoError(t, err)

	var pr knn.Prediction
	q := knn.Query{K: 1}
	require.NoError(t, raw.Predict(&pr, []float64{1, 100}, q))
	assert.Equal(t, "z", raw.Classes()[pr.Class], "unscaled, b decides: 100 is near 0")
	require.NoError(t, scaled.Predict(&pr, []float64{1, 100}, q))
	assert.Equal(t, "z", scaled.Classes()[pr.Class])
	require.NoError(t, scaled.Predict(&pr, []float64{1, 600}, q))
	assert.Equal(t, "y", scaled.Classes()[pr.Class], "scaled: b counts as much as a")
	assert.InDelta(t, 0.4, pr.Neighbors[0].Distance, 1e-12, "the distance is in the scaled space")

	m := dataset.NewMemory(scaled, nil)
	x, snap, err := m.Create(context.Background(), valid(t, m, 0, []float64{0.1 + 0.2, 123.456789}, "x"))
	require.NoError(t, err)
	got, ok := snap.Get(x.ID)
	require.True(t, ok)
	assert.Equal(t, []float64{0.1 + 0.2, 123.456789}, got.Features, "read back exactly as written")
	assert.Equal(t, scaled.Scaler(), snap.Scaler(), "a write refits nothing")

	// A query far outside the training range after scaling is refused,
	// not answered with infinite distances.
	tiny, err := dataset.NewSnapshot(table.Schema, []dataset.Sample{
		{ID: 1, Features: []float64{0, 0}, Label: "x"}, {ID: 2, Features: []float64{1e-14, 1}, Label: "y"},
	}, dataset.ScaleMinMax)
	require.NoError(t, err)
	err = tiny.Predict(&pr, []float64{1e99, 0}, q)
	assert.Equal(t, dataset.KindInvalid, dataset.ErrorKind(err))
	assert.ErrorContains(t, err, "too far outside the training set's range")
	// In a batch the error names the row that is out of range.
	out := make([]knn.Prediction, 3)
	err = tiny.PredictBatch(context.Background(), out, [][]float64{{0, 0}, {1, 1}, {1e99, 0}}, q)
	assert.Equal(t, dataset.KindInvalid, dataset.ErrorKind(err))
	assert.ErrorContains(t, err, "instances[2]: ")
	assert.ErrorContains(t, err, "too far outside the training set's range")
}
