package knn

import (
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
)

// LeafSize is the largest number of points in a leaf of a k-d tree.
const LeafSize = 16

// tree is an immutable exact k-d tree over labelled points, laid out in
// flat arrays. Points are stored in tree order: every node owns a
// contiguous range of rows. Nodes form an implicit binary tree (node i has
// children 2i+1 and 2i+2; a node over rows [lo, hi) splits them at
// lo+(hi-lo)/2, so ranges are computed, not stored) split at the median of
// the widest axis of the node's bounding box. Every node stores its tight
// bounding box, from which a search computes a lower bound on the distance
// to any point inside it.
type tree struct {
	dim    int
	leaf   int       // a node with at most this many points is a leaf
	points []float64 // tree order, row-major
	ids    []int64   // tree order
	labels []uint8   // tree order
	nodes  []node
	box    []float64 // per node: dim minimums then dim maximums
	// scanAll is set when a scan of every row is cheaper than a descent
	// (chooseSearch): at high dimension the bounds prune too little.
	scanAll bool
	// blocks holds the points again, in blocks of four rows, for
	// searchSmall (4-d trees of at most smallMax rows only; see blocks4).
	blocks []float64

	// Lookups by id: a dense table when the ids are nearly contiguous (the
	// common case: 1..n), otherwise the rows sorted by id.
	minID int64
	rowOf []int32 // rowOf[id-minID] is the row of id, or -1
	byID  []int32
}

// node is an inner node's split: rows of the left child are <= split on
// axis, rows of the right child >= split.
type node struct {
	split float64
	axis  uint8
}

// buildTree builds a tree over the given rows, taking ownership of the
// slices (they are reordered in place). ids must be unique.
func buildTree(dim int, ids []int64, points []float64, labels []uint8) *tree {
	n := len(ids)
	// Leaves of LeafSize points even for small sets: searchSmall scans
	// the query's leaf first to get a tight k-th distance (a scan of the
	// rows in tree order from the start accepts twice the candidates and
	// takes twice as long at N=150; docs/performance.md).
	t := &tree{dim: dim, leaf: LeafSize, points: points, ids: ids, labels: labels}
	nodes := maxNode(0, n, t.leaf) + 1
	t.nodes = make([]node, nodes)
	t.box = make([]float64, nodes*2*dim)
	par := 0 // levels built in parallel: enough to keep every CPU busy
	for p := runtime.GOMAXPROCS(0); p > 1; p >>= 1 {
		par++
	}
	t.build(0, 0, n, par)
	if dim == 4 && n <= smallMax {
		t.blocks = blocks4(points)
	}
	t.indexIDs()
	t.chooseSearch()
	return t
}

// indexIDs builds the lookup by id.
func (t *tree) indexIDs() {
	n := len(t.ids)
	if n == 0 {
		return
	}
	lo, hi := t.ids[0], t.ids[0]
	for _, id := range t.ids {
		lo, hi = min(lo, id), max(hi, id)
	}
	if span := uint64(hi - lo); span < uint64(2*n+64) {
		t.minID = lo
		t.rowOf = make([]int32, span+1)
		for i := range t.rowOf {
			t.rowOf[i] = -1
		}
		for r, id := range t.ids {
			t.rowOf[id-lo] = int32(r)
		}
		return
	}
	t.byID = make([]int32, n)
	for i := range t.byID {
		t.byID[i] = int32(i)
	}
	ids := t.ids
	slices.SortFunc(t.byID, func(a, b int32) int { return cmpInt64(ids[a], ids[b]) })
}

// walkAfter calls yield with every row in increasing id order, until it
// returns false, from the first row whose id is above after: a seek in
// the id table (an index or a binary search), so that it costs the same
// however far into the set after is.
func (t *tree) walkAfter(after int64, yield func(row int32) bool) {
	if t.rowOf != nil {
		start := 0
		if after >= t.minID {
			start = int(min(uint64(after-t.minID)+1, uint64(len(t.rowOf))))
		}
		for _, r := range t.rowOf[start:] {
			if r >= 0 && !yield(r) {
				return
			}
		}
		return
	}
	ids := t.ids
	start, _ := slices.BinarySearchFunc(t.byID, after, func(r int32, id int64) int {
		if ids[r] <= id {
			return -1
		}
		return 1
	})
	for _, r := range t.byID[start:] {
		if !yield(r) {
			return
		}
	}
}

