package dataset

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Store holds the current training set. Readers take a Snapshot and never
// wait for writers; each successful write publishes a new snapshot whose
// version is one more than the one before, and returns it.
//
// A Precondition makes a write conditional: when it is not met the write
// fails with KindPrecondition and changes nothing.
type Store interface {
	// Snapshot returns the current version of the set.
	Snapshot() *Snapshot
	// SnapshotAt returns a kept earlier (or the current) version: a
	// KindNotFound error names the oldest kept when v is not kept. Stores
	// get it, with Versions, by embedding a *History.
	SnapshotAt(v uint64) (*Snapshot, error)
	// Versions returns the kept versions, oldest first.
	Versions() []uint64
	// Create adds the sample with a new id (NextID; the sample's own id is
	// ignored) and returns it.
	Create(ctx context.Context, v ValidSample) (Sample, *Snapshot, error)
	// Put replaces the sample with its id, or creates it (created is true).
	Put(ctx context.Context, v ValidSample, pre Precondition) (created bool, snap *Snapshot, err error)
	// Delete removes the sample with the given id (KindNotFound if absent).
	Delete(ctx context.Context, id int64, pre Precondition) (*Snapshot, error)
	// Reset restores the loaded samples and their ids. Ids used since are
	// still never handed out again.
	Reset(ctx context.Context) (*Snapshot, error)
}

// ErrNoIDLeft answers a create once the largest possible id has been used:
// ids are never handed out twice, so POST has none left.
var ErrNoIDLeft = &Error{Kind: KindConflict, Message: fmt.Sprintf("no id is left to assign: %d, the largest possible, has been used and ids are never reused; create the sample with an id of your choice", int64(math.MaxInt64))}

// Op is the kind of a Change.
type Op uint8

// The kinds of change.
const (
	OpPut    Op = iota + 1 // insert or replace Sample
	OpDelete               // remove the sample with ID
	OpReset                // restore the loaded set
	OpImport               // many rows at once (Import)
)

func (o Op) String() string {
	switch o {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpReset:
		return "reset"
	case OpImport:
		return "import"
	}
	return fmt.Sprintf("Op(%d)", o)
}

// Change is one write to the training set, as recorded in a journal or sent
// between replicas. Version is the version it produces.
type Change struct {
	Version uint64
	Op      Op
	Sample  Sample  // for OpPut
	ID      int64   // for OpDelete
	Import  *Import // for OpImport
	// Time and Actor say when and through which key the change was made
	// (the key's name or a digest, never the key): the audit trail. Every
	// store sets them through Stamp, and journals record them.
	Time  time.Time
	Actor string
}

// ErrVersion reports a change applied to a snapshot it does not follow.
var ErrVersion = fmt.Errorf("change does not follow the snapshot's version")

// Apply returns the snapshot that c produces from s. c.Version must be
// s.Version()+1; s is not modified. A put must carry a valid sample: a
// positive id, features accepted by Schema.CheckFeatures and a label
// accepted by CheckClass. Apply does not check them again: the edge that
// made the sample did (the HTTP API, or the store that recorded it).
func (s *Snapshot) Apply(c Change) (*Snapshot, error) {
	if c.Version != s.version+1 {
		return nil, fmt.Errorf("%w: change %d onto version %d", ErrVersion, c.Version, s.version)
	}
	return s.apply(c)
}

// takes reports whether v was checked for this set (a sample checked for
// another set, or made without NewSample, is refused: it was never checked
// here).
func (s *Snapshot) takes(v ValidSample) error {
	if v.schema != s.schema {
		return errors.New("dataset: the sample was not checked for this training set (see Snapshot.NewSample)")
	}
	return nil
}

// Journal records changes before they become visible, for durability or
// replication. Record must not return before c is safely recorded.
type Journal interface {
	Record(ctx context.Context, c Change) error
}

