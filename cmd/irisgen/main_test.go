package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/dataset"
)

func TestGenerateIsReproducibleAndParses(t *testing.T) {
	var a, b, c bytes.Buffer
	require.NoError(t, run([]string{"-n", "1000", "-seed", "7"}, &a, &bytes.Buffer{}))
	require.NoError(t, run([]string{"-n", "1000", "-seed", "7"}, &b, &bytes.Buffer{}))
	require.NoError(t, run([]string{"-n", "1000", "-seed", "8"}, &c, &bytes.Buffer{}))
	assert.Equal(t, a.String(), b.String(), "same seed, same file")
	assert.NotEqual(t, a.String(), c.String())
	table, err := dataset.ParseCSV(&a, "")
	samples := table.Samples
	require.NoError(t, err)
	require.Len(t, samples, 1000)
	snap, err := dataset.NewSnapshot(table.Schema, samples, dataset.ScaleNone)
	require.NoError(t, err)
	assert.Equal(t, []string{"setosa", "versicolor", "virginica"}, snap.Classes())
	for _, s := range samples {
		for _, v := range s.Features {
			assert.True(t, v >= 0 && v < 10, "value %v", v)
		}
	}
}

func TestRejectsBadFlags(t *testing.T) {
	assert.Error(t, run([]string{"-n", "0"}, &bytes.Buffer{}, &bytes.Buffer{}))
	assert.Error(t, run([]string{"-nope"}, &bytes.Buffer{}, &bytes.Buffer{}))
}
