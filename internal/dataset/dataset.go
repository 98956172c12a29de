// Package dataset holds the domain of the service: the schema of a tabular
// training set (its feature columns and label column, read from a CSV
// header), its samples and their validation, immutable versioned snapshots
// of the set, and the Store interface through which the set changes. The
// shipped set is Iris, but nothing here depends on its shape.
//
// It imports no HTTP, Redis or storage code. A [Snapshot] is immutable: a
// reader that holds one sees one consistent version for as long as it likes,
// without locks. A write produces a [Change] that, applied to the current
// snapshot, publishes the next version. Stores (in memory, durable, shared
// through Redis) differ only in where changes are recorded and how they
// reach every reader.
package dataset

import (
	"fmt"
	"math"
	"slices"
)

// Sample is one labelled row of the training set.
type Sample struct {
	ID       int64
	Features []float64 // in the schema's order
	Label    string    // the class, under the schema's label name
}

// Equal reports whether s and o are the same sample: id, features (bit
// for bit) and label.
func (s Sample) Equal(o Sample) bool {
	return s.ID == o.ID && s.Label == o.Label && slices.EqualFunc(s.Features, o.Features, func(a, b float64) bool {
		return math.Float64bits(a) == math.Float64bits(b)
	})
}

// Bounds of a feature's magnitude. Within them no distance, squared
// difference or inverse-distance weight can overflow or round to zero, so
// every prediction is finite (a value like 1e308 would give an infinite
// distance, and neighbours 1e-307 apart an infinite sum of weights).
const (
	MaxFeature = 1e100  // the largest magnitude of a feature
	MinFeature = 1e-100 // the smallest magnitude of a non-zero feature
)

// CheckValue reports whether v can be a feature value: finite, and 0 or
// of a magnitude between MinFeature and MaxFeature. Negative values are
// accepted: a dataset may be standardised.
func CheckValue(v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("must be a finite number, got %v", v)
	}
	if a := math.Abs(v); a > MaxFeature || (a != 0 && a < MinFeature) {
		return fmt.Errorf("must be 0 or of a magnitude between %g and %g, got %g", MinFeature, MaxFeature, v)
	}
	return nil
}

// CheckFeatures validates a row of features for s: one value per feature,
// each accepted by CheckValue. Errors name the field and the feature.
func (s *Schema) CheckFeatures(field string, f []float64) error {
	if len(f) != len(s.features) {
		return Invalidf(field, "%s must have %d numbers (%s), got %d", field, len(s.features), s.FeatureList(), len(f))
	}
	for i, v := range f {
		if err := CheckValue(v); err != nil {
			return Invalidf(field, "%s: %s %v", field, s.features[i], err)
		}
	}
	return nil
}

// classes returns the sorted, distinct labels of samples.
func classes(samples []Sample) []string {
	seen := map[string]bool{}
	var cs []string
	last := ""
	for i, s := range samples {
		if i > 0 && s.Label == last { // labels usually come in runs
			continue
		}
		last = s.Label
		if !seen[last] {
			seen[last] = true
			cs = append(cs, last)
		}
	}
	slices.Sort(cs)
	return cs
}
