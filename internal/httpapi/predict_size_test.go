package httpapi

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/irisknn/irisknn/internal/knn"
	"github.com/irisknn/irisknn/internal/novelty"
)

// TestSingleSizeBoundsTheAnswer: a single answer, with the longest numbers
// and names, fits the buffer singleSize gives it.
func TestSingleSizeBoundsTheAnswer(t *testing.T) {
	long := -1.2345678901234567e-06
	assert.Len(t, appendFloat(nil, long), maxNumberLen)
	assert.LessOrEqual(t, len(appendFloat(nil, -math.MaxFloat64)), maxNumberLen)
	for _, m := range knn.Metrics() {
		assert.LessOrEqual(t, len(m.String()), maxSettingLen)
	}
	for _, w := range []knn.Weights{knn.Uniform, knn.Distance} {
		assert.LessOrEqual(t, len(w.String()), maxSettingLen)
	}
	for _, names := range []*wireNames{
		wireNamesFor("species", []string{"setosa", "versicolor", "virginica"}),
		wireNamesFor("a \"quoted\" label", []string{"x", "a much longer class name \u2028", ""}),
		wireNamesFor("c", []string{"only"}),
	} {
		for _, k := range []int{1, 5, 100} {
			pr := &knn.Prediction{Vote: knn.Vote{Class: len(names.quoted) - 1, Tie: true, ExactOnly: true}}
			for range names.quoted {
				pr.Probabilities = append(pr.Probabilities, long)
			}
			for range k {
				pr.Neighbors = append(pr.Neighbors, knn.Neighbor{ID: math.MinInt64, Label: int32(len(names.quoted) - 1), Distance: long})
			}
			q := knn.Query{K: k, Metric: knn.Chebyshev, Weights: knn.Distance}
			b := appendPrediction(nil, names, pr, novelty.Assessment{Percentile: long, Unusual: true}, &q, math.MaxUint64)
			assert.LessOrEqual(t, len(b), names.singleSize(k), "k=%d %s", k, names.name)
		}
	}
}
