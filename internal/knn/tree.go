package knn

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// LeafSize is the largest number of points in a leaf of a k-d tree.
const LeafSize = 16

// smallTree is the size up to which a tree is one leaf: a scan of a few
// hundred contiguous points beats descending a tree (measured at N=150:
// see BenchmarkIndexPredict and docs/performance.md).
const smallTree = 256

// tree is an immutable exact k-d tree over labelled points, laid out in
// flat arrays. Points are stored in tree order: every node owns a
// contiguous range of rows. Nodes form an implicit binary tree (node i has
// children 2i+1 and 2i+2) split at the median of the widest axis of the
// node's bounding box; every node stores its tight bounding box, from which
// a search computes a lower bound on the distance to any point inside it.
type tree struct {
	dim    int
	leaf   int       // a node with at most this many points is a leaf
	points []float64 // tree order, row-major
	ids    []int64   // tree order
	labels []uint8   // tree order
	byID   []int32   // rows sorted by id, for lookups and id-order walks
	lo, hi []int32   // per node: its row range
	box    []float64 // per node: dim minimums then dim maximums
}

// buildTree builds a tree over the given rows, taking ownership of the
// slices (they are reordered in place). ids must be unique.
func buildTree(dim int, ids []int64, points []float64, labels []uint8) *tree {
	n := len(ids)
	t := &tree{dim: dim, leaf: LeafSize, points: points, ids: ids, labels: labels}
	if n <= smallTree {
		t.leaf = max(n, 1)
	}
	nodes := maxNode(0, n, t.leaf) + 1
	t.lo = make([]int32, nodes)
	t.hi = make([]int32, nodes)
	t.box = make([]float64, nodes*2*dim)
	par := 0 // levels built in parallel: enough to keep every CPU busy
	for p := runtime.GOMAXPROCS(0); p > 1; p >>= 1 {
		par++
	}
	var wg sync.WaitGroup
	t.build(0, 0, n, par, &wg)
	wg.Wait()

	t.byID = make([]int32, n)
	for i := range t.byID {
		t.byID[i] = int32(i)
	}
	ids = t.ids
	sorted := true
	for i := 1; i < n && sorted; i++ {
		sorted = ids[i-1] < ids[i]
	}
	if !sorted {
		slices.SortFunc(t.byID, func(a, b int32) int { return cmpInt64(ids[a], ids[b]) })
	}
	return t
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// maxNode returns the largest node index used by a subtree rooted at i over
// size points.
func maxNode(i, size, leaf int) int {
	if size <= leaf {
		return i
	}
	return max(maxNode(2*i+1, size/2, leaf), maxNode(2*i+2, size-size/2, leaf))
}

// build lays out node i over rows [lo, hi).
func (t *tree) build(i, lo, hi, par int, wg *sync.WaitGroup) {
	dim := t.dim
	t.lo[i], t.hi[i] = int32(lo), int32(hi)
	bmin := t.box[2*dim*i : 2*dim*i+dim]
	bmax := t.box[2*dim*i+dim : 2*dim*(i+1)]
	if hi == lo {
		return
	}
	copy(bmin, t.points[lo*dim:lo*dim+dim])
	copy(bmax, t.points[lo*dim:lo*dim+dim])
	for r := lo + 1; r < hi; r++ {
		x := t.points[r*dim : r*dim+dim]
		for a, v := range x {
			if v < bmin[a] {
				bmin[a] = v
			}
			if v > bmax[a] {
				bmax[a] = v
			}
		}
	}
	if hi-lo <= t.leaf {
		return
	}
	axis, spread := 0, -1.0
	for a := range dim {
		if s := bmax[a] - bmin[a]; s > spread {
			axis, spread = a, s
		}
	}
	mid := lo + (hi-lo)/2
	t.selectRow(lo, hi, mid, axis)
	if par > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.build(2*i+1, lo, mid, par-1, wg)
		}()
	} else {
		t.build(2*i+1, lo, mid, 0, wg)
	}
	t.build(2*i+2, mid, hi, max(par-1, 0), wg)
}

// swapRows exchanges rows a and b.
func (t *tree) swapRows(a, b int) {
	d := t.dim
	pa, pb := t.points[a*d:a*d+d], t.points[b*d:b*d+d]
	for j := range pa {
		pa[j], pb[j] = pb[j], pa[j]
	}
	t.ids[a], t.ids[b] = t.ids[b], t.ids[a]
	t.labels[a], t.labels[b] = t.labels[b], t.labels[a]
}

