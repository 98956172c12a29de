//go:build !purego

package knn

// On amd64 the leaf scans and searchSmall's distance loop run in SSE2
// assembly (collect_amd64.s). next4L2 and next4L1 subtract a row's four
// coordinates in two packed operations, then add in the scalar order of
// l2sq4 and l14; within4 computes two rows at once, lane for lane the
// operations of l2sq4 and l14. So every distance has the bits of the Go
// kernels (SSE2 arithmetic is IEEE double precision, and nothing is
// fused). TestCollectMatchesGo compares them with the Go loops.

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

//go:noescape
func within4L2SSE(blocks *[16]float64, n int, q *[4]float64, limit float64, dist *[smallMax]float64, mask *[smallMax / 64]uint64, mins *[8]float64)

//go:noescape
func within4L1SSE(blocks *[16]float64, n int, q *[4]float64, limit float64, dist *[smallMax]float64, mask *[smallMax / 64]uint64, mins *[8]float64)

// within4 stores to dist the rank distance (L2 or L1) from p to every row
// r of the blocks (blocks4), to mins[r%8] the smallest of those distances
// and sets in mask, which must be zero, the bit of every row whose
// distance is at most limit (none for a negative limit). The blocks hold
// at most smallMax rows.
func within4(blocks []float64, p *[4]float64, limit float64, m Metric, dist *[smallMax]float64, mask *[smallMax / 64]uint64, mins *[8]float64) {
	n := len(blocks) / 4
	if n == 0 {
		return
	}
	b := (*[16]float64)(blocks)
	if m == Euclidean {
		within4L2SSE(b, n, p, limit, dist, mask, mins)
	} else {
		within4L1SSE(b, n, p, limit, dist, mask, mins)
	}
}

//go:noescape
func atMostSSE(dist *[smallMax]float64, n int, limit float64, mask *[smallMax / 64]uint64)

// atMost sets in mask, which must be zero, the bit of every entry of
// dist[:n] (n a multiple of 8) that is at most limit.
func atMost(dist *[smallMax]float64, n int, limit float64, mask *[smallMax / 64]uint64) {
	if n > 0 {
		atMostSSE(dist, n, limit, mask)
	}
}