// duplicate returns an id that two rows share, if any.
func (t *tree) duplicate() (int64, bool) {
	if t.rowOf != nil {
		seen := 0
		for _, r := range t.rowOf {
			if r >= 0 {
				seen++
			}
		}
		if seen == len(t.ids) {
			return 0, false
		}
		for r, id := range t.ids {
			if t.rowOf[id-t.minID] != int32(r) {
				return id, true
			}
		}
	}
	for i := 1; i < len(t.byID); i++ {
		if id := t.ids[t.byID[i]]; id == t.ids[t.byID[i-1]] {
			return id, true
		}
	}
	return 0, false
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

// build lays out node i over rows [lo, hi): it picks the split axis from
// an estimate of the rows' spread, partitions them at the median, builds
// both children (the left on another goroutine for the first par levels)
// and then sets the node's tight box as the union of its children's.
func (t *tree) build(i, lo, hi, par int) {
	dim := t.dim
	box := t.box[2*dim*i : 2*dim*(i+1)]
	if hi == lo {
		return
	}
	if hi-lo <= t.leaf {
		t.scanBox(box, lo, hi, 1)
		return
	}
	// The widest axis, estimated from about 128 rows: the exact box of a
	// big node would cost a pass over all its rows at every level.
	t.scanBox(box, lo, hi, max(1, (hi-lo)/128))
	axis, spread := 0, -1.0
	for a := range dim {
		if s := box[dim+a] - box[a]; s > spread {
			axis, spread = a, s
		}
	}
	mid := lo + (hi-lo)/2
	t.selectRow(lo, hi, mid, axis)
	t.nodes[i] = node{split: t.points[mid*dim+axis], axis: uint8(axis)}
	if par > 0 {
		var wg sync.WaitGroup
		wg.Go(func() { t.build(2*i+1, lo, mid, par-1) })
		t.build(2*i+2, mid, hi, par-1)
		wg.Wait()
	} else {
		t.build(2*i+1, lo, mid, 0)
		t.build(2*i+2, mid, hi, 0)
	}
	l, r := t.box[2*dim*(2*i+1):2*dim*(2*i+2)], t.box[2*dim*(2*i+2):2*dim*(2*i+3)]
	for a := range dim {
		box[a] = min(l[a], r[a])
		box[dim+a] = max(l[dim+a], r[dim+a])
	}
}

// scanBox sets box to the bounding box of every step-th row of [lo, hi).
func (t *tree) scanBox(box []float64, lo, hi, step int) {
	dim := t.dim
	bmin, bmax := box[:dim], box[dim:2*dim]
	copy(bmin, t.points[lo*dim:lo*dim+dim])
	copy(bmax, t.points[lo*dim:lo*dim+dim])
	for r := lo + step; r < hi; r += step {
		x := t.points[r*dim : r*dim+dim]
		for a, v := range x {
			bmin[a] = min(bmin[a], v)
			bmax[a] = max(bmax[a], v)
		}
	}
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
	if t.dim == 4 {
		t.selectRow4(lo, hi, nth, axis)
		return
	}
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

// selectRow4 is selectRow for 4-d points, with rows moved as arrays.
func (t *tree) selectRow4(lo, hi, nth, axis int) {
	rows := unsafe.Slice((*[4]float64)(unsafe.Pointer(unsafe.SliceData(t.points))), len(t.ids))
	ids, labels := t.ids, t.labels[:len(t.ids)]
	swap := func(i, j int) {
		rows[i], rows[j] = rows[j], rows[i]
		ids[i], ids[j] = ids[j], ids[i]
		labels[i], labels[j] = labels[j], labels[i]
	}
	for hi-lo > 8 {
		a, b, c := rows[lo][axis], rows[lo+(hi-lo)/2][axis], rows[hi-1][axis]
		pv := max(min(a, b), min(max(a, b), c))
		i, j := lo, hi-1
		for i <= j {
			for rows[i][axis] < pv {
				i++
			}
			for rows[j][axis] > pv {
				j--
			}
			if i <= j {
				swap(i, j)
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
	for i := lo + 1; i < hi; i++ {
		for j := i; j > lo && rows[j][axis] < rows[j-1][axis]; j-- {
			swap(j, j-1)
		}
	}
}

// find returns the row holding id.
func (t *tree) find(id int64) (int, bool) {
	if t.rowOf != nil {
		j := uint64(id - t.minID)
		if j < uint64(len(t.rowOf)) {
			if r := t.rowOf[j]; r >= 0 {
				return int(r), true
			}
		}
		return 0, false
	}
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
	if t.dim == 4 && m != Chebyshev {
		if len(t.ids) <= smallMax && smallSearch {
			t.searchSmall(h, p, k, m, dead, n)
			return
		}
		if splitBounds {
			t.search4(h, (*[4]float64)(p), k, m, dead, n)
			return
		}
	}
	if t.scanAll {
		t.scan(h, 0, len(t.ids), p, k, m, dead, n)
		return
	}
	t.descend(h, p, k, m, dead, n, math.MaxInt)
}

// descend is the general tree search (any dimension and metric) and
// returns its work: rows scanned plus boxes bounded. It gives up, with a
// partial result, once the work exceeds budget (chooseSearch's probes).
func (t *tree) descend(h *topK, p []float64, k int, m Metric, dead []atomic.Int32, n int32, budget int) int {
	// Depth first, nearer child first (by the split); a deferred child is
	// visited only if its box may hold a point as near as the k-th.
	type entry struct{ node, lo, hi int32 }
	var stack [maxDepth]entry
	stack[0] = entry{0, 0, int32(len(t.ids))}
	sp := 1
	leaf := int32(t.leaf)
	work := 0
	for sp > 0 && work <= budget {
		sp--
		e := stack[sp]
		i, lo, hi := int(e.node), e.lo, e.hi
		if len(h.items) == k {
			work++
			if t.bound(i, p, m) > h.last().Distance {
				continue
			}
		}
		for hi-lo > leaf {
			nd := &t.nodes[i]
			mid := lo + (hi-lo)/2
			if p[nd.axis] < nd.split {
				stack[sp] = entry{int32(2*i + 2), mid, hi}
				i, hi = 2*i+1, mid
			} else {
				stack[sp] = entry{int32(2*i + 1), lo, mid}
				i, lo = 2*i+2, mid
			}
			sp++
		}
		t.scan(h, int(lo), int(hi), p, k, m, dead, n)
		work += int(hi - lo)
	}
	return work
}

// Probes of chooseSearch.
const (
	probeCount = 8
	probeK     = 5
)

// treeWorkMax returns the work of a descent (rows scanned plus boxes
// bounded, per row of the set) above which a scan of every row is faster
// in dim dimensions. A descent pays for its branches and its scattered
// reads of rows and boxes, and more so the more dimensions there are:
// BenchmarkCrossover (uniform data, the probes' work against the time of
// 256 random queries) put the break-even near 0.6 at d=8, 0.4 at d=13 and
// 0.3 at d=16 (docs/performance.md), hence 4.8/d, at most 0.6.
func treeWorkMax(dim int) float64 {
	return min(0.6, 4.8/float64(dim))
}

// chooseSearch decides, once per tree, whether searches descend the tree
// or scan every row. A k-d tree prunes well when the data has few
// dimensions, or many dimensions but few degrees of freedom (real data
// usually lies near a lower-dimensional set); on data that fills many
// dimensions every query visits most leaves and the descent only adds
// cost. So it measures: probeCount searches (k = probeK, Euclidean) from
// near rows spread over the set, stopped once their work passes the
// limit, and keeps the tree when they did less than treeWorkMax of the
// rows' work on average. The choice changes speed only, never a result:
// both ways give exactly the brute-force answer. 4-d trees keep their own
// paths (searchSmall, search4), which always pay.
func (t *tree) chooseSearch() {
	if t.dim == 4 || len(t.ids) <= 2*t.leaf {
		return
	}
	limit := treeWorkMax(t.dim)
	t.scanAll = t.probeWork(limit) > limit
}

// probeWork returns the mean work of chooseSearch's probe descents as a
// fraction of the rows, stopping once it must exceed limit.
func (t *tree) probeWork(limit float64) float64 {
	n := len(t.ids)
	budget := math.MaxInt // for all probes together
	if limit*probeCount < float64(budget)/float64(n) {
		budget = int(limit * probeCount * float64(n))
	}
	var buf [probeK]Neighbor
	q := make([]float64, t.dim)
	total := 0
	for i := range probeCount {
		r := (2*i + 1) * n / (2 * probeCount)
		// A query near a row, not on it: the row itself would be found
		// at once and make the probe easier than a real query.
		copy(q, t.points[r*t.dim:(r+1)*t.dim])
		o := t.points[((r+1)%n)*t.dim : ((r+1)%n+1)*t.dim]
		for a := range q {
			q[a] = 0.75*q[a] + 0.25*o[a] // never overflows
		}
		h := newTopK(buf[:0], probeK)
		total += t.descend(&h, q, probeK, Euclidean, nil, 0, budget-total)
		if total > budget {
			break
		}
	}
	return float64(total) / float64(probeCount*n)
}

// splitBounds selects search4 for 4-d trees (benchmarks compare).
var splitBounds = true

// search4 is search for 4-d points and L2 or L1. It bounds a deferred
// child by its distance from p across the split planes on the path to it
// (per axis, the largest gap between p and a plane the child lies beyond),
// the incremental bound of Arya and Mount, instead of by its box: the
// bound needs only the splits the descent reads anyway, no box from
// memory, which at a million points is a cache miss per bound. Each gap is
// at most the point's own axis difference for every row of the child
// (rows of a left child are <= the split, of a right child >= it, and IEEE
// subtraction is monotone), and the gaps are combined with the operations
// of the distance kernels in the same order, so the bound never exceeds a
// computed distance and pruning stays exact, ties included.
func (t *tree) search4(h *topK, q *[4]float64, k int, m Metric, dead []atomic.Int32, n int32) {
	type entry struct {
		off    [4]float64 // per-axis gaps to the child's cell
		bound  float64
		node   int32
		lo, hi int32
	}
	var stack [maxDepth]entry
	stack[0] = entry{hi: int32(len(t.ids))}
	sp := 1
	leaf := int32(t.leaf)
	nodes := t.nodes
	for sp > 0 {
		sp--
		e := &stack[sp]
		if len(h.items) == k && e.bound > h.last().Distance {
			continue
		}
		off := e.off
		i, lo, hi := int(e.node), e.lo, e.hi
		for hi-lo > leaf {
			nd := &nodes[i]
			mid := lo + (hi-lo)/2
			a := nd.axis & 3
			var gap float64
			var fn, flo, fhi int32
			if v := q[a]; v < nd.split {
				gap = nd.split - v
				fn, flo, fhi = int32(2*i+2), mid, hi
				i, hi = 2*i+1, mid
			} else {
				gap = v - nd.split
				fn, flo, fhi = int32(2*i+1), lo, mid
				i, lo = 2*i+2, mid
			}
			// The far child's gaps: this node's, with axis a's at least
			// the gap to the split (gaps are never NaN).
			prev := off[a]
			if gap < prev {
				gap = prev
			}
			off[a] = gap
			g0, g1, g2, g3 := off[0], off[1], off[2], off[3]
			var b float64
			if m == Euclidean {
				b = float64(float64(float64(g0*g0)+float64(g1*g1))+float64(g2*g2)) + float64(g3*g3)
			} else {
				b = ((g0 + g1) + g2) + g3
			}
			if len(h.items) < k || b <= h.last().Distance {
				stack[sp] = entry{off: off, bound: b, node: fn, lo: flo, hi: fhi}
				sp++
			}
			off[a] = prev // the near child keeps this node's gaps
		}
		t.scan4(h, int(lo), int(hi), q[:], k, m, dead, n)
	}
}

// smallMax is the largest tree searched by searchSmall rather than by
// bounds: at Iris sizes the per-node bounds and their unpredictable
// branches cost more than the distances they save (BenchmarkSmallSearch,
// docs/performance.md). It is a power of two: the size of searchSmall's
// candidate buffer.
const smallMax = 256

// smallSearch enables searchSmall (tests and benchmarks turn it off to
// compare both paths).
var smallSearch = true

// searchSmall searches a tree of at most smallMax 4-d rows for L2 or L1
// without any bound. It computes the distance to every row at once
// (within4: two rows per instruction, no branch per row), then offers to
// h only the rows at most a limit that the k nearest cannot exceed.
//
// For k up to 8 the limit is the k-th smallest of within4's eight
// minimums (each over the rows r with the same r%8): those are the
// distances of k different rows, so the k-th nearest is no farther. At
// Iris about 6 rows pass for k = 5. For larger k it scans the leaf in
// which p falls first and takes its k-th distance. Every distance has the
// bits of the distance kernels of every other path, so the result is the
// same, tie order included.
func (t *tree) searchSmall(h *topK, p []float64, k int, m Metric, dead []atomic.Int32, n int32) {
	var dist [smallMax]float64
	var mask [smallMax / 64]uint64
	var mins [8]float64
	lo, hi := 0, 0 // the rows offered already
	if dead == nil && k <= len(mins) {
		within4(t.blocks, (*[4]float64)(p), -1, m, &dist, &mask, &mins)
		atMost(&dist, len(t.blocks)/4, kthSmallest(&mins, k), &mask)
	} else {
		_, lo, hi = t.leafOf(p)
		t.scan4(h, lo, hi, p, k, m, dead, n)
		if dead != nil || len(h.items) < k {
			t.scan4(h, 0, lo, p, k, m, dead, n)
			t.scan4(h, hi, len(t.ids), p, k, m, dead, n)
			return
		}
		within4(t.blocks, (*[4]float64)(p), h.last().Distance, m, &dist, &mask, &mins)
	}
	// Only real rows not offered yet: the padding rows are as far as a
	// distance that overflowed (+Inf).
	for r := lo; r < hi; r++ {
		mask[r/64] &^= 1 << (r % 64)
	}
	for r := len(t.ids); r < len(t.blocks)/4; r++ {
		mask[r/64] &^= 1 << (r % 64)
	}
	ids, labels := t.ids, t.labels[:len(t.ids)]
	for w, bs := range mask {
		for bs != 0 {
			r := 64*w + bits.TrailingZeros64(bs)
			bs &= bs - 1
			h.push(dist[r], ids[r], int32(labels[r]), k)
		}
	}
}

// leafOf descends to the leaf in which p falls and returns its node and
// its rows [lo, hi).
func (t *tree) leafOf(p []float64) (node, lo, hi int) {
	hi = len(t.ids)
	for hi-lo > t.leaf {
		nd := &t.nodes[node]
		mid := lo + (hi-lo)/2
		if p[nd.axis] < nd.split {
			node, hi = 2*node+1, mid
		} else {
			node, lo = 2*node+2, mid
		}
	}
	return node, lo, hi
}

// kthSmallest returns the k-th smallest of the values in v (1 <= k <= 8),
// which are rank distances: never NaN or negative (not even -0), so their
// bits order as they do. It sorts the bits with a 19-comparator network
// (Knuth, TAOCP 5.3.4), whose integer minimums and maximums compile to
// conditional moves: the branches of an insertion sort, mispredicted on
// every query, cost 3-4 times as much.
func kthSmallest(v *[8]float64, k int) float64 {
	var u [8]uint64
	for i, x := range v {
		u[i] = math.Float64bits(x)
	}
	for _, c := range sort8 {
		a, b := u[c[0]], u[c[1]]
		u[c[0]], u[c[1]] = min(a, b), max(a, b)
	}
	return math.Float64frombits(u[(k-1)&7])
}

// sort8 is a sorting network for 8 values: compare-exchanges in order.
var sort8 = [19][2]uint8{
	{0, 2}, {1, 3}, {4, 6}, {5, 7},
	{0, 4}, {1, 5}, {2, 6}, {3, 7},
	{0, 1}, {2, 3}, {4, 5}, {6, 7},
	{2, 4}, {3, 5},
	{1, 4}, {3, 6},
	{1, 2}, {3, 4}, {5, 6},
}

// blocks4 returns the 4-d rows pts (at most smallMax) in blocks of four
// rows: coordinate 0 of the block's rows, then coordinate 1, 2 and 3, so
// that one packed operation computes one step of several rows' distances.
// It pads the rows with +Inf rows to a multiple of 8 (within4's step):
// their distance is +Inf.
func blocks4(pts []float64) []float64 {
	rows := rows4(pts)
	b := make([]float64, 32*((len(rows)+7)/8))
	for r := range len(b) / 4 {
		for a := range 4 {
			v := math.Inf(1)
			if r < len(rows) {
				v = rows[r][a]
			}
			b[16*(r/4)+4*a+r%4] = v
		}
	}
	return b
}

// within4Go is within4 in Go.
func within4Go(blocks []float64, p *[4]float64, limit float64, m Metric, dist *[smallMax]float64, mask *[smallMax / 64]uint64, mins *[8]float64) {
	q0, q1, q2, q3 := p[0], p[1], p[2], p[3]
	for i := range mins {
		mins[i] = math.Inf(1)
	}
	n := len(blocks) / 4
	for r := range n {
		b := blocks[16*(r/4)+r%4:]
		x := [4]float64{b[0], b[4], b[8], b[12]}
		if m == Euclidean {
			dist[r] = l2sq4(&x, q0, q1, q2, q3)
		} else {
			dist[r] = l14(&x, q0, q1, q2, q3)
		}
		mins[r%8] = min(mins[r%8], dist[r])
	}
	atMostGo(dist, n, limit, mask)
}

// atMostGo is atMost in Go.
func atMostGo(dist *[smallMax]float64, n int, limit float64, mask *[smallMax / 64]uint64) {
	for r, d := range dist[:n] {
		if d <= limit {
			mask[r/64] |= 1 << (r % 64)
		}
	}
}

// scan offers rows [lo, hi) to h.
func (t *tree) scan(h *topK, lo, hi int, p []float64, k int, m Metric, dead []atomic.Int32, n int32) {
	if t.dim == 4 && m != Chebyshev {
		t.scan4(h, lo, hi, p, k, m, dead, n)
		return
	}
	ids, labels, dim := t.ids[lo:hi], t.labels[lo:hi], t.dim
	pts := t.points[lo*dim : hi*dim]
	for j, id := range ids {
		d := rankDistance(m, p, pts[j*dim:(j+1)*dim])
		if len(h.items) == k {
			if r := h.last(); d > r.Distance || (d == r.Distance && id > r.ID) {
				continue
			}
		}
		if dead != nil && dead[lo+j].Load() < n {
			continue
		}
		h.push(d, id, int32(labels[j]), k)
	}
}

// scan4 is scan for 4-d points and the L2 or L1 metric: the hot loop of
// every search. The distance loop runs in a leaf function (no calls, so
// everything stays in registers) that stops only at a point that may enter
// the top k.
func (t *tree) scan4(h *topK, lo, hi int, p []float64, k int, m Metric, dead []atomic.Int32, n int32) {
	ids, labels := t.ids[lo:hi], t.labels[lo:hi]
	labels = labels[:len(ids)]
	pts := t.points[4*lo : 4*hi]
	wd, wid := math.Inf(1), int64(math.MaxInt64) // the k-th nearest so far
	if len(h.items) == k {
		wd, wid = h.last().Distance, h.last().ID
	}
	for j := 0; ; j++ {
		var d float64
		if m == Euclidean {
			j, d = next4L2(pts, j, p, wd)
		} else {
			j, d = next4L1(pts, j, p, wd)
		}
		if j >= len(ids) {
			return
		}
		id := ids[j]
		if d == wd && id > wid {
			continue
		}
		if dead != nil && dead[lo+j].Load() < n {
			continue
		}
		h.push(d, id, int32(labels[j]), k)
		if len(h.items) == k {
			wd, wid = h.last().Distance, h.last().ID
		}
	}
}

// next4L2Go returns the first row j >= from of the 4-d rows pts whose
// squared L2 distance d to p is at most limit, or j = len(pts)/4.
func next4L2Go(pts []float64, from int, p []float64, limit float64) (int, float64) {
	q0, q1, q2, q3 := p[0], p[1], p[2], p[3]
	rows := rows4(pts)
	for j := from; j < len(rows); j++ {
		if d := l2sq4(&rows[j], q0, q1, q2, q3); d <= limit {
			return j, d
		}
	}
	return len(rows), 0
}

// next4L1Go is next4L2Go for the L1 distance.
func next4L1Go(pts []float64, from int, p []float64, limit float64) (int, float64) {
	q0, q1, q2, q3 := p[0], p[1], p[2], p[3]
	rows := rows4(pts)
	for j := from; j < len(rows); j++ {
		x := &rows[j]
		// l14, written out: l14 is too big for the inliner.
		if d := ((math.Abs(x[0]-q0) + math.Abs(x[1]-q1)) + math.Abs(x[2]-q2)) + math.Abs(x[3]-q3); d <= limit {
			return j, d
		}
	}
	return len(rows), 0
}
