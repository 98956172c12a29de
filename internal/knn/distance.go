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
//
// Beyond four coordinates the sums run in four accumulators (coordinate i
// of each full block of four into s[i%4], the remaining ones into s0), so
// that the additions overlap instead of waiting on one another; they are
// combined as (s0+s1)+(s2+s3). With fewer than four coordinates this is the
// plain sequential sum. boxBound mirrors the same operations. (Stopping a
// sum early once it passes the k-th distance was tried and measured slower:
// on data filling many dimensions the partial sums rarely pass it, and the
// unpredictable branch costs more than the coordinates it saves.)
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
	switch m {
	case Euclidean:
		return l2sq(p, x)
	case Manhattan:
		return l1(p, x)
	}
	// Chebyshev: max is exact, so the order does not matter.
	var s float64
	for i := range p {
		s = max(s, math.Abs(x[i]-p[i]))
	}
	return s
}

// l2sq is rankDistance for the squared Euclidean distance, any dimension.
func l2sq(p, x []float64) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(p); i += 4 {
		q, y := p[i:i+4:i+4], x[i:i+4:i+4]
		a, b, c, e := y[0]-q[0], y[1]-q[1], y[2]-q[2], y[3]-q[3]
		s0 = float64(s0 + float64(a*a))
		s1 = float64(s1 + float64(b*b))
		s2 = float64(s2 + float64(c*c))
		s3 = float64(s3 + float64(e*e))
	}
	for ; i < len(p); i++ {
		d := x[i] - p[i]
		s0 = float64(s0 + float64(d*d))
	}
	return (s0 + s1) + (s2 + s3)
}

// l1 is rankDistance for the Manhattan distance, any dimension.
func l1(p, x []float64) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(p); i += 4 {
		q, y := p[i:i+4:i+4], x[i:i+4:i+4]
		s0 += math.Abs(y[0] - q[0])
		s1 += math.Abs(y[1] - q[1])
		s2 += math.Abs(y[2] - q[2])
		s3 += math.Abs(y[3] - q[3])
	}
	for ; i < len(p); i++ {
		s0 += math.Abs(x[i] - p[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// boxBound returns a lower bound, in rank-distance units, on the distance
// from p to any point inside the box [lo, hi] (per axis), computed with the
// same operations in the same order as rankDistance (four accumulators) on
// per-axis gaps that are never larger than a point's own differences.
func boxBound(m Metric, p, lo, hi []float64) float64 {
	lo, hi = lo[:len(p)], hi[:len(p)]
	var s [4]float64
	full := len(p) &^ 3
	for i, q := range p {
		var g float64
		if q < lo[i] {
			g = lo[i] - q
		} else if q > hi[i] {
			g = q - hi[i]
		}
		a := 0
		if i < full {
			a = i & 3
		}
		switch m {
		case Euclidean:
			s[a] = float64(s[a] + float64(g*g))
		case Manhattan:
			s[a] += g
		default:
			if g > s[0] {
				s[0] = g
			}
		}
	}
	return (s[0] + s[1]) + (s[2] + s[3])
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