// GroupJournal is a Journal whose changes can share one flush to disk
// (group commit). Append records c in order, without waiting, and returns
// a sequence number; Commit returns once every change up to that number is
// durable. A Memory store with a GroupJournal lets writers wait for their
// commit concurrently; with a plain Journal each write waits alone.
type GroupJournal interface {
	Journal
	Append(ctx context.Context, c Change) (seq uint64, err error)
	Commit(ctx context.Context, seq uint64) error
}

// Memory is a Store held in this process. Reads are lock-free (an atomic
// pointer to the current snapshot); writes are serialised, recorded in the
// optional journal, then published.
//
// With a GroupJournal, a write is applied to the newest snapshot and
// appended under the lock, then waits for its commit outside it, so that
// concurrent writes share an fsync. A snapshot is published (made visible
// to readers) only once its change is durable, so no reader ever sees a
// change that a crash could take back; a write answers once its own change
// is durable and visible.
type Memory struct {
	*History             // the current (durable, visible) and kept versions
	mu       sync.Mutex  // serialises writers
	head     *Snapshot   // the newest snapshot, perhaps not yet durable; guarded by mu
	pending  []*Snapshot // appended to a group journal, not yet published, in version order; guarded by mu
	journal  Journal
	group    GroupJournal // journal, when it commits in groups
	feed     *Feed        // the recent changes, for the change feed
}

// MemoryOptions tunes a Memory store. The zero value is usable.
type MemoryOptions struct {
	// Keep is the number of versions kept for pinned predictions; 0
	// means DefaultKeepVersions.
	Keep int
	// ChangeWindow is the number of recent changes kept for the change
	// feed; 0 means DefaultChangeWindow.
	ChangeWindow int
	// Recovered is the changes that led to the snapshot, oldest first, as
	// a journal recovered them: the feed starts with them.
	Recovered []Change
}

// NewMemory returns a store whose current snapshot is snap, keeping
// DefaultKeepVersions versions. journal may be nil. A journal that is a
// GroupJournal is used as one.
func NewMemory(snap *Snapshot, journal Journal) *Memory {
	return NewMemoryKeep(snap, journal, DefaultKeepVersions)
}

// NewMemoryKeep is NewMemory keeping the last keep versions.
func NewMemoryKeep(snap *Snapshot, journal Journal, keep int) *Memory {
	return NewMemoryWith(snap, journal, MemoryOptions{Keep: keep})
}

// NewMemoryWith is NewMemory with options.
func NewMemoryWith(snap *Snapshot, journal Journal, opts MemoryOptions) *Memory {
	if opts.Keep <= 0 {
		opts.Keep = DefaultKeepVersions
	}
	if opts.ChangeWindow <= 0 {
		opts.ChangeWindow = DefaultChangeWindow
	}
	m := &Memory{History: NewHistory(snap, opts.Keep), journal: journal, head: snap,
		feed: NewFeed(opts.ChangeWindow, snap.Version(), opts.Recovered)}
	m.group, _ = journal.(GroupJournal)
	return m
}

var _ ChangeFeed = (*Memory)(nil)

// Changes implements ChangeFeed.
func (m *Memory) Changes(since uint64, limit int) ([]Change, error) {
	return m.feed.Changes(since, limit)
}

// Wait implements ChangeFeed.
func (m *Memory) Wait(v uint64) <-chan struct{} { return m.feed.Wait(v) }

// Oldest implements ChangeFeed.
func (m *Memory) Oldest() uint64 { return m.feed.Oldest() }

var _ Store = (*Memory)(nil)

