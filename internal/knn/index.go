package knn

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
)

// MaxIndexClasses is the largest number of classes an Index holds (labels
// are stored in one byte).
const MaxIndexClasses = 256

// DeltaLimit is the number of writes held in the delta buffer after which
// an Index merges it into a new tree in the background. Every query scans
// the whole buffer, so it must stay small.
const DeltaLimit = 1024

// Index is one immutable version of a live, exact k-nearest-neighbour
// index: a k-d tree, plus a delta log of the writes made since the tree
// was built (points inserted or replaced, tombstones for points deleted or
// replaced). Searches give exactly the results of a brute-force [Dataset]
// holding the same points: the same neighbours in the same (distance, id)
// order.
//
// Put and Delete return a new version in constant time (a tree lookup and
// an append to the log); the receiver is unchanged, so readers holding any
// version never wait. When the log reaches DeltaLimit writes, a goroutine
// builds a new tree in the background, replays the writes made meanwhile,
// and the next write continues on the new tree; the old tree is freed when
// no version refers to it any more.
//
// An Index is safe for concurrent use. Writes to the newest version are
// cheap; a write to an older version (a branch) copies its state first.
type Index struct {
	classes []string
	log     *deltaLog
	chunks  []*chunk // the log's chunks as of this version
	n       int32    // log entries visible in this version
	live    int      // points in this version
}

// chunkBits sets the number of log entries per chunk.
const chunkBits = 8

const (
	chunkSize = 1 << chunkBits
	chunkMask = chunkSize - 1
	// noNext marks an entry not superseded, or a tree row not killed.
	noNext = math.MaxInt32
)

// chunk holds chunkSize consecutive log entries. An entry is written once,
// before any version that can see it exists; only next changes later.
type chunk struct {
	ids    [chunkSize]int64
	labels [chunkSize]uint8
	// next is the index of the entry that superseded this one (a later
	// write to the same id); a deletion entry supersedes itself.
	next   [chunkSize]atomic.Int32
	points []float64 // chunkSize*dim
}

// deltaLog is the shared, append-only history of writes on top of one
// tree. A version sees the first n entries: entry i is visible when
// next[i] >= n, and tree row r is alive when deadAt[r] >= n. Appending
// never changes what an existing version sees.
type deltaLog struct {
	t       *tree
	classes []string
	deadAt  []atomic.Int32 // per tree row: the entry that killed it, or noNext
	lin     *lineage

	mu       sync.Mutex // serialises appends
	chunks   []*chunk
	head     int32           // entries appended
	latest   map[int64]int32 // id -> its newest entry
	succ     *successor      // set when a rebuilt tree takes over
	building atomic.Bool     // a rebuild of this log is running
}

// successor continues a log on a rebuilt tree: the version at entry from
// of the old log holds the same points as the version at entry to of log.
type successor struct {
	from int32
	log  *deltaLog
	to   int32
}

// lineage is shared by every log descending from one NewIndex.
type lineage struct {
	wg       sync.WaitGroup
	rebuilds atomic.Int64
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
	return newIndexOwned(dim, classes, slices.Clone(ids), slices.Clone(points), ls, new(lineage))
}

// NewIndexOwned is NewIndex for callers that hand over their slices: they
// are reordered and kept, saving a copy of a large set. Labels are bytes.
func NewIndexOwned(dim int, classes []string, ids []int64, points []float64, labels []uint8) (*Index, error) {
	if len(classes) > MaxIndexClasses || len(classes) == 0 {
		return nil, fmt.Errorf("%w: %d classes, want 1 to %d", ErrLabel, len(classes), MaxIndexClasses)
	}
	if dim < 1 || len(points) != len(ids)*dim || len(labels) != len(ids) {
		return nil, fmt.Errorf("%w: %d ids, %d labels and %d coordinates of dimension %d", ErrDimension, len(ids), len(labels), len(points), dim)
	}
	for _, l := range labels {
		if int(l) >= len(classes) {
			return nil, fmt.Errorf("%w: %d (have %d classes)", ErrLabel, l, len(classes))
		}
	}
	if err := CheckPoint(points, len(points)); err != nil {
		return nil, err
	}
	return newIndexOwned(dim, classes, ids, points, labels, new(lineage))
}

// DuplicateIDError reports an id given to more than one point.
type DuplicateIDError struct{ ID int64 }

func (e *DuplicateIDError) Error() string { return fmt.Sprintf("knn: id %d appears twice", e.ID) }

