package httpapi

import (
	"bytes"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/iris"
)

// irisSamples returns a store over the embedded Iris data.
func irisSamples() (iris.Store, error) {
	samples, err := iris.ParseCSV(bytes.NewReader(data.IrisCSV))
	if err != nil {
		return nil, err
	}
	snap, err := iris.NewSnapshot(samples)
	if err != nil {
		return nil, err
	}
	return iris.NewMemory(snap, nil), nil
}