// write builds a change from the newest snapshot, records and publishes it.
func (m *Memory) write(ctx context.Context, build func(cur *Snapshot) (Change, error)) (*Snapshot, Change, error) {
	m.mu.Lock()
	cur := m.head
	c, err := build(cur)
	if err != nil {
		m.mu.Unlock()
		return nil, c, err
	}
	c.Version = cur.version + 1
	Stamp(ctx, &c)
	next, err := cur.Apply(c)
	if err != nil {
		m.mu.Unlock()
		return nil, c, err
	}
	if m.group != nil {
		var seq uint64 // 0: nothing to commit (an import is durable already)
		if ij, ok := m.journal.(ImportJournal); ok && c.Op == OpImport {
			err = ij.RecordImport(ctx, c, next)
		} else {
			seq, err = m.group.Append(ctx, c)
		}
		if err != nil {
			m.mu.Unlock()
			return nil, c, Unavailable("the change could not be recorded; it was not applied", err)
		}
		m.head = next
		m.pending = append(m.pending, next)
		m.feed.Add(c)
		m.mu.Unlock()
		if err := m.group.Commit(ctx, seq); err != nil {
			// The journal refuses every change from now on; writes
			// appended after this one fail as well. Nothing of them
			// is published; earlier ones of the pending list were made
			// durable by earlier commits and are published by their
			// own writers.
			m.mu.Lock()
			i := 0
			for i < len(m.pending) && m.pending[i].version < c.Version {
				i++
			}
			m.pending = m.pending[:i]
			if i > 0 {
				m.head = m.pending[i-1]
			} else {
				m.head = m.Snapshot()
			}
			m.feed.Drop(m.head.version)
			m.mu.Unlock()
			return nil, c, Unavailable("the change could not be made durable; it was not applied", err)
		}
		m.publishThrough(next.version)
		return next, c, nil
	}
	defer m.mu.Unlock()
	if m.journal != nil {
		if err := m.journal.Record(ctx, c); err != nil {
			return nil, c, Unavailable("the change could not be recorded; it was not applied", err)
		}
	}
	m.head = next
	m.feed.Add(c)
	m.Publish(next)
	m.feed.Publish(next.version)
	return next, c, nil
}

// publishThrough publishes, in version order, every pending snapshot up to
// version v: the commit that made v durable made every change before it
// durable too. Writers of one group commit return in any order, but the
// history sees each version once and in order.
func (m *Memory) publishThrough(v uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := 0
	for i < len(m.pending) && m.pending[i].version <= v {
		m.Publish(m.pending[i])
		m.feed.Publish(m.pending[i].version)
		i++
	}
	m.pending = append(m.pending[:0], m.pending[i:]...)
}

// Create implements Store.
func (m *Memory) Create(ctx context.Context, v ValidSample) (Sample, *Snapshot, error) {
	snap, c, err := m.write(ctx, func(cur *Snapshot) (Change, error) {
		if err := cur.takes(v); err != nil {
			return Change{}, err
		}
		id := cur.NextID()
		if id == 0 {
			return Change{}, ErrNoIDLeft
		}
		x := v.x
		x.ID = id
		return Change{Op: OpPut, Sample: x}, nil
	})
	return c.Sample, snap, err
}

// Put implements Store.
func (m *Memory) Put(ctx context.Context, v ValidSample, pre Precondition) (bool, *Snapshot, error) {
	created := false
	s := v.x
	snap, _, err := m.write(ctx, func(cur *Snapshot) (Change, error) {
		if err := cur.takes(v); err != nil {
			return Change{}, err
		}
		if s.ID < 1 {
			return Change{}, Invalidf("id", "id must be a positive integer, got %d", s.ID)
		}
		if err := pre.Check(cur, s.ID); err != nil {
			return Change{}, err
		}
		_, exists := cur.find(s.ID)
		created = !exists
		return Change{Op: OpPut, Sample: s}, nil
	})
	return created, snap, err
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, id int64, pre Precondition) (*Snapshot, error) {
	snap, _, err := m.write(ctx, func(cur *Snapshot) (Change, error) {
		if _, ok := cur.find(id); !ok {
			return Change{}, NotFoundf("no sample with id %d", id)
		}
		if err := pre.Check(cur, id); err != nil {
			return Change{}, err
		}
		return Change{Op: OpDelete, ID: id}, nil
	})
	return snap, err
}

// Reset implements Store.
func (m *Memory) Reset(ctx context.Context) (*Snapshot, error) {
	snap, _, err := m.write(ctx, func(*Snapshot) (Change, error) {
		return Change{Op: OpReset}, nil
	})
	return snap, err
}