// newIndexOwned is NewIndex taking ownership of its slices.
func newIndexOwned(dim int, classes []string, ids []int64, points []float64, labels []uint8, lin *lineage) (*Index, error) {
	t := buildTree(dim, ids, points, labels)
	if id, dup := t.duplicate(); dup {
		return nil, &DuplicateIDError{ID: id}
	}
	l := newLog(t, classes, lin)
	return &Index{classes: classes, log: l, live: len(ids)}, nil
}

func newLog(t *tree, classes []string, lin *lineage) *deltaLog {
	l := &deltaLog{t: t, classes: classes, lin: lin, deadAt: make([]atomic.Int32, len(t.ids)), latest: map[int64]int32{}}
	for i := range l.deadAt {
		l.deadAt[i].Store(noNext)
	}
	return l
}

// Len returns the number of points.
func (ix *Index) Len() int { return ix.live }

// Dim returns the dimension of the points.
func (ix *Index) Dim() int { return ix.log.t.dim }

// Classes returns the class names; do not modify the result.
func (ix *Index) Classes() []string { return ix.classes }

// Pending returns the number of writes held in the delta log, which every
// query scans.
func (ix *Index) Pending() int { return int(ix.n) }

// Rebuilds returns how many background rebuilds have completed in this
// index's lineage.
func (ix *Index) Rebuilds() int64 { return ix.log.lin.rebuilds.Load() }

// WaitRebuild blocks until no background rebuild is running.
func (ix *Index) WaitRebuild() { ix.log.lin.wg.Wait() }

// entry returns the chunk and slot of log entry i.
func (ix *Index) entry(i int32) (*chunk, int) {
	return ix.chunks[i>>chunkBits], int(i & chunkMask)
}

// Lookup returns the label of the point with the given id and appends its
// coordinates to dst.
func (ix *Index) Lookup(dst []float64, id int64) ([]float64, int, bool) {
	d := ix.log.t.dim
	if l := ix.log; l.mu.TryLock() {
		// The newest version of its log (the common case) finds id in
		// constant time through the log's id table.
		if ix.n == l.head {
			j, ok := l.lookup(id)
			l.mu.Unlock()
			switch {
			case !ok:
				return dst, 0, false
			case j >= 0:
				c, s := ix.entry(int32(j))
				return append(dst, c.points[s*d:(s+1)*d]...), int(c.labels[s]), true
			default:
				r := -1 - j
				return append(dst, l.t.points[r*d:(r+1)*d]...), int(l.t.labels[r]), true
			}
		}
		l.mu.Unlock()
	}
	// The newest entry for id in this version's prefix decides.
	for i := ix.n - 1; i >= 0; i-- {
		c, s := ix.entry(i)
		if c.ids[s] != id {
			continue
		}
		if c.next[s].Load() == i { // a deletion
			return dst, 0, false
		}
		return append(dst, c.points[s*d:(s+1)*d]...), int(c.labels[s]), true
	}
	t := ix.log.t
	if r, ok := t.find(id); ok && ix.log.deadAt[r].Load() >= ix.n {
		return append(dst, t.points[r*d:(r+1)*d]...), int(t.labels[r]), true
	}
	return dst, 0, false
}

// Has reports whether a point with id exists.
func (ix *Index) Has(id int64) bool {
	_, _, ok := ix.Lookup(nil, id)
	return ok
}

// All calls yield for every point in increasing id order, until it returns
// false. p is only valid during the call.
func (ix *Index) All(yield func(id int64, p []float64, label int) bool) {
	ix.After(math.MinInt64, yield)
}

// After is All from the first point whose id is above after. It seeks in
// the tree's id table rather than skipping, so a page deep in the set
// costs what the first page does (plus the pending writes, which every
// call sorts: at most DeltaLimit).
func (ix *Index) After(after int64, yield func(id int64, p []float64, label int) bool) {
	t, d := ix.log.t, ix.log.t.dim
	// The visible log entries past after, by id.
	var delta []int32
	for i := range ix.n {
		if c, s := ix.entry(i); c.next[s].Load() >= ix.n && c.ids[s] > after {
			delta = append(delta, i)
		}
	}
	slices.SortFunc(delta, func(a, b int32) int {
		ca, sa := ix.entry(a)
		cb, sb := ix.entry(b)
		return cmpInt64(ca.ids[sa], cb.ids[sb])
	})
	emit := func(i int32) bool {
		c, s := ix.entry(i)
		return yield(c.ids[s], c.points[s*d:(s+1)*d], int(c.labels[s]))
	}
	j := 0
	stopped := false
	t.walkAfter(after, func(r int32) bool {
		id := t.ids[r]
		for ; j < len(delta); j++ {
			if c, s := ix.entry(delta[j]); c.ids[s] >= id {
				break
			}
			if !emit(delta[j]) {
				stopped = true
				return false
			}
		}
		if ix.log.deadAt[r].Load() < ix.n {
			return true
		}
		if !yield(id, t.points[int(r)*d:int(r+1)*d], int(t.labels[r])) {
			stopped = true
			return false
		}
		return true
	})
	if stopped {
		return
	}
	for ; j < len(delta); j++ {
		if !emit(delta[j]) {
			return
		}
	}
}

