package knn

import (
	"fmt"
	"slices"
)

// Dataset is a set of labelled points searched by brute force: every query
// measures the distance to every point. It is the reference against which
// any index is tested, and the fastest choice for small sets.
//
// A Dataset must not be modified after it is first searched; it is then safe
// for concurrent use.
type Dataset struct {
	dim     int
	points  []float64 // row-major, len(ids)*dim
	ids     []int64
	labels  []int32
	classes []string
}

// NewDataset returns an empty dataset of points of dimension dim whose
// labels index classes. Classes should be sorted: the tie rule prefers the
// lower index.
func NewDataset(dim int, classes []string) *Dataset {
	return &Dataset{dim: dim, classes: classes}
}

// Grow makes room for n more points without reallocation.
func (d *Dataset) Grow(n int) {
	d.points = slices.Grow(d.points, n*d.dim)
	d.ids = slices.Grow(d.ids, n)
	d.labels = slices.Grow(d.labels, n)
}

// Add appends a point. It fails if the point has the wrong dimension, a
// non-finite value or a label outside the classes. Ids are not checked for
// uniqueness; duplicate ids make the tie order between them unspecified.
func (d *Dataset) Add(id int64, point []float64, label int) error {
	if err := CheckPoint(point, d.dim); err != nil {
		return err
	}
	if label < 0 || label >= len(d.classes) {
		return fmt.Errorf("%w: %d (have %d classes)", ErrLabel, label, len(d.classes))
	}
	d.points = append(d.points, point...)
	d.ids = append(d.ids, id)
	d.labels = append(d.labels, int32(label))
	return nil
}

// Len returns the number of points.
func (d *Dataset) Len() int { return len(d.ids) }

// Dim returns the dimension of the points.
func (d *Dataset) Dim() int { return d.dim }

// Classes returns the class names; do not modify the result.
func (d *Dataset) Classes() []string { return d.classes }

// Query is what a prediction asks for.
type Query struct {
	K       int
	Metric  Metric
	Weights Weights
}

// Check reports whether q is a valid query over n points.
func (q Query) Check(n int) error {
	if q.K < 1 || q.K > n {
		return fmt.Errorf("%w: k=%d, want 1 <= k <= %d (the number of samples)", ErrK, q.K, n)
	}
	if int(q.Metric) >= len(metricNames) {
		return fmt.Errorf("%w: %v", ErrMetric, q.Metric)
	}
	if int(q.Weights) >= len(weightNames) {
		return fmt.Errorf("%w: %v", ErrWeights, q.Weights)
	}
	return nil
}

// Nearest appends to dst the k points nearest to p in metric m, nearest
// first (equal distances: lower id first), and returns the extended slice.
// It returns fewer than k when the dataset has fewer points. p must have the
// dataset's dimension; Predict validates, Nearest does not.
func (d *Dataset) Nearest(dst []Neighbor, p []float64, k int, m Metric) []Neighbor {
	if k > len(d.ids) {
		k = len(d.ids)
	}
	if k <= 0 {
		return dst
	}
	base := len(dst)
	dst = slices.Grow(dst, k)[:base+k]
	h := newTopK(dst[base:base], k)
	dim := d.dim
	if dim == 4 && m == Euclidean {
		// The common case, unrolled: 4-d (Iris) squared L2.
		q0, q1, q2, q3 := p[0], p[1], p[2], p[3]
		rows := rows4(d.points)[:len(d.ids)]
		for i, id := range d.ids {
			h.push(l2sq4(&rows[i], q0, q1, q2, q3), id, d.labels[i], k)
		}
	} else {
		for i, id := range d.ids {
			h.push(rankDistance(m, p, d.points[i*dim:(i+1)*dim]), id, d.labels[i], k)
		}
	}
	h.sort()
	for i := range h.items {
		h.items[i].Distance = trueDistance(m, h.items[i].Distance)
	}
	return dst
}

// Prediction is a classification with its evidence.
type Prediction struct {
	Vote
	Probabilities []float64  // share of the vote per class, summing to 1
	Neighbors     []Neighbor // the k nearest points, nearest first
}

// Predict classifies p. It validates the query and the point.
func (d *Dataset) Predict(p []float64, q Query) (Prediction, error) {
	var pr Prediction
	err := d.PredictInto(&pr, p, q)
	return pr, err
}

// PredictInto is Predict reusing pr's slices, so that repeated predictions
// allocate nothing.
func (d *Dataset) PredictInto(pr *Prediction, p []float64, q Query) error {
	if err := q.Check(len(d.ids)); err != nil {
		return err
	}
	if err := CheckPoint(p, d.dim); err != nil {
		return err
	}
	pr.Neighbors = d.Nearest(pr.Neighbors[:0], p, q.K, q.Metric)
	pr.Probabilities = slices.Grow(pr.Probabilities[:0], len(d.classes))[:len(d.classes)]
	pr.Vote = Classify(pr.Neighbors, q.Weights, pr.Probabilities)
	return nil
}
