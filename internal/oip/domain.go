package oip

import (
	"context"
	"encoding/json"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/knn"
)

// This file is the package's whole view of the domain's feature vectors:
// adapting to another shape of dataset.Features changes only these
// functions.

// featureDim returns d, the number of features of a row of snap.
func featureDim(*dataset.Snapshot) int { return dataset.Dim }

// featureNames returns the names of the features, in row order.
func featureNames(*dataset.Snapshot) []string { return dataset.FeatureNames[:] }

// predictRows classifies the rows of flat (row-major, d per row) into out.
func predictRows(ctx context.Context, snap *dataset.Snapshot, out []knn.Prediction, flat []float64, d int, q knn.Query) error {
	fs := make([]dataset.Features, len(out))
	for i := range fs {
		copy(fs[i][:], flat[i*d:(i+1)*d])
	}
	return snap.PredictBatch(ctx, out, fs, q)
}

// classesParam encodes the class names (the order of probabilities) as one
// string parameter: a JSON array, since a parameter value is a scalar.
func classesParam(classes []string) string {
	b, _ := json.Marshal(classes)
	return string(b)
}
