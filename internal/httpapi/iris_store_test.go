package httpapi

import (
	"bytes"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/dataset"
)

// irisSamples returns a store over the embedded Iris data.
func irisSamples() (dataset.Store, error) {
	samples, err := dataset.ParseCSV(bytes.NewReader(data.IrisCSV), "")
	if err != nil {
		return nil, err
	}
	snap, err := dataset.NewSnapshot(samples.Schema, samples.Samples, dataset.ScaleNone)
	if err != nil {
		return nil, err
	}
	return dataset.NewMemory(snap, nil), nil
}
