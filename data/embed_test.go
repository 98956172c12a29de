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
	samples, err := dataset.ParseCSV(bytes.NewReader(data.IrisCSV))
	require.NoError(t, err)
	require.Len(t, samples, 150)

	counts := map[string]int{}
	for _, s := range samples {
		counts[s.Species]++
	}
	assert.Equal(t, map[string]int{"setosa": 50, "versicolor": 50, "virginica": 50}, counts)

	// Known values, including the two samples that the UCI copy gets wrong.
	for _, tc := range []dataset.Sample{
		{ID: 1, Features: dataset.Features{5.1, 3.5, 1.4, 0.2}, Species: "setosa"},
		{ID: 35, Features: dataset.Features{4.9, 3.1, 1.5, 0.2}, Species: "setosa"},
		{ID: 38, Features: dataset.Features{4.9, 3.6, 1.4, 0.1}, Species: "setosa"},
		{ID: 51, Features: dataset.Features{7.0, 3.2, 4.7, 1.4}, Species: "versicolor"},
		{ID: 101, Features: dataset.Features{6.3, 3.3, 6.0, 2.5}, Species: "virginica"},
		{ID: 150, Features: dataset.Features{5.9, 3.0, 5.1, 1.8}, Species: "virginica"},
	} {
		assert.Equal(t, tc, samples[tc.ID-1])
	}
}
