//go:build !purego

package knn

// On amd64 the collection loops of searchSmall run in SSE2 assembly
// (collect_amd64.s): the four coordinate differences in two packed
// subtractions, then the same scalar additions in the same order as
// l2sq4 and l14, so every distance has the bits of the Go kernels
// (SSE2 arithmetic is IEEE double precision, and nothing is fused).
// TestCollectMatchesGo compares them with collect4L2Go and collect4L1Go.

//go:noescape
func collect4L2SSE(cand *[smallMax]int32, c int, rows *[4]float64, from, to int, q *[4]float64, limit float64) int

//go:noescape
func collect4L1SSE(cand *[smallMax]int32, c int, rows *[4]float64, from, to int, q *[4]float64, limit float64) int

// collect4L2 appends to cand, from position c, the rows in [from, to) of
// the 4-d rows pts whose squared L2 distance to p is at most limit, and
// returns the new count. to must be at most smallMax and len(pts)/4.
func collect4L2(cand *[smallMax]int32, c int, pts []float64, from, to int, p []float64, limit float64) int {
	rows := rows4(pts[:4*to])
	if from >= to {
		return c
	}
	return collect4L2SSE(cand, c, &rows[0], from, to, (*[4]float64)(p), limit)
}

// collect4L1 is collect4L2 for the L1 distance.
func collect4L1(cand *[smallMax]int32, c int, pts []float64, from, to int, p []float64, limit float64) int {
	rows := rows4(pts[:4*to])
	if from >= to {
		return c
	}
	return collect4L1SSE(cand, c, &rows[0], from, to, (*[4]float64)(p), limit)
}

//go:noescape
func next4L2SSE(rows *[4]float64, from, n int, q *[4]float64, limit float64) (int, float64)

//go:noescape
func next4L1SSE(rows *[4]float64, from, n int, q *[4]float64, limit float64) (int, float64)

// next4L2 returns the first row j >= from of the 4-d rows pts whose
// squared L2 distance d to p is at most limit, or j = len(pts)/4.
func next4L2(pts []float64, from int, p []float64, limit float64) (int, float64) {
	n := len(pts) / 4
	if from >= n {
		return n, 0
	}
	return next4L2SSE((*[4]float64)(pts), from, n, (*[4]float64)(p), limit)
}

// next4L1 is next4L2 for the L1 distance.
func next4L1(pts []float64, from int, p []float64, limit float64) (int, float64) {
	n := len(pts) / 4
	if from >= n {
		return n, 0
	}
	return next4L1SSE((*[4]float64)(pts), from, n, (*[4]float64)(p), limit)
}
