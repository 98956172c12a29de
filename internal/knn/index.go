package knn

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// MaxIndexClasses is the largest number of classes an Index holds (labels
// are stored in one byte).
const MaxIndexClasses = 256

// DeltaLimit is the number of changes (inserted or replaced points plus
// deleted or replaced tree points) after which an Index merges its delta
// buffer into a new tree in the background. A query scans the whole delta
// buffer, so it must stay small.
const DeltaLimit = 1024

// Index is one immutable version of a live, exact k-nearest-neighbour
// index: a k-d tree snapshot, a small delta buffer of points inserted or
// replaced since the tree was built, and tombstones for tree points deleted
// or replaced since. Searches give exactly the results of a brute-force
// [Dataset] holding the same points (same neighbours, same tie order).
//
// Put and Delete return a new version in time proportional to the delta
// buffer, never to the number of points, and leave the receiver unchanged:
// readers holding any version never wait. When the delta buffer grows past
// DeltaLimit, a background goroutine builds a new tree; the first write
// after it finishes swaps it in (the old tree is freed when no version
// refers to it any more).
//
// An Index is safe for concurrent use.
type Index struct {
	classes []string
	t       *tree
	dead    []int32 // sorted rows of t that are deleted or replaced

	// The delta buffer, sorted by id.
	dIDs    []int64
	dPoints []float64
	dLabels []uint8

	n   int // live points
	lin *lineage
}

// lineage is shared by the versions descending from one NewIndex: it runs
// the background rebuild and hands its result to the next writer.
type lineage struct {
	latest   atomic.Pointer[Index] // the newest version created
	building atomic.Bool
	ready    atomic.Pointer[rebuilt]
	rebuilds atomic.Int64 // completed background rebuilds, for tests and metrics
	wg       sync.WaitGroup
}

// rebuilt is the result of a background rebuild: a version r on a new tree
// holding the same points as from, which is on the old tree.
type rebuilt struct {
	old  *tree
	from *Index
	r    *Index
}

// NewIndex builds an index over n points: ids[i] (unique), the row
// points[i*dim:(i+1)*dim] and labels[i], an index into classes (at most
// MaxIndexClasses, sorted: the tie rule prefers the lower index). The
// slices are not retained.
func NewIndex(dim int, classes []string, ids []int64, points []float64, labels []int) (*Index, error) {
	if len(classes) > MaxIndexClasses || len(classes) == 0 {
		return nil, fmt.Errorf("%w: %d classes, want 1 to %d", ErrLabel, len(classes), MaxIndexClasses)
	}
	if dim < 1 || len(points) != len(ids)*dim || len(labels) != len(ids) {
		return nil, fmt.Errorf("%w: %d ids, %d labels and %d coordinates of dimension %d", ErrDimension, len(ids), len(labels), len(points), dim)
	}
	ls := make([]uint8, len(labels))
	for i, l := range labels {
		if l < 0 || l >= len(classes) {
			return nil, fmt.Errorf("%w: %d (have %d classes)", ErrLabel, l, len(classes))
		}
		ls[i] = uint8(l)
	}
	if err := CheckPoint(points, len(points)); err != nil {
		return nil, err
	}
	t := buildTree(dim, slices.Clone(ids), slices.Clone(points), ls)
	for i := 1; i < len(t.byID); i++ {
		if id := t.ids[t.byID[i]]; id == t.ids[t.byID[i-1]] {
			return nil, fmt.Errorf("knn: id %d appears twice", id)
		}
	}
	ix := &Index{classes: classes, t: t, n: len(ids), lin: new(lineage)}
	ix.lin.latest.Store(ix)
	return ix, nil
}

// Len returns the number of points.
func (ix *Index) Len() int { return ix.n }

// Dim returns the dimension of the points.
func (ix *Index) Dim() int { return ix.t.dim }

// Classes returns the class names; do not modify the result.
func (ix *Index) Classes() []string { return ix.classes }

// Pending returns the number of changes held outside the tree (delta
// points plus tombstones).
func (ix *Index) Pending() int { return len(ix.dIDs) + len(ix.dead) }

// Rebuilds returns how many background rebuilds have completed in this
// index's lineage.
func (ix *Index) Rebuilds() int64 { return ix.lin.rebuilds.Load() }

// WaitRebuild blocks until no background rebuild is running.
func (ix *Index) WaitRebuild() { ix.lin.wg.Wait() }

// Lookup returns the label of the point with the given id and appends its
// coordinates to dst.
func (ix *Index) Lookup(dst []float64, id int64) ([]float64, int, bool) {
	if j, ok := slices.BinarySearch(ix.dIDs, id); ok {
		d := ix.t.dim
		return append(dst, ix.dPoints[j*d:(j+1)*d]...), int(ix.dLabels[j]), true
	}
	if r, ok := ix.liveRow(id); ok {
		d := ix.t.dim
		return append(dst, ix.t.points[r*d:(r+1)*d]...), int(ix.t.labels[r]), true
	}
	return dst, 0, false
}

