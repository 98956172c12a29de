package knn

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Errors returned for invalid queries and datasets. They are wrapped with
// details; test for them with errors.Is.
var (
	// ErrK reports k < 1 or k larger than the number of samples.
	ErrK = errors.New("k out of range")
	// ErrDimension reports a point whose length differs from the dataset's.
	ErrDimension = errors.New("wrong number of features")
	// ErrNotFinite reports a NaN or infinite coordinate.
	ErrNotFinite = errors.New("feature is not a finite number")
	// ErrMetric reports an unknown metric.
	ErrMetric = errors.New("unknown metric")
	// ErrWeights reports an unknown weighting.
	ErrWeights = errors.New("unknown weights")
	// ErrLabel reports a label outside the dataset's classes.
	ErrLabel = errors.New("label out of range")
)

// Metric is a distance function between points.
type Metric uint8

// The supported metrics.
const (
	Euclidean Metric = iota // square root of the sum of squared differences (L2)
	Manhattan               // sum of absolute differences (L1)
	Chebyshev               // largest absolute difference (L-infinity)
)

var metricNames = [...]string{Euclidean: "euclidean", Manhattan: "manhattan", Chebyshev: "chebyshev"}

// Metrics lists every supported metric, in the order of their values.
func Metrics() []Metric { return []Metric{Euclidean, Manhattan, Chebyshev} }

// String returns the metric's lower-case name, as accepted by ParseMetric.
func (m Metric) String() string {
	if int(m) < len(metricNames) {
		return metricNames[m]
	}
	return fmt.Sprintf("Metric(%d)", m)
}

// ParseMetric returns the metric with the given name (case-insensitive).
func ParseMetric(s string) (Metric, error) {
	for i, n := range metricNames {
		if strings.EqualFold(s, n) {
			return Metric(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q (want one of %s)", ErrMetric, s, strings.Join(metricNames[:], ", "))
}

// Weights selects how neighbours' votes are weighted.
type Weights uint8

// The supported weightings.
const (
	Uniform  Weights = iota // one vote per neighbour
	Distance                // a vote of 1/distance; exact matches outvote everything else
)

var weightNames = [...]string{Uniform: "uniform", Distance: "distance"}

// String returns the weighting's lower-case name, as accepted by ParseWeights.
func (w Weights) String() string {
	if int(w) < len(weightNames) {
		return weightNames[w]
	}
	return fmt.Sprintf("Weights(%d)", w)
}

// ParseWeights returns the weighting with the given name (case-insensitive).
func ParseWeights(s string) (Weights, error) {
	for i, n := range weightNames {
		if strings.EqualFold(s, n) {
			return Weights(i), nil
		}
	}
	return 0, fmt.Errorf("%w %q (want one of %s)", ErrWeights, s, strings.Join(weightNames[:], ", "))
}

// Neighbor is one of the k nearest points to a query.
type Neighbor struct {
	ID       int64   // the point's id
	Label    int32   // the point's class, an index into the classes
	Distance float64 // the distance from the query, in the query's metric
}

// less reports whether a is nearer than b: by distance, then by id.
func less(ad float64, aid int64, bd float64, bid int64) bool {
	return ad < bd || (ad == bd && aid < bid)
}

// Distance returns the distance between a and b, which must have the same
// length.
func (m Metric) Distance(a, b []float64) float64 {
	return trueDistance(m, rankDistance(m, a, b))
}

// CheckPoint reports whether p has dimension dim and only finite values.
func CheckPoint(p []float64, dim int) error {
	if len(p) != dim {
		return fmt.Errorf("%w: got %d, want %d", ErrDimension, len(p), dim)
	}
	for i, v := range p {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: feature %d is %v", ErrNotFinite, i, v)
		}
	}
	return nil
}

// Vote is the outcome of a classification.
type Vote struct {
	Class int  // the winning class
	Tie   bool // true when the tie rule chose Class among classes of equal weight
	// ExactOnly is true when only exact matches voted: with distance
	// weights, a neighbour at distance 0 (an infinite weight) silences every
	// other neighbour, so the probabilities are the shares of the exact
	// matches alone.
	ExactOnly bool
}

// Classify counts the votes of neighbours into probs, which must have one
// entry per class and is overwritten with each class's share of the vote
// (summing to 1). The winner is the class with the largest share; among
// equal shares, the lowest class index.
//
// Vote weights are summed in the order of neighbors (nearest first), so the
// result is reproducible bit for bit.
func Classify(neighbors []Neighbor, w Weights, probs []float64) Vote {
	clear(probs)
	// A neighbour whose inverse distance overflows (distance 0 or a
	// subnormal) is an exact match; when there is one, only exact matches
	// vote, as in scikit-learn.
	exact := false
	if w == Distance {
		for _, n := range neighbors {
			if math.IsInf(1/n.Distance, 1) {
				exact = true
				break
			}
		}
	}
	var total float64
	for _, n := range neighbors {
		v := 1.0
		switch {
		case w == Uniform:
		case exact:
			if !math.IsInf(1/n.Distance, 1) {
				continue
			}
		default:
			v = 1 / n.Distance
		}
		probs[n.Label] += v
		total += v
	}
	best, tie := 0, false
	for c := 1; c < len(probs); c++ {
		switch {
		case probs[c] > probs[best]:
			best, tie = c, false
		case probs[c] == probs[best]:
			tie = true
		}
	}
	if total > 0 {
		for c := range probs {
			probs[c] /= total
		}
	}
	return Vote{Class: best, Tie: tie && probs[best] > 0, ExactOnly: exact}
}
