package dataset

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
)

// DefaultKeepVersions is the number of versions a History keeps unless told
// otherwise.
//
// Memory: versions share structure (a snapshot is a small header over a
// knn.Index version, and index versions share the k-d tree and the delta
// log), so the versions kept cost the writes between them, not copies of
// the set. A background rebuild of the index (every min(1024, max(32, n/8))
// writes) leaves the versions before it on the old tree until they are
// evicted: with keep below that interval, at most two trees are alive, so
// the memory bound is about twice the set plus the last keep writes. A
// store that replaces its snapshot wholesale (a Redis replica reloading
// after falling behind) adds one tree per reload still kept.
const DefaultKeepVersions = 16

// History is the current snapshot of a store and the versions before it,
// up to a bound: the model versions of the Open Inference Protocol and the
// pins of POST /predict. Stores publish every new snapshot into it; readers
// never block (an atomic pointer to an immutable list). A kept version is
// the very snapshot that was current then, so answering from it is exactly
// what answering then was.
//
// Embed a *History in a store to give it Snapshot, SnapshotAt and Versions.
type History struct {
	keep  int
	mu    sync.Mutex // serialises Publish
	state atomic.Pointer[[]*Snapshot]
}

// NewHistory returns a history whose current snapshot is cur and that keeps
// the last keep versions (keep < 1 means DefaultKeepVersions).
func NewHistory(cur *Snapshot, keep int) *History {
	if keep < 1 {
		keep = DefaultKeepVersions
	}
	h := &History{keep: keep}
	h.state.Store(&[]*Snapshot{cur})
	return h
}

// Keep returns the number of versions the history keeps.
func (h *History) Keep() int { return h.keep }

// Snapshot returns the current version.
func (h *History) Snapshot() *Snapshot {
	l := *h.state.Load()
	return l[len(l)-1]
}

// Publish makes s the current version, evicting the oldest beyond the
// bound. A snapshot whose version is not above the current one (a store
// resynchronised from elsewhere) starts the history afresh: the kept
// versions may not be the ones that led to it.
func (h *History) Publish(s *Snapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := *h.state.Load()
	if s.Version() <= old[len(old)-1].Version() {
		h.state.Store(&[]*Snapshot{s})
		return
	}
	start := max(0, len(old)+1-h.keep)
	next := make([]*Snapshot, 0, min(h.keep, len(old)+1))
	next = append(next, old[start:]...)
	next = append(next, s)
	h.state.Store(&next)
}

// SnapshotAt returns the kept snapshot of version v. An evicted, skipped
// or future version is a KindNotFound error that names the kept range.
func (h *History) SnapshotAt(v uint64) (*Snapshot, error) {
	l := *h.state.Load()
	i, ok := slices.BinarySearchFunc(l, v, func(s *Snapshot, v uint64) int {
		switch {
		case s.Version() < v:
			return -1
		case s.Version() > v:
			return 1
		}
		return 0
	})
	if ok {
		return l[i], nil
	}
	return nil, versionNotKept(strconv.FormatUint(v, 10), l[0].Version(), l[len(l)-1].Version())
}

// SnapshotAtString is st.SnapshotAt for a version given as text (a URL
// path segment, a protocol field): anything but a positive decimal integer
// is an unknown version, reported the same way.
func SnapshotAtString(st Store, v string) (*Snapshot, error) {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n == 0 {
		vs := st.Versions()
		return nil, versionNotKept(strconv.Quote(v), vs[0], vs[len(vs)-1])
	}
	return st.SnapshotAt(n)
}

func versionNotKept(v string, oldest, cur uint64) error {
	return NotFoundf("dataset version %s is not kept: the oldest kept version is %d (kept: %d to %d, the current one)", v, oldest, oldest, cur)
}

// Versions returns the kept versions, oldest first.
func (h *History) Versions() []uint64 {
	l := *h.state.Load()
	out := make([]uint64, len(l))
	for i, s := range l {
		out[i] = s.Version()
	}
	return out
}

// String describes the kept range, for logs.
func (h *History) String() string {
	l := *h.state.Load()
	return fmt.Sprintf("versions %d..%d (keep %d)", l[0].Version(), l[len(l)-1].Version(), h.keep)
}
