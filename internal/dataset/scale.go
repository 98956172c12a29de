package dataset

import (
	"fmt"
	"math"
	"strings"
)

// ScaleKind is how features are scaled before distances are measured.
type ScaleKind uint8

// The kinds of scaling.
const (
	// ScaleNone leaves the features as they are (distances in the data's
	// own units, as scikit-learn's KNeighborsClassifier alone).
	ScaleNone ScaleKind = iota
	// ScaleStandard is (x - mean) / std, with the population standard
	// deviation (scikit-learn's StandardScaler).
	ScaleStandard
	// ScaleMinMax is (x - min) / (max - min) (scikit-learn's MinMaxScaler).
	ScaleMinMax
)

var scaleNames = [...]string{ScaleNone: "none", ScaleStandard: "standard", ScaleMinMax: "minmax"}

// String returns the kind's name, as ParseScale accepts it.
func (k ScaleKind) String() string {
	if int(k) < len(scaleNames) {
		return scaleNames[k]
	}
	return fmt.Sprintf("ScaleKind(%d)", k)
}

// ParseScale returns the kind of scaling called name.
func ParseScale(name string) (ScaleKind, error) {
	for i, n := range scaleNames {
		if name == n {
			return ScaleKind(i), nil
		}
	}
	return 0, fmt.Errorf("unknown scaling %q: want one of %s", name, strings.Join(scaleNames[:], ", "))
}

// Scaler maps raw features to the space distances are measured in:
// feature i becomes (x - Offset[i]) / Scale[i]. A column whose values are
// all equal gets Scale 1 (as scikit-learn does), so it scales to 0. The
// zero value (Kind ScaleNone) is the identity.
type Scaler struct {
	Kind   ScaleKind
	Offset []float64 // the mean (standard) or minimum (minmax) of each feature
	Scale  []float64 // the standard deviation (standard) or range (minmax)
}

// Fit fits a scaler of the given kind on the features of samples, which
// have dim features each. ScaleNone, or no samples, gives the identity.
func Fit(kind ScaleKind, dim int, samples []Sample) Scaler {
	if kind == ScaleNone || len(samples) == 0 {
		return Scaler{}
	}
	s := Scaler{Kind: kind, Offset: make([]float64, dim), Scale: make([]float64, dim)}
	n := float64(len(samples))
	for j := range dim {
		switch kind {
		case ScaleStandard:
			// Two passes: the mean, then the mean squared deviation from
			// it (exact for a constant column, unlike E[x^2] - E[x]^2).
			var sum float64
			for _, x := range samples {
				sum += x.Features[j]
			}
			mean := sum / n
			var ss float64
			for _, x := range samples {
				d := x.Features[j] - mean
				ss += d * d
			}
			v := ss / n
			s.Offset[j], s.Scale[j] = mean, math.Sqrt(v)
			// scikit-learn's _is_constant_feature: a variance within
			// rounding error of 0 is a constant column.
			if bound := n*epsilon*v + (n*mean*epsilon)*(n*mean*epsilon); v <= bound {
				s.Scale[j] = 1
			}
		case ScaleMinMax:
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, x := range samples {
				lo, hi = min(lo, x.Features[j]), max(hi, x.Features[j])
			}
			s.Offset[j], s.Scale[j] = lo, hi-lo
			// scikit-learn's _handle_zeros_in_scale.
			if s.Scale[j] < 10*epsilon {
				s.Scale[j] = 1
			}
		}
	}
	return s
}

// epsilon is the machine epsilon of float64 (numpy's finfo(float64).eps).
const epsilon = 0x1p-52

// Identity reports whether the scaler leaves features unchanged.
func (s Scaler) Identity() bool { return s.Kind == ScaleNone }

// Apply writes the scaled x into dst (grown as needed) and returns it.
func (s Scaler) Apply(dst, x []float64) []float64 {
	dst = append(dst[:0], x...)
	if s.Identity() {
		return dst
	}
	for i, v := range dst {
		dst[i] = (v - s.Offset[i]) / s.Scale[i]
	}
	return dst
}

// scaled applies the scaler for the index: a scaled value too large to
// keep every distance finite is an error naming the feature; one too small
// to matter (below MinFeature) is 0.
func (s Scaler) scaled(schema *Schema, field string, dst, x []float64) ([]float64, error) {
	dst = s.Apply(dst, x)
	for i, v := range dst {
		switch a := math.Abs(v); {
		case a > MaxFeature:
			return nil, Invalidf(field, "%s: %s is %g, %g after %s scaling: too far outside the training set's range (at most %g)", field, schema.features[i], x[i], v, s.Kind, MaxFeature)
		case a < MinFeature:
			dst[i] = 0
		}
	}
	return dst, nil
}

// check reports whether a recorded scaler fits a schema of dim features.
func (s Scaler) check(dim int) error {
	if s.Identity() {
		return nil
	}
	if int(s.Kind) >= len(scaleNames) || len(s.Offset) != dim || len(s.Scale) != dim {
		return fmt.Errorf("a %v scaler with %d offsets and %d scales does not fit %d features", s.Kind, len(s.Offset), len(s.Scale), dim)
	}
	for i := range dim {
		if math.IsNaN(s.Offset[i]) || math.IsInf(s.Offset[i], 0) || !(s.Scale[i] > 0) || math.IsInf(s.Scale[i], 0) {
			return fmt.Errorf("scaler: feature %d has offset %g and scale %g", i+1, s.Offset[i], s.Scale[i])
		}
	}
	return nil
}
