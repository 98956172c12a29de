//go:build !amd64 || purego

package knn

// collect4L2 appends to cand, from position c, the rows in [from, to) of
// the 4-d rows pts whose squared L2 distance to p is at most limit, and
// returns the new count. to must be at most smallMax and len(pts)/4.
func collect4L2(cand *[smallMax]int32, c int, pts []float64, from, to int, p []float64, limit float64) int {
	return collect4L2Go(cand, c, pts, from, to, p, limit)
}

// collect4L1 is collect4L2 for the L1 distance.
func collect4L1(cand *[smallMax]int32, c int, pts []float64, from, to int, p []float64, limit float64) int {
	return collect4L1Go(cand, c, pts, from, to, p, limit)
}

// next4L2 returns the first row j >= from of the 4-d rows pts whose
// squared L2 distance d to p is at most limit, or j = len(pts)/4.
func next4L2(pts []float64, from int, p []float64, limit float64) (int, float64) {
	return next4L2Go(pts, from, p, limit)
}

// next4L1 is next4L2 for the L1 distance.
func next4L1(pts []float64, from int, p []float64, limit float64) (int, float64) {
	return next4L1Go(pts, from, p, limit)
}
