package dataset

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// actorKey is the context key of the actor of a write.
type actorKey struct{}

// WithActor returns ctx carrying the name of whoever makes the writes done
// with it: an API key's name, or a digest of an unnamed key. Never the key
// itself: it ends up in the change feed.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor WithActor put in ctx, or "" when none.
func ActorFrom(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}

// now is the clock of Stamp (a variable for tests).
var now = time.Now

// Stamp sets c's Time (now, in UTC, to the microsecond) and Actor (from
// ctx): the one place where a change gets its audit fields, for every
// store.
func Stamp(ctx context.Context, c *Change) {
	c.Time = now().UTC().Truncate(time.Microsecond)
	c.Actor = ActorFrom(ctx)
}

// DefaultChangeWindow is the number of recent changes a Feed keeps when
// none is configured.
const DefaultChangeWindow = 10000

// ChangeFeed lists the changes made to a store's set, for the change feed
// and audit (GET /dataset/changes). A store implements it when it can.
type ChangeFeed interface {
	// Changes returns up to limit changes after version since, in version
	// order, all published (visible in Snapshot). A since before the
	// kept window is a KindGone error naming the oldest kept version.
	//
	// A since after the newest version is a KindConflict error wrapping
	// ErrAhead, naming the newest version, when no one else writes to
	// the set: this history never reached since, so the client follows
	// another one (the server restarted without its data). When other
	// replicas write to the set too (a SharedJournal), one of them may be
	// ahead and this one will catch up: the answer is an empty list, and
	// Wait waits for it.
	Changes(since uint64, limit int) ([]Change, error)
	// Wait returns a channel that is closed once a version after v is
	// published (at once if one is). It never reports ErrAhead: a caller
	// asks Changes first.
	Wait(v uint64) <-chan struct{}
	// Oldest returns the version of the oldest change kept: every change
	// from it on is kept, and a since below Oldest()-1 is gone.
	Oldest() uint64
}

// ErrAhead is wrapped by the error ChangeFeed.Changes returns for a
// version after the newest one of a set that no one else writes to: such
// a version belongs to another history of the set (before a restart
// without its data, or from a replaced data directory), and what follows
// it here would not follow what the client has.
var ErrAhead = errors.New("the version is after the newest version of this set")

// aheadError is the error of a since after newest, the newest version of
// a set that no one else writes to.
func aheadError(since, newest uint64) error {
	return &Error{Kind: KindConflict, NewestVersion: newest, Err: fmt.Errorf("since %d, newest %d: %w", since, newest, ErrAhead), Message: fmt.Sprintf(
		"version %d is after this server's newest version %d: this training set's history never reached it (the server restarted without -data-dir, or its data directory was replaced), so the changes that follow here do not follow yours; reload the set (GET /samples, or GET /dataset for its version) and follow from since=%d",
		since, newest, newest)}
}

// Feed is the window of recent changes of a set: at most a fixed number,
// the newest, in version order. It is safe for concurrent use. A store adds
// each change when it is made (in order) and marks versions published when
// readers may see them: Changes returns only published changes.
type Feed struct {
	mu        sync.Mutex
	window    int
	ring      []Change // ring buffer of the kept changes
	start     int      // index of the oldest in ring
	n         int      // changes kept
	from      uint64   // every change after this version is kept
	published uint64   // the newest version readers may see
	notify    chan struct{}
}

// NewFeed returns a feed keeping the last window changes (at least 1),
// starting with history (older changes first; only the last window are
// kept), all published, and published set to version.
func NewFeed(window int, version uint64, history []Change) *Feed {
	window = max(window, 1)
	f := &Feed{window: window, ring: make([]Change, 0, min(window, 1024)), published: version, notify: make(chan struct{})}
	if len(history) > window {
		history = history[len(history)-window:]
	}
	f.from = version
	if len(history) > 0 {
		f.from = history[0].Version - 1
	}
	for _, c := range history {
		f.add(c)
	}
	return f
}

// Window returns the number of changes the feed keeps.
func (f *Feed) Window() int { return f.window }

// at returns the i-th oldest kept change. f.mu is held.
func (f *Feed) at(i int) *Change { return &f.ring[(f.start+i)%f.window] }

// Add appends c, which must follow the newest change kept, dropping the
// oldest when the window is full. It is not published yet.
func (f *Feed) Add(c Change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.add(c)
}

func (f *Feed) add(c Change) {
	if f.n > 0 && c.Version != f.at(f.n-1).Version+1 {
		// A gap (a store that reloaded): the kept history no longer
		// leads to c; start again from c.
		f.ring, f.start, f.n = f.ring[:0], 0, 0
		f.from = c.Version - 1
	}
	if c.Op == OpImport && c.Import != nil && c.Import.Samples != nil {
		// The feed lists an import by its mode and size, not its rows.
		c.Import = &Import{Mode: c.Import.Mode, Rows: c.Import.Rows}
	}
	switch {
	case f.n < len(f.ring):
		*f.at(f.n) = c
		f.n++
	case len(f.ring) < f.window:
		f.ring = append(f.ring, c)
		f.n++
	default: // full: overwrite the oldest
		f.from = f.ring[f.start].Version
		f.ring[f.start] = c
		f.start = (f.start + 1) % f.window
	}
}

// Publish makes every change up to version v visible and wakes waiters.
func (f *Feed) Publish(v uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v <= f.published {
		return
	}
	f.published = v
	close(f.notify)
	f.notify = make(chan struct{})
}

// Drop forgets the unpublished changes after version v (their writes
// failed).
func (f *Feed) Drop(v uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.n > 0 && f.at(f.n-1).Version > v {
		f.n--
	}
}

// Restart forgets every kept change and publishes version v: the set
// jumped to v by a way that lists no changes (a journal's snapshot), so
// the feed keeps what follows v.
func (f *Feed) Restart(v uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ring, f.start, f.n = f.ring[:0], 0, 0
	f.from = v
	if v > f.published {
		f.published = v
		close(f.notify)
		f.notify = make(chan struct{})
	}
}

// Newest returns the version of the newest change kept, published or not
// (0 when none is).
func (f *Feed) Newest() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		return 0
	}
	return f.at(f.n - 1).Version
}

// Oldest implements ChangeFeed: the first version after the one from
// which every change is kept.
func (f *Feed) Oldest() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.from + 1
}

// Changes implements ChangeFeed.
func (f *Feed) Changes(since uint64, limit int) ([]Change, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if since >= f.published || limit <= 0 {
		return []Change{}, nil
	}
	// Version 1 is the loaded set, made by no change: a feed kept from
	// there answers any since.
	if since < f.from && f.from > 1 {
		return nil, &Error{Kind: KindGone, OldestVersion: f.from + 1, Message: fmt.Sprintf(
			"changes after version %d are no longer kept: the oldest kept change is version %d (the feed keeps the last %d); start from since=%d, or export the whole set (GET /samples, Accept: text/csv) and follow from its version",
			since, f.from+1, f.window, f.from)}
	}
	first := int(max(since, f.from) - f.from)
	out := make([]Change, 0, min(limit, f.n-first))
	for i := first; i < f.n && len(out) < limit; i++ {
		c := f.at(i)
		if c.Version > f.published {
			break
		}
		out = append(out, *c)
	}
	return out, nil
}

// Wait implements ChangeFeed.
func (f *Feed) Wait(v uint64) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.published > v {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return f.notify
}

// All returns every kept change, published or not, oldest first: what a
// journal saves to restore the feed after a restart.
func (f *Feed) All() []Change {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Change, f.n)
	for i := range out {
		out[i] = *f.at(i)
	}
	return out
}