// selectRow partially sorts rows [lo, hi) on axis so that row nth holds the
// value it would hold if sorted, no row before it is larger and none after
// it smaller (quickselect, median-of-three pivots).
func (t *tree) selectRow(lo, hi, nth, axis int) {
	d, pts := t.dim, t.points
	key := func(r int) float64 { return pts[r*d+axis] }
	for hi-lo > 8 {
		a, b, c := key(lo), key(lo+(hi-lo)/2), key(hi-1)
		pv := max(min(a, b), min(max(a, b), c))
		i, j := lo, hi-1
		for i <= j {
			for key(i) < pv {
				i++
			}
			for key(j) > pv {
				j--
			}
			if i <= j {
				t.swapRows(i, j)
				i++
				j--
			}
		}
		switch {
		case nth <= j:
			hi = j + 1
		case nth >= i:
			lo = i
		default:
			return
		}
	}
	// Insertion sort for the last few rows.
	for i := lo + 1; i < hi; i++ {
		for j := i; j > lo && key(j) < key(j-1); j-- {
			t.swapRows(j, j-1)
		}
	}
}

// isLeaf reports whether node i is a leaf.
func (t *tree) isLeaf(i int) bool { return int(t.hi[i]-t.lo[i]) <= t.leaf }

// find returns the row holding id.
func (t *tree) find(id int64) (int, bool) {
	ids, by := t.ids, t.byID
	lo, hi := 0, len(by)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ids[by[m]] < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(by) && ids[by[lo]] == id {
		return int(by[lo]), true
	}
	return 0, false
}

// bound returns the lower bound on the rank distance from p to node i.
func (t *tree) bound(i int, p []float64, m Metric) float64 {
	d := t.dim
	b := t.box[2*d*i : 2*d*(i+1)]
	if d == 4 {
		b = b[:8:8]
		q0, q1, q2, q3 := p[0], p[1], p[2], p[3]
		var g0, g1, g2, g3 float64
		if q0 < b[0] {
			g0 = b[0] - q0
		} else if q0 > b[4] {
			g0 = q0 - b[4]
		}
		if q1 < b[1] {
			g1 = b[1] - q1
		} else if q1 > b[5] {
			g1 = q1 - b[5]
		}
		if q2 < b[2] {
			g2 = b[2] - q2
		} else if q2 > b[6] {
			g2 = q2 - b[6]
		}
		if q3 < b[3] {
			g3 = b[3] - q3
		} else if q3 > b[7] {
			g3 = q3 - b[7]
		}
		switch m {
		case Euclidean:
			return float64(float64(float64(g0*g0)+float64(g1*g1))+float64(g2*g2)) + float64(g3*g3)
		case Manhattan:
			return ((g0 + g1) + g2) + g3
		}
		return max(max(max(g0, g1), g2), g3)
	}
	return boxBound(m, p, b[:d], b[d:])
}

// maxDepth bounds the depth of any tree (row counts fit in int32).
const maxDepth = 40

// search offers to h every live point of t that can be among the k nearest
// to p. A row r is skipped when dead[r] < n (see deltaLog).
func (t *tree) search(h *topK, p []float64, k int, m Metric, dead []atomic.Int32, n int32) {
	if len(t.ids) == 0 {
		return
	}
	type entry struct {
		node  int32
		bound float64
	}
	var stack [maxDepth]entry
	sp := 0
	stack[0] = entry{0, 0}
	sp = 1
	for sp > 0 {
		sp--
		e := stack[sp]
		if len(h.items) == k && e.bound > h.items[0].Distance {
			continue
		}
		i := int(e.node)
		for !t.isLeaf(i) {
			l, r := 2*i+1, 2*i+2
			bl, br := t.bound(l, p, m), t.bound(r, p, m)
			near, far, bfar := l, r, br
			if br < bl {
				near, far, bfar = r, l, bl
			}
			if len(h.items) < k || bfar <= h.items[0].Distance {
				stack[sp] = entry{int32(far), bfar}
				sp++
			}
			i = near
		}
		t.scan(h, int(t.lo[i]), int(t.hi[i]), p, k, m, dead, n)
	}
}

// scan offers rows [lo, hi) to h.
func (t *tree) scan(h *topK, lo, hi int, p []float64, k int, m Metric, dead []atomic.Int32, n int32) {
	ids, labels, pts := t.ids[lo:hi], t.labels[lo:hi], t.points[lo*t.dim:hi*t.dim]
	if t.dim == 4 && m != Chebyshev {
		q0, q1, q2, q3 := p[0], p[1], p[2], p[3]
		for j, id := range ids {
			var d float64
			if m == Euclidean {
				d = l2sq4(pts[4*j:4*j+4:4*j+4], q0, q1, q2, q3)
			} else {
				d = l14(pts[4*j:4*j+4:4*j+4], q0, q1, q2, q3)
			}
			if len(h.items) == k {
				if r := &h.items[0]; d > r.Distance || (d == r.Distance && id > r.ID) {
					continue
				}
			}
			if dead != nil && dead[lo+j].Load() < n {
				continue
			}
			h.push(d, id, int32(labels[j]), k)
		}
		return
	}
	dim := t.dim
	for j, id := range ids {
		d := rankDistance(m, p, pts[j*dim:(j+1)*dim])
		if len(h.items) == k {
			if r := &h.items[0]; d > r.Distance || (d == r.Distance && id > r.ID) {
				continue
			}
		}
		if dead != nil && dead[lo+j].Load() < n {
			continue
		}
		h.push(d, id, int32(labels[j]), k)
	}
}
