//go:build !amd64 || purego

package knn

// next4L2 returns the first row j >= from of the 4-d rows pts whose
// squared L2 distance d to p is at most limit, or j = len(pts)/4.
func next4L2(pts []float64, from int, p []float64, limit float64) (int, float64) {
	return next4L2Go(pts, from, p, limit)
}

// next4L1 is next4L2 for the L1 distance.
func next4L1(pts []float64, from int, p []float64, limit float64) (int, float64) {
	return next4L1Go(pts, from, p, limit)
}

// within4 stores to dist the rank distance (L2 or L1) from p to every row
// r of the blocks (blocks4), to mins[r%8] the smallest of those distances
// and sets in mask, which must be zero, the bit of every row whose
// distance is at most limit (none for a negative limit). The blocks hold
// at most smallMax rows.
func within4(blocks []float64, p *[4]float64, limit float64, m Metric, dist *[smallMax]float64, mask *[smallMax / 64]uint64, mins *[8]float64) {
	within4Go(blocks, p, limit, m, dist, mask, mins)
}

// atMost sets in mask, which must be zero, the bit of every entry of
// dist[:n] (n a multiple of 8) that is at most limit.
func atMost(dist *[smallMax]float64, n int, limit float64, mask *[smallMax / 64]uint64) {
	atMostGo(dist, n, limit, mask)
}