// Put returns a version in which the point with id is p with label,
// inserted or replacing the previous one, and the label of the point it
// replaced (-1 for an insert).
func (ix *Index) Put(id int64, p []float64, label int) (*Index, int, error) {
	if err := CheckPoint(p, ix.log.t.dim); err != nil {
		return nil, -1, err
	}
	if label < 0 || label >= len(ix.classes) {
		return nil, -1, fmt.Errorf("%w: %d (have %d classes)", ErrLabel, label, len(ix.classes))
	}
	l, live := ix.writable()
	defer l.mu.Unlock()
	old := l.put(id, p, uint8(label))
	if old < 0 {
		live++
	}
	return l.version(live), old, nil
}

// Delete returns a version without the point with id and the label of the
// deleted point, or the receiver and -1 when there is no such point.
func (ix *Index) Delete(id int64) (*Index, int) {
	l, live := ix.writable()
	defer l.mu.Unlock()
	if _, ok := l.lookup(id); !ok {
		return ix, -1
	}
	old := l.del(id)
	return l.version(live - 1), old
}

// lookup returns the newest log entry for id (j >= 0) or its tree row
// (-1-row) when id is live at l's head; l.mu must be held.
func (l *deltaLog) lookup(id int64) (int, bool) {
	if j, ok := l.latest[id]; ok {
		c, s := l.chunks[j>>chunkBits], int(j&chunkMask)
		return int(j), c.next[s].Load() != j
	}
	r, ok := l.t.find(id)
	return -1 - r, ok && l.deadAt[r].Load() == noNext
}

// writable returns, locked, the log to which a write on ix appends: ix's
// own log when ix is its newest version, its successor's when a rebuilt
// tree took over at ix, otherwise a fork of ix.
func (ix *Index) writable() (*deltaLog, int) {
	l, n := ix.log, ix.n
	l.mu.Lock()
	for l.succ != nil && l.succ.from == n {
		s := l.succ
		l.mu.Unlock()
		l, n = s.log, s.to
		l.mu.Lock()
	}
	if n != l.head {
		l.mu.Unlock()
		l = l.fork(n)
		l.mu.Lock()
	}
	return l, ix.live
}

// version returns the version at the head of l; l.mu must be held.
func (l *deltaLog) version(live int) *Index {
	v := &Index{classes: l.classes, log: l, chunks: l.chunks, n: l.head, live: live}
	if l.head >= int32(deltaLimit(len(l.t.ids))) && l.building.CompareAndSwap(false, true) {
		l.lin.wg.Add(1)
		go func() {
			defer l.lin.wg.Done()
			l.rebuild(v)
		}()
	}
	return v
}

// deltaLimit is the log length that starts a rebuild: DeltaLimit, or less
// for small trees, whose rebuild is cheap.
func deltaLimit(treeSize int) int {
	return min(DeltaLimit, max(32, treeSize/8))
}

// appendEntry appends an entry and returns its index; l.mu must be held.
func (l *deltaLog) appendEntry(id int64, p []float64, label uint8) int32 {
	i := l.head
	if int(i>>chunkBits) == len(l.chunks) {
		c := &chunk{points: make([]float64, chunkSize*l.t.dim)}
		for s := range c.next {
			c.next[s].Store(noNext)
		}
		l.chunks = append(l.chunks, c)
	}
	c, s := l.chunks[i>>chunkBits], int(i&chunkMask)
	c.ids[s] = id
	c.labels[s] = label
	if p != nil {
		copy(c.points[s*l.t.dim:], p)
	} else {
		c.next[s].Store(i) // a deletion supersedes itself
	}
	l.head++
	l.latest[id] = i
	return i
}