// liveRow returns the tree row holding id, unless it is dead.
func (ix *Index) liveRow(id int64) (int, bool) {
	r, ok := ix.t.find(id)
	if !ok || (len(ix.dead) > 0 && isDead(ix.dead, r)) {
		return 0, false
	}
	return r, true
}

// Has reports whether a point with id exists.
func (ix *Index) Has(id int64) bool {
	if _, ok := slices.BinarySearch(ix.dIDs, id); ok {
		return true
	}
	_, ok := ix.liveRow(id)
	return ok
}

// All calls yield for every point in increasing id order, until it returns
// false. p is only valid during the call.
func (ix *Index) All(yield func(id int64, p []float64, label int) bool) {
	t, d := ix.t, ix.t.dim
	j := 0 // next delta entry
	for _, r := range t.byID {
		id := t.ids[r]
		for ; j < len(ix.dIDs) && ix.dIDs[j] < id; j++ {
			if !yield(ix.dIDs[j], ix.dPoints[j*d:(j+1)*d], int(ix.dLabels[j])) {
				return
			}
		}
		if len(ix.dead) > 0 && isDead(ix.dead, int(r)) {
			continue
		}
		if !yield(id, t.points[int(r)*d:int(r+1)*d], int(t.labels[r])) {
			return
		}
	}
	for ; j < len(ix.dIDs); j++ {
		if !yield(ix.dIDs[j], ix.dPoints[j*d:(j+1)*d], int(ix.dLabels[j])) {
			return
		}
	}
}

// Put returns a version in which the point with id is p with label,
// inserted or replacing the previous one.
func (ix *Index) Put(id int64, p []float64, label int) (*Index, error) {
	if err := CheckPoint(p, ix.t.dim); err != nil {
		return nil, err
	}
	if label < 0 || label >= len(ix.classes) {
		return nil, fmt.Errorf("%w: %d (have %d classes)", ErrLabel, label, len(ix.classes))
	}
	base := ix.rebase()
	next := base.clone()
	next.put(id, p, uint8(label))
	next.publish()
	return next, nil
}

// Delete returns a version without the point with id, and whether it was
// there (if not, the receiver is returned).
func (ix *Index) Delete(id int64) (*Index, bool) {
	if !ix.Has(id) {
		return ix, false
	}
	base := ix.rebase()
	next := base.clone()
	next.del(id)
	next.publish()
	return next, true
}

// clone returns a copy of ix whose slices may be modified.
func (ix *Index) clone() *Index {
	c := *ix
	c.dead = slices.Clone(ix.dead)
	c.dIDs = slices.Clone(ix.dIDs)
	c.dPoints = slices.Clone(ix.dPoints)
	c.dLabels = slices.Clone(ix.dLabels)
	return &c
}

// put inserts or replaces a point in a version being built.
func (ix *Index) put(id int64, p []float64, label uint8) {
	d := ix.t.dim
	j, inDelta := slices.BinarySearch(ix.dIDs, id)
	if inDelta {
		copy(ix.dPoints[j*d:(j+1)*d], p)
		ix.dLabels[j] = label
		return
	}
	if r, ok := ix.liveRow(id); ok {
		ix.kill(r)
	} else {
		ix.n++
	}
	ix.dIDs = slices.Insert(ix.dIDs, j, id)
	ix.dPoints = slices.Insert(ix.dPoints, j*d, p...)
	ix.dLabels = slices.Insert(ix.dLabels, j, label)
}

// del removes a point, if present, from a version being built.
func (ix *Index) del(id int64) {
	d := ix.t.dim
	if j, ok := slices.BinarySearch(ix.dIDs, id); ok {
		ix.dIDs = slices.Delete(ix.dIDs, j, j+1)
		ix.dPoints = slices.Delete(ix.dPoints, j*d, (j+1)*d)
		ix.dLabels = slices.Delete(ix.dLabels, j, j+1)
		ix.n--
		return // a tree point with this id, if any, is already dead
	}
	if r, ok := ix.liveRow(id); ok {
		ix.kill(r)
		ix.n--
	}
}

// kill adds tree row r to the tombstones.
func (ix *Index) kill(r int) {
	j, _ := slices.BinarySearch(ix.dead, int32(r))
	ix.dead = slices.Insert(ix.dead, j, int32(r))
}

// publish records ix as the newest version and starts a background rebuild
// when the delta buffer is full.
func (ix *Index) publish() {
	lin := ix.lin
	lin.latest.Store(ix)
	if ix.Pending() < deltaLimit(len(ix.t.ids)) || !lin.building.CompareAndSwap(false, true) {
		return
	}
	lin.wg.Add(1)
	go func() {
		defer lin.wg.Done()
		defer lin.building.Store(false)
		lin.rebuild(ix)
	}()
}

// deltaLimit is the pending-change count that starts a rebuild: DeltaLimit,
// or less for small trees, whose rebuild is cheap.
func deltaLimit(treeSize int) int {
	return min(DeltaLimit, max(32, treeSize/8))
}

