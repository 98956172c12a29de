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

// AppliedJournal is a GroupJournal that keeps the state its changes
// produce (a write-ahead log compacts it into a snapshot). AppendApplied is
// Append told that state: next is what c produces from the state of the
// change appended before it, which the store has just computed, so the
// journal does not apply c a second time.
type AppliedJournal interface {
	GroupJournal
	AppendApplied(ctx context.Context, c Change, next *Snapshot) (seq uint64, err error)
}

// ErrVersionTaken is wrapped by the error a SharedJournal's Record returns
// when another writer has already recorded a change with the same version:
// a compare-and-set on the version that this writer lost.
var ErrVersionTaken = errors.New("another writer recorded that version first")

// SharedJournal is a Journal that other processes write to as well (a
// database shared by replicas). When Record reports ErrVersionTaken, the
// store catches up with CatchUp and builds the write again on the newer
// snapshot, so that its preconditions are checked against what is really
// current.
type SharedJournal interface {
	Journal
	// CatchUp returns the snapshot that every change recorded after cur
	// produces from it (cur itself when there is none), and those changes,
	// oldest first; they may start later than cur when the journal began
	// from one of its snapshots.
	CatchUp(ctx context.Context, cur *Snapshot) (*Snapshot, []Change, error)
}

// BatchJournal is a Journal that records several changes in one go (one
// transaction, one fsync): group commit. A store over one collects the
// writes that arrive while a change is being recorded and records them
// together; each is still built and checked on the state the ones before
// it produce, exactly as if they came one by one. RecordBatch records all
// of changes or none.
type BatchJournal interface {
	Journal
	RecordBatch(ctx context.Context, changes []Change) error
}

// maxWriteAttempts bounds how often a write is rebuilt after losing the
// race for a version to another replica.
const maxWriteAttempts = 100

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
	mu       sync.Mutex  // serialises writers and Advance
	head     *Snapshot   // the newest snapshot, perhaps not yet durable; guarded by mu
	pending  []*Snapshot // appended to a group journal, not yet published, in version order; guarded by mu
	journal  Journal
	group    GroupJournal   // journal, when it commits in groups
	applied  AppliedJournal // journal, when it takes the state a change produces
	shared   SharedJournal  // journal, when others write to it too
	batch    BatchJournal   // journal, when it records batches
	feed     *Feed          // the recent changes, for the change feed

	qmu   sync.Mutex      // guards queue
	queue []*pendingWrite // writes waiting for a leader (batch journals)
}

// pendingWrite is a write waiting to be recorded in a batch.
type pendingWrite struct {
	ctx   context.Context
	build func(cur *Snapshot) (Change, error)
	done  chan writeResult // buffered: the leader never waits
	res   writeResult      // tentative, during an attempt
}

type writeResult struct {
	snap *Snapshot
	c    Change
	err  error
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
	m.applied, _ = journal.(AppliedJournal)
	m.shared, _ = journal.(SharedJournal)
	m.batch, _ = journal.(BatchJournal)
	return m
}

var _ ChangeFeed = (*Memory)(nil)

// Changes implements ChangeFeed. A since after the current version is
// ErrAhead unless the journal is shared: then another replica may be
// ahead, and this one catches up with it. The current version is that of
// Snapshot, which is published before the feed, so a client that has just
// read version v is never told that v is ahead.
func (m *Memory) Changes(since uint64, limit int) ([]Change, error) {
	if newest := m.Snapshot().Version(); since > newest && m.shared == nil {
		return nil, aheadError(since, newest)
	}
	return m.feed.Changes(since, limit)
}

// Wait implements ChangeFeed.
func (m *Memory) Wait(v uint64) <-chan struct{} { return m.feed.Wait(v) }

// Oldest implements ChangeFeed.
func (m *Memory) Oldest() uint64 { return m.feed.Oldest() }

var _ Store = (*Memory)(nil)

