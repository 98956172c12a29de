package knn

import (
	"math"
	"unsafe"
)

// The distance kernels below are shared by the brute-force Dataset, the
// k-d tree and the live Index, so that every search computes bit-identical
// rank distances and therefore breaks ties identically. The explicit
// float64 conversions forbid the compiler from fusing a multiply and an add
// (FMA): fusion would change the last bit of some distances depending on
// the target CPU level, and with it the order of near-ties.
//
// The per-cell lower bounds of the tree use the same operations in the same
// order on per-axis gaps that are never larger than the point's own axis
// differences. Floating-point subtraction, multiplication of non-negative
// values and addition are monotone, so the bound computed this way is never
// larger than the distance computed for any point in the cell: pruning a
// cell whose bound exceeds the k-th distance can never drop a neighbour,
// even one tied to the last bit.

// l2sq4 is the squared Euclidean distance between the 4-d point x and
// (q0, q1, q2, q3).
func l2sq4(x *[4]float64, q0, q1, q2, q3 float64) float64 {
	a, b, c, e := x[0]-q0, x[1]-q1, x[2]-q2, x[3]-q3
	return float64(float64(float64(a*a)+float64(b*b))+float64(c*c)) + float64(e*e)
}

// l14 is the Manhattan distance between the 4-d point x and q.
func l14(x *[4]float64, q0, q1, q2, q3 float64) float64 {
	return ((math.Abs(x[0]-q0) + math.Abs(x[1]-q1)) + math.Abs(x[2]-q2)) + math.Abs(x[3]-q3)
}

// rankDistance returns a value that orders points like the metric does:
// the squared distance for Euclidean, the distance itself otherwise. x is a
// stored point, p the query.
func rankDistance(m Metric, p, x []float64) float64 {
	x = x[:len(p)]
	if len(p) == 4 {
		switch m {
		case Euclidean:
			return l2sq4((*[4]float64)(x), p[0], p[1], p[2], p[3])
		case Manhattan:
			return l14((*[4]float64)(x), p[0], p[1], p[2], p[3])
		}
	}
	var s float64
	switch m {
	case Euclidean:
		for i := range p {
			d := x[i] - p[i]
			s += float64(d * d)
		}
	case Manhattan:
		for i := range p {
			s += math.Abs(x[i] - p[i])
		}
	default: // Chebyshev
		for i := range p {
			if d := math.Abs(x[i] - p[i]); d > s {
				s = d
			}
		}
	}
	return s
}

// boxBound returns a lower bound, in rank-distance units, on the distance
// from p to any point inside the box [lo, hi] (per axis), computed with the
// same operations as rankDistance.
func boxBound(m Metric, p, lo, hi []float64) float64 {
	lo, hi = lo[:len(p)], hi[:len(p)]
	var s float64
	for i, q := range p {
		var g float64
		if q < lo[i] {
			g = lo[i] - q
		} else if q > hi[i] {
			g = q - hi[i]
		}
		switch m {
		case Euclidean:
			s += float64(g * g)
		case Manhattan:
			s += g
		default:
			if g > s {
				s = g
			}
		}
	}
	return s
}

// trueDistance converts a rank distance into the metric's distance.
func trueDistance(m Metric, r float64) float64 {
	if m == Euclidean {
		return math.Sqrt(r)
	}
	return r
}

// rows4 views the row-major 4-d points pts as rows (len(pts) must be a
// multiple of 4), so that loops over rows need no bounds checks.
func rows4(pts []float64) [][4]float64 {
	return unsafe.Slice((*[4]float64)(unsafe.Pointer(unsafe.SliceData(pts))), len(pts)/4)
}
