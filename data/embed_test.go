package data_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/dataset"
)

func TestEmbeddedIris(t *testing.T) {
	table, err := dataset.ParseCSV(bytes.NewReader(data.IrisCSV), "")
	samples := table.Samples
	require.NoError(t, err)
	require.Len(t, samples, 150)

	counts := map[string]int{}
	for _, s := range samples {
		counts[s.Label]++
	}
	assert.Equal(t, map[string]int{"setosa": 50, "versicolor": 50, "virginica": 50}, counts)

	// Known values, including the two samples that the UCI copy gets wrong.
	for _, tc := range []dataset.Sample{
		{ID: 1, Features: []float64{5.1, 3.5, 1.4, 0.2}, Label: "setosa"},
		{ID: 35, Features: []float64{4.9, 3.1, 1.5, 0.2}, Label: "setosa"},
		{ID: 38, Features: []float64{4.9, 3.6, 1.4, 0.1}, Label: "setosa"},
		{ID: 51, Features: []float64{7.0, 3.2, 4.7, 1.4}, Label: "versicolor"},
		{ID: 101, Features: []float64{6.3, 3.3, 6.0, 2.5}, Label: "virginica"},
		{ID: 150, Features: []float64{5.9, 3.0, 5.1, 1.8}, Label: "virginica"},
	} {
		assert.Equal(t, tc, samples[tc.ID-1])
	}
}