// rebuild builds a tree holding src's points, then brings the result up to
// date with the versions written meanwhile, and offers it to the writers.
func (lin *lineage) rebuild(src *Index) {
	r := src.compact()
	from := src
	// Catch up with writes made during the build, so that the writer that
	// swaps the tree in has only a few changes left to replay.
	for range 8 {
		latest := lin.latest.Load()
		if latest == from || latest.t != src.t {
			break
		}
		var changed int
		r, changed = r.replay(from, latest)
		from = latest
		if changed < 16 {
			break
		}
	}
	lin.ready.Store(&rebuilt{old: src.t, from: from, r: r})
	lin.rebuilds.Add(1)
}

// compact returns a version with the same points as ix, all in a new tree.
func (ix *Index) compact() *Index {
	d := ix.t.dim
	ids := make([]int64, 0, ix.n)
	pts := make([]float64, 0, ix.n*d)
	labels := make([]uint8, 0, ix.n)
	ix.All(func(id int64, p []float64, label int) bool {
		ids = append(ids, id)
		pts = append(pts, p...)
		labels = append(labels, uint8(label))
		return true
	})
	t := buildTree(d, ids, pts, labels)
	return &Index{classes: ix.classes, t: t, n: len(t.ids), lin: ix.lin}
}

// Compact returns a version with the same points as ix, with its delta
// buffer merged into a new tree, built on the calling goroutine.
func (ix *Index) Compact() *Index {
	c := ix.compact()
	c.lin = new(lineage)
	c.lin.latest.Store(c)
	return c
}

// rebase returns ix moved onto the tree of a finished background rebuild,
// when there is one for ix's tree; otherwise ix.
func (ix *Index) rebase() *Index {
	rb := ix.lin.ready.Load()
	if rb == nil || rb.old != ix.t {
		return ix
	}
	r, _ := rb.r.replay(rb.from, ix)
	// Free the old tree once the versions that use it are gone.
	ix.lin.ready.CompareAndSwap(rb, nil)
	return r
}

// replay returns r (which holds the same points as from, on another tree)
// changed as to hold the points of to, and the number of ids that differ.
// from and to must share a tree. It costs time proportional to their delta
// buffers, plus a lookup per changed id.
func (r *Index) replay(from, to *Index) (*Index, int) {
	if from == to {
		return r, 0
	}
	out := r.clone()
	changed := 0
	apply := func(id int64) {
		changed++
		if p, label, ok := to.Lookup(nil, id); ok {
			out.put(id, p, uint8(label))
		} else {
			out.del(id)
		}
	}
	// Tree rows whose tombstone differs.
	t := from.t
	a, b := from.dead, to.dead
	for len(a) > 0 || len(b) > 0 {
		switch {
		case len(b) == 0 || (len(a) > 0 && a[0] < b[0]):
			apply(t.ids[a[0]])
			a = a[1:]
		case len(a) == 0 || b[0] < a[0]:
			apply(t.ids[b[0]])
			b = b[1:]
		default:
			a, b = a[1:], b[1:]
		}
	}
	// Delta entries that differ.
	d := t.dim
	i, j := 0, 0
	for i < len(from.dIDs) || j < len(to.dIDs) {
		switch {
		case j == len(to.dIDs) || (i < len(from.dIDs) && from.dIDs[i] < to.dIDs[j]):
			apply(from.dIDs[i])
			i++
		case i == len(from.dIDs) || to.dIDs[j] < from.dIDs[i]:
			apply(to.dIDs[j])
			j++
		default:
			if from.dLabels[i] != to.dLabels[j] || !slices.Equal(from.dPoints[i*d:(i+1)*d], to.dPoints[j*d:(j+1)*d]) {
				apply(to.dIDs[j])
			}
			i++
			j++
		}
	}
	return out, changed
}

// Nearest appends to dst the k points nearest to p in metric m, nearest
// first (equal distances: lower id first), exactly as Dataset.Nearest
// would over the same points.
func (ix *Index) Nearest(dst []Neighbor, p []float64, k int, m Metric) []Neighbor {
	k = min(k, ix.n)
	if k <= 0 {
		return dst
	}
	base := len(dst)
	dst = slices.Grow(dst, k)[:base+k]
	h := topK{items: dst[base:base]}
	ix.t.search(&h, p, k, m, ix.dead)
	d := ix.t.dim
	for j, id := range ix.dIDs {
		dist := rankDistance(m, p, ix.dPoints[j*d:(j+1)*d])
		h.push(dist, id, int32(ix.dLabels[j]), k)
	}
	h.sort()
	for i := range h.items {
		h.items[i].Distance = trueDistance(m, h.items[i].Distance)
	}
	return dst
}

// PredictInto classifies p into pr, reusing pr's slices, so that repeated
// predictions allocate nothing. It validates the query and the point.
func (ix *Index) PredictInto(pr *Prediction, p []float64, q Query) error {
	if err := q.Check(ix.n); err != nil {
		return err
	}
	if err := CheckPoint(p, ix.t.dim); err != nil {
		return err
	}
	pr.Neighbors = ix.Nearest(pr.Neighbors[:0], p, q.K, q.Metric)
	pr.Probabilities = slices.Grow(pr.Probabilities[:0], len(ix.classes))[:len(ix.classes)]
	pr.Vote = Classify(pr.Neighbors, q.Weights, pr.Probabilities)
	return nil
}
