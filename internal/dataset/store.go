package dataset

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
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
)

func (o Op) String() string {
	switch o {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpReset:
		return "reset"
	}
	return fmt.Sprintf("Op(%d)", o)
}

// Change is one write to the training set, as recorded in a journal or sent
// between replicas. Version is the version it produces.
type Change struct {
	Version uint64
	Op      Op
	Sample  Sample // for OpPut
	ID      int64  // for OpDelete
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

// Memory is a Store held in this process. Reads are lock-free (an atomic
// pointer to the current snapshot); writes are serialised, recorded in the
// optional journal, then published.
type Memory struct {
	mu      sync.Mutex // serialises writers
	cur     atomic.Pointer[Snapshot]
	journal Journal
}

// NewMemory returns a store whose current snapshot is snap. journal may be
// nil.
func NewMemory(snap *Snapshot, journal Journal) *Memory {
	m := &Memory{journal: journal}
	m.cur.Store(snap)
	return m
}

var _ Store = (*Memory)(nil)

// Snapshot implements Store.
func (m *Memory) Snapshot() *Snapshot { return m.cur.Load() }

// write builds a change from the current snapshot, records and publishes it.
func (m *Memory) write(ctx context.Context, build func(cur *Snapshot) (Change, error)) (*Snapshot, Change, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.cur.Load()
	c, err := build(cur)
	if err != nil {
		return nil, c, err
	}
	c.Version = cur.version + 1
	next, err := cur.Apply(c)
	if err != nil {
		return nil, c, err
	}
	if m.journal != nil {
		if err := m.journal.Record(ctx, c); err != nil {
			return nil, c, Unavailable("the change could not be recorded; it was not applied", err)
		}
	}
	m.cur.Store(next)
	return next, c, nil
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
