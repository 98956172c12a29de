// Package dataset holds the domain of the service: samples of the Iris
// training set, their validation, immutable versioned snapshots of the set,
// and the Store interface through which the set changes.
//
// It imports no HTTP, Redis or storage code. A [Snapshot] is immutable: a
// reader that holds one sees one consistent version for as long as it likes,
// without locks. A write produces a [Change] that, applied to the current
// snapshot, publishes the next version. Stores (in memory, durable, shared
// through Redis) differ only in where changes are recorded and how they
// reach every reader.
package dataset

import (
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"math"
	"slices"
)

// Dim is the number of features of a sample.
const Dim = 4

// FeatureNames are the names of the four measurements, in the order used by
// feature arrays everywhere (CSV columns, JSON arrays). All are in cm.
var FeatureNames = [Dim]string{"sepal_length", "sepal_width", "petal_length", "petal_width"}

// Features are the four measurements of a flower, in FeatureNames order.
type Features [Dim]float64

// Sample is one labelled flower of the training set.
type Sample struct {
	ID       int64
	Features Features
	Species  string
}

// ETag returns a strong entity tag for the sample's current content, for
// HTTP conditional requests (If-Match). Equal content gives equal tags.
func (s Sample) ETag() string {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(s.ID))
	h.Write(b[:])
	for _, f := range s.Features {
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(f))
		h.Write(b[:])
	}
	h.Write([]byte(s.Species))
	return `"` + hex.EncodeToString(h.Sum(nil)) + `"`
}

// Bounds of a feature's magnitude. Within them no distance, squared
// difference or inverse-distance weight can overflow or round to zero, so
// every prediction is finite (a value like 1e308 would give an infinite
// distance, and neighbours 1e-307 apart an infinite sum of weights).
const (
	MaxFeature = 1e100  // the largest magnitude of a feature
	MinFeature = 1e-100 // the smallest magnitude of a non-zero feature
)

// CheckFeatures validates measurements: every value must be finite, and 0
// or of a magnitude between MinFeature and MaxFeature. Negative values are
// accepted: a custom dataset may be standardised.
func CheckFeatures(f Features) error {
	for i, v := range f {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Invalidf("features", "%s must be a finite number, got %v", FeatureNames[i], v)
		}
		if a := math.Abs(v); a > MaxFeature || (a != 0 && a < MinFeature) {
			return Invalidf("features", "%s must be 0 or of a magnitude between %g and %g, got %g", FeatureNames[i], MinFeature, MaxFeature, v)
		}
	}
	return nil
}

// Classes returns the sorted, distinct species of samples.
func Classes(samples []Sample) []string {
	seen := map[string]bool{}
	var cs []string
	last := ""
	for i, s := range samples {
		if i > 0 && s.Species == last { // species usually come in runs
			continue
		}
		last = s.Species
		if !seen[last] {
			seen[last] = true
			cs = append(cs, last)
		}
	}
	slices.Sort(cs)
	return cs
}
