package oip

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/knn"
)

// This file is the package's whole view of the domain's feature vectors:
// the schema of the snapshot gives its shape.

// featureDim returns d, the number of features of a row of snap.
func featureDim(snap *dataset.Snapshot) int { return snap.Schema().Dim() }

// featureNames returns the names of the features, in row order.
func featureNames(snap *dataset.Snapshot) []string { return snap.Schema().Features() }

// rowScratch is reusable memory for the domain's rows.
type rowScratch struct{ fs [][]float64 }

// predictRows classifies the rows of flat (row-major, d per row) into out.
// It is the protocol's edge for feature values: each row is checked here
// (Schema.CheckFeatures), once, before the search.
func predictRows(ctx context.Context, snap *dataset.Snapshot, out []knn.Prediction, flat []float64, d int, q knn.Query, sc *rowScratch) error {
	fs := slices.Grow(sc.fs[:0], len(out))[:len(out)]
	sc.fs = fs
	schema := snap.Schema()
	for i := range fs {
		fs[i] = flat[i*d : (i+1)*d : (i+1)*d]
		if schema.CheckFeatures("", fs[i]) != nil {
			// Name the row only once it is found wrong: formatting
			// every row's name cost two allocations a row.
			return schema.CheckFeatures(rowField(i), fs[i])
		}
	}
	return snap.PredictBatch(ctx, out, fs, q)
}

// rowField names row i of the input tensor in an error.
func rowField(i int) string { return "inputs[0] row " + strconv.Itoa(i) }

// classesParam encodes the class names (the order of probabilities) as one
// string parameter: a JSON array, since a parameter value is a scalar.
func classesParam(classes []string) string {
	b, _ := json.Marshal(classes)
	return string(b)
}