// Advance publishes the snapshot that next returns from the current one,
// when it is newer: how a replica follows changes that other replicas
// recorded in a shared journal. next also returns the changes that lead
// there, oldest first, for the change feed; when they do not (the state
// came from a journal's snapshot), the feed starts again at the new
// version. It is serialised with writes.
func (m *Memory) Advance(next func(cur *Snapshot) (*Snapshot, []Change, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.head
	s, changes, err := next(cur)
	if err != nil {
		return err
	}
	m.advance(cur, s, changes)
	return nil
}

// advance publishes s, newer than cur, which changes led to, and adds them
// to the feed. m.mu is held.
func (m *Memory) advance(cur, s *Snapshot, changes []Change) {
	if s == nil || s.version <= cur.version {
		return
	}
	if n := len(changes); n == 0 || changes[n-1].Version != s.version {
		m.feed.Restart(s.version)
	} else {
		for _, c := range changes {
			m.feed.Add(c)
		}
	}
	m.head = s
	m.Publish(s)
	m.feed.Publish(s.version)
}

// write builds a change from the newest snapshot, records and publishes it.
// With a shared journal, a lost race for the version makes it catch up and
// build the change again on the newer snapshot.
func (m *Memory) write(ctx context.Context, build func(cur *Snapshot) (Change, error)) (*Snapshot, Change, error) {
	if m.batch != nil {
		return m.writeBatched(ctx, build)
	}
	m.mu.Lock()
	attempt := 1
retry:
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
		} else if m.applied != nil {
			seq, err = m.applied.AppendApplied(ctx, c, next)
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
	if m.journal != nil {
		err := m.journal.Record(ctx, c)
		if retry, err := m.lostRace(ctx, err, cur, attempt); retry {
			attempt++
			goto retry // still holding m.mu
		} else if err != nil {
			m.mu.Unlock()
			return nil, c, err
		}
	}
	m.head = next
	m.feed.Add(c)
	m.Publish(next)
	m.feed.Publish(next.version)
	m.mu.Unlock()
	return next, c, nil
}

// publishThrough publishes, in version order, every pending snapshot up to
// version v: the commit that made v durable made every change before it
// durable too. Writers of one group commit return in any order, but the
// history sees each version once and in order. Usually another writer of
// the same group published v already: that is seen without the writer lock,
// which the next group's writers are waiting for.
func (m *Memory) publishThrough(v uint64) {
	if m.Snapshot().version >= v {
		return
	}
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

// lostRace handles a journal's error: when another writer took the
// version, it catches up (publishing the newer snapshot) and says to retry;
// otherwise it returns the write's error (nil for none).
func (m *Memory) lostRace(ctx context.Context, err error, cur *Snapshot, attempt int) (bool, error) {
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, ErrVersionTaken) || m.shared == nil || attempt >= maxWriteAttempts {
		return false, recordError(err)
	}
	newer, changes, cerr := m.shared.CatchUp(ctx, cur)
	if cerr != nil {
		return false, recordError(cerr)
	}
	m.advance(cur, newer, changes)
	return true, nil
}

// writeBatched queues the write; whoever holds the writer lock next records
// every queued write in one batch (leader/follower group commit).
func (m *Memory) writeBatched(ctx context.Context, build func(cur *Snapshot) (Change, error)) (*Snapshot, Change, error) {
	p := &pendingWrite{ctx: ctx, build: build, done: make(chan writeResult, 1)}
	m.qmu.Lock()
	m.queue = append(m.queue, p)
	m.qmu.Unlock()
	m.mu.Lock()
	select {
	case r := <-p.done: // an earlier leader recorded it
		m.mu.Unlock()
		return r.snap, r.c, r.err
	default:
	}
	m.qmu.Lock()
	batch := m.queue
	m.queue = nil
	m.qmu.Unlock()
	m.commitBatch(context.WithoutCancel(ctx), batch)
	m.mu.Unlock()
	r := <-p.done
	return r.snap, r.c, r.err
}

// commitBatch builds, records and publishes a batch of writes, in order,
// and tells each writer its result. m.mu is held.
func (m *Memory) commitBatch(ctx context.Context, batch []*pendingWrite) {
	for attempt := 1; ; attempt++ {
		cur := m.head
		next := cur
		var changes []Change
		var owners []*pendingWrite
		for _, p := range batch {
			p.res = writeResult{}
			if err := p.ctx.Err(); err != nil {
				p.res.err = err
				continue
			}
			c, err := p.build(next)
			if err == nil {
				c.Version = next.version + 1
				Stamp(p.ctx, &c)
				var s *Snapshot
				if s, err = next.Apply(c); err == nil {
					next = s
					p.res = writeResult{snap: s, c: c}
					changes = append(changes, c)
					owners = append(owners, p)
					continue
				}
			}
			p.res = writeResult{c: c, err: err}
		}
		if len(changes) > 0 {
			err := m.batch.RecordBatch(ctx, changes)
			if retry, err := m.lostRace(ctx, err, cur, attempt); retry {
				continue
			} else if err != nil {
				for _, p := range owners {
					p.res = writeResult{c: p.res.c, err: err}
				}
			} else {
				// Every version of the batch, in order, for the history
				// and the feed.
				for _, p := range owners {
					m.feed.Add(p.res.c)
					m.Publish(p.res.snap)
				}
				m.head = next
				m.feed.Publish(next.version)
			}
		}
		for _, p := range batch {
			p.done <- p.res
		}
		return
	}
}

// recordError is the error of a write whose change could not be recorded:
// the journal's own *Error when it gave one, else KindUnavailable.
func recordError(err error) error {
	if _, ok := errors.AsType[*Error](err); ok {
		return err
	}
	return Unavailable("the change could not be recorded; it was not applied", err)
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