// supersede marks the current point with id, in the log or the tree, as
// replaced or deleted by entry i, and returns its label, or -1 if there was
// none.
func (l *deltaLog) supersede(id int64, i int32) int {
	if j, ok := l.latest[id]; ok {
		c, s := l.chunks[j>>chunkBits], int(j&chunkMask)
		if c.next[s].Load() != j { // not a deletion: a live point
			c.next[s].Store(i)
			return int(c.labels[s])
		}
		return -1 // deleted; a tree row with id is dead too
	}
	if r, ok := l.t.find(id); ok && l.deadAt[r].Load() == noNext {
		l.deadAt[r].Store(i)
		return int(l.t.labels[r])
	}
	return -1
}

// put appends a put and returns the label of the point it replaced, or -1;
// l.mu must be held.
func (l *deltaLog) put(id int64, p []float64, label uint8) int {
	old := l.supersede(id, l.head)
	l.appendEntry(id, p, label)
	return old
}

// del appends a deletion and returns the label of the deleted point, or -1;
// l.mu must be held.
func (l *deltaLog) del(id int64) int {
	old := l.supersede(id, l.head)
	l.appendEntry(id, nil, 0)
	return old
}

// fork returns a new log on l's tree holding the first n entries of l.
func (l *deltaLog) fork(n int32) *deltaLog {
	f := &deltaLog{t: l.t, classes: l.classes, lin: l.lin, deadAt: make([]atomic.Int32, len(l.deadAt)), latest: map[int64]int32{}}
	for r := range l.deadAt {
		if v := l.deadAt[r].Load(); v < n {
			f.deadAt[r].Store(v)
		} else {
			f.deadAt[r].Store(noNext)
		}
	}
	v := &Index{log: l, chunks: l.snapshotChunks(), n: n}
	d := l.t.dim
	for i := range n {
		c, s := v.entry(i)
		var p []float64
		if c.next[s].Load() != i {
			p = c.points[s*d : (s+1)*d]
		}
		j := f.appendEntry(c.ids[s], p, c.labels[s])
		if nx := c.next[s].Load(); nx < n {
			fc, fs := f.chunks[j>>chunkBits], int(j&chunkMask)
			fc.next[fs].Store(nx)
		}
	}
	return f
}

// snapshotChunks returns l's chunk list under its lock.
func (l *deltaLog) snapshotChunks() []*chunk {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.chunks
}

// rebuild builds a tree holding the points of v (a version of l), replays
// onto it the writes appended to l meanwhile, and hands it over: writes
// that follow l's head then continue on the new tree.
func (l *deltaLog) rebuild(v *Index) {
	c := v.compact(l.lin)
	nl, from := c.log, v.n
	for round := 0; ; round++ {
		l.mu.Lock()
		head := l.head
		if head-from <= 64 || round >= 16 {
			// Few writes left: replay them while holding the lock, so that
			// none slips in between, and hand over.
			nl.replay(l, from, head)
			l.succ = &successor{from: head, log: nl, to: nl.head}
			l.mu.Unlock()
			break
		}
		chunks := l.chunks
		l.mu.Unlock()
		nl.replayChunks(chunks, l.t.dim, from, head)
		from = head
	}
	l.lin.rebuilds.Add(1)
}

// replay appends to l the entries [from, to) of src (whose lock is held).
func (l *deltaLog) replay(src *deltaLog, from, to int32) {
	l.replayChunks(src.chunks, src.t.dim, from, to)
}

func (l *deltaLog) replayChunks(chunks []*chunk, d int, from, to int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := from; i < to; i++ {
		c, s := chunks[i>>chunkBits], int(i&chunkMask)
		if c.next[s].Load() == i {
			l.del(c.ids[s])
		} else {
			l.put(c.ids[s], c.points[s*d:(s+1)*d], c.labels[s])
		}
	}
}

// compact returns a version with the same points as ix, all in a new tree
// built on the calling goroutine.
func (ix *Index) compact(lin *lineage) *Index {
	d := ix.log.t.dim
	ids := make([]int64, 0, ix.live)
	pts := make([]float64, 0, ix.live*d)
	labels := make([]uint8, 0, ix.live)
	ix.All(func(id int64, p []float64, label int) bool {
		ids = append(ids, id)
		pts = append(pts, p...)
		labels = append(labels, uint8(label))
		return true
	})
	c, err := newIndexOwned(d, ix.classes, ids, pts, labels, lin)
	if err != nil {
		panic("knn: compacting a valid index: " + err.Error())
	}
	return c
}

// Compact returns a version with the same points as ix and an empty delta
// log, built on the calling goroutine, in a lineage of its own.
func (ix *Index) Compact() *Index { return ix.compact(new(lineage)) }

// Nearest appends to dst the k points nearest to p in metric m, nearest
// first (equal distances: lower id first), exactly as Dataset.Nearest
// would over the same points.
func (ix *Index) Nearest(dst []Neighbor, p []float64, k int, m Metric) []Neighbor {
	k = min(k, ix.live)
	if k <= 0 {
		return dst
	}
	base := len(dst)
	dst = slices.Grow(dst, k)[:base+k]
	h := newTopK(dst[base:base], k)
	var dead []atomic.Int32
	if ix.n > 0 {
		dead = ix.log.deadAt
	}
	ix.log.t.search(&h, p, k, m, dead, ix.n)
	ix.scanDelta(&h, p, k, m)
	h.sort()
	for i := range h.items {
		h.items[i].Distance = trueDistance(m, h.items[i].Distance)
	}
	return dst
}

// scanDelta offers the visible log entries to h.
func (ix *Index) scanDelta(h *topK, p []float64, k int, m Metric) {
	d, n := ix.log.t.dim, ix.n
	for ci, c := range ix.chunks {
		cnt := min(int(n)-ci*chunkSize, chunkSize)
		if cnt <= 0 {
			return
		}
		if d == 4 && m != Chebyshev {
			ix.scanChunk4(h, c, cnt, p, k, m)
			continue
		}
		for s := range cnt {
			dist := rankDistance(m, p, c.points[s*d:(s+1)*d])
			id := c.ids[s]
			if len(h.items) == k {
				if r := h.last(); dist > r.Distance || (dist == r.Distance && id > r.ID) {
					continue
				}
			}
			if c.next[s].Load() < n { // superseded or a deletion
				continue
			}
			h.push(dist, id, int32(c.labels[s]), k)
		}
	}
}

// scanChunk4 is scanDelta's loop over the first cnt entries of c for 4-d
// points and L2 or L1, built like tree.scan4.
func (ix *Index) scanChunk4(h *topK, c *chunk, cnt int, p []float64, k int, m Metric) {
	pts := c.points[:4*cnt]
	wd, wid := math.Inf(1), int64(math.MaxInt64)
	if len(h.items) == k {
		wd, wid = h.last().Distance, h.last().ID
	}
	for s := 0; ; s++ {
		var d float64
		if m == Euclidean {
			s, d = next4L2(pts, s, p, wd)
		} else {
			s, d = next4L1(pts, s, p, wd)
		}
		if s >= cnt {
			return
		}
		id := c.ids[s]
		if d == wd && id > wid {
			continue
		}
		if c.next[s].Load() < ix.n { // superseded or a deletion
			continue
		}
		h.push(d, id, int32(c.labels[s]), k)
		if len(h.items) == k {
			wd, wid = h.last().Distance, h.last().ID
		}
	}
}

// PredictInto classifies p into pr, reusing pr's slices, so that repeated
// predictions allocate nothing. It validates the query and the point.
func (ix *Index) PredictInto(pr *Prediction, p []float64, q Query) error {
	if err := q.Check(ix.live); err != nil {
		return err
	}
	if err := CheckPoint(p, ix.log.t.dim); err != nil {
		return err
	}
	pr.Neighbors = ix.Nearest(pr.Neighbors[:0], p, q.K, q.Metric)
	pr.Probabilities = slices.Grow(pr.Probabilities[:0], len(ix.classes))[:len(ix.classes)]
	pr.Vote = Classify(pr.Neighbors, q.Weights, pr.Probabilities)
	return nil
}

// Cell returns the leaf of the tree in which p falls. Queries in the same
// or nearby cells read the same part of the tree, so a large batch sorted
// by cell keeps that memory in cache: at a million points this makes a
// batch markedly faster (BenchmarkIndexBatch). The answers do not depend
// on the order.
func (ix *Index) Cell(p []float64) int {
	i, _, _ := ix.log.t.leafOf(p)
	return i
}

// CacheFriendlyOrder returns the order in which to search the n queries
// point(0..n-1) so that neighbouring queries share cache: by Cell, when the
// index is too big for the caches and the batch big enough to gain;
// otherwise nil (search in the given order).
func (ix *Index) CacheFriendlyOrder(n int, point func(i int) []float64) []int32 {
	if n < 256 || len(ix.log.t.ids) < 50_000 {
		return nil
	}
	type keyed struct {
		cell  int32
		index int32
	}
	ks := make([]keyed, n)
	for i := range ks {
		ks[i] = keyed{int32(ix.Cell(point(i))), int32(i)}
	}
	slices.SortFunc(ks, func(a, b keyed) int { return int(a.cell) - int(b.cell) })
	order := make([]int32, n)
	for i, k := range ks {
		order[i] = k.index
	}
	return order
}
