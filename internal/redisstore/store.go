// Package redisstore is an [dataset.Store] whose training set lives in Redis,
// shared by every replica of the service.
//
// Redis holds the samples, their ETags, the version, the next id, the loaded
// set (for resets) and a stream of changes. Every write is one Lua script
// that checks its precondition (If-Match against the stored ETag), bumps the
// version and appends the change to the stream atomically, so concurrent
// writes through different replicas are serialised by Redis and none is lost
// silently.
//
// Each replica keeps its own immutable [dataset.Snapshot] for lock-free
// predictions and follows the stream (XREAD BLOCK), applying each change
// with [dataset.Snapshot.Apply]. A gap in the versions (a trimmed stream, a lost
// connection) makes it reload the whole state atomically and rebuild the
// snapshot with [dataset.RestoreSnapshot]. A write returns only after the
// replica that made it has applied it: a client reads its own writes on
// that replica; other replicas see it once their follower reads the stream
// (about a millisecond on loopback; see the README).
package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/irisknn/irisknn/internal/dataset"
)

// Options configures a Store.
type Options struct {
	// Prefix namespaces every key (default "irisknn:"). Replicas that share
	// a training set use the same prefix.
	Prefix string
	// StreamLen is the approximate number of changes kept in the stream
	// (default 10,000). A replica further behind than this reloads the whole
	// set.
	StreamLen int64
	// Logger receives the follower's warnings; nil discards.
	Logger *slog.Logger
	// KeepVersions is the number of dataset versions the replica keeps for
	// pinned reads (default dataset.DefaultKeepVersions). A replica keeps
	// the versions it has seen: one it skipped by reloading is not kept.
	KeepVersions int
	// Scale is how features are scaled; every replica must use the same.
	Scale dataset.ScaleKind
}

// Store is an dataset.Store backed by Redis. Create it with Open; stop its
// follower with Close.
type Store struct {
	schema *dataset.Schema
	scale  dataset.ScaleKind
	rdb    redis.UniversalClient
	keys   []string
	maxLen int64
	log    *slog.Logger

	mu     sync.Mutex // serialises changes to hist (follower and writers)
	keep   int
	hist   atomic.Pointer[dataset.History] // set by the first reload
	lastID string                          // the stream id of the last change applied; guarded by mu
	notify chan struct{}                   // closed and replaced on every new snapshot; guarded by mu

	cancel context.CancelFunc
	done   chan struct{}
}

var _ dataset.Store = (*Store)(nil)

// wireSample is a sample as stored in Redis.
type wireSample struct {
	ID int64     `json:"id"`
	F  []float64 `json:"f"`
	S  string    `json:"s"`
}

func encodeSample(s dataset.Sample) string {
	b, _ := json.Marshal(wireSample{ID: s.ID, F: s.Features, S: s.Label})
	return string(b)
}

func decodeSample(v string) (dataset.Sample, error) {
	var w wireSample
	if err := json.Unmarshal([]byte(v), &w); err != nil {
		return dataset.Sample{}, fmt.Errorf("redisstore: bad sample %q: %w", v, err)
	}
	return dataset.Sample{ID: w.ID, Features: w.F, Label: w.S}, nil
}

// Open connects the store to rdb: it seeds Redis with initial when the
// namespace is empty (a no-op when another replica already did), loads the
// current state and starts following changes. initial is only used for
// seeding: a replica always serves what Redis holds. Every replica must load
// a set of the same schema.
func Open(ctx context.Context, rdb redis.UniversalClient, schema *dataset.Schema, initial []dataset.Sample, opt Options) (*Store, error) {
	if opt.Prefix == "" {
		opt.Prefix = "irisknn:"
	}
	if opt.StreamLen <= 0 {
		opt.StreamLen = 10000
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	p := opt.Prefix
	s := &Store{
		schema: schema,
		scale:  opt.Scale,
		rdb:    rdb,
		keys:   []string{p + "meta", p + "samples", p + "etags", p + "initial", p + "ietags", p + "changes"},
		maxLen: opt.StreamLen,
		log:    opt.Logger,
		keep:   opt.KeepVersions,
		notify: make(chan struct{}),
		done:   make(chan struct{}),
	}
	// Validate before seeding, so that a bad set never reaches Redis.
	if _, err := dataset.NewSnapshot(schema, initial, opt.Scale); err != nil {
		return nil, err
	}
	if _, err := s.seed(ctx, initial); err != nil {
		return nil, err
	}
	if err := s.reload(ctx, false); err != nil {
		return nil, err
	}
	fctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.follow(fctx)
	return s, nil
}

// seed writes initial to Redis unless the namespace is already seeded, and
// reports whether it did.
func (s *Store) seed(ctx context.Context, initial []dataset.Sample) (bool, error) {
	args := make([]any, 0, 1+3*len(initial))
	args = append(args, s.maxLen)
	for _, x := range initial {
		args = append(args, x.ID, encodeSample(x), revision(x))
	}
	n, err := seedScript.Run(ctx, s.rdb, s.keys, args...).Int()
	if err != nil {
		return false, dataset.Unavailable("could not seed the training set in Redis", err)
	}
	return n == 1, nil
}

// Close stops following changes. It does not close the Redis client.
func (s *Store) Close() error {
	s.cancel()
	<-s.done
	return nil
}

// Snapshot implements dataset.Store: the replica's current copy, never blocking.
func (s *Store) Snapshot() *dataset.Snapshot { return s.hist.Load().Snapshot() }

// SnapshotAt implements dataset.Store: a version this replica has kept.
func (s *Store) SnapshotAt(v uint64) (*dataset.Snapshot, error) { return s.hist.Load().SnapshotAt(v) }

// Versions implements dataset.Store.
func (s *Store) Versions() []uint64 { return s.hist.Load().Versions() }

// History returns the replica's kept versions.
func (s *Store) History() *dataset.History { return s.hist.Load() }

// current returns the current snapshot, or nil before the first load.
func (s *Store) current() *dataset.Snapshot {
	if h := s.hist.Load(); h != nil {
		return h.Snapshot()
	}
	return nil
}

// WaitVersion returns the replica's snapshot once its version is at least v,
// or ctx's error.
func (s *Store) WaitVersion(ctx context.Context, v uint64) (*dataset.Snapshot, error) {
	for {
		s.mu.Lock()
		cur, ch := s.Snapshot(), s.notify
		s.mu.Unlock()
		if cur.Version() >= v {
			return cur, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return cur, ctx.Err()
		}
	}
}

// publish installs snap; s.mu must be held.
func (s *Store) publish(snap *dataset.Snapshot, streamID string) {
	if h := s.hist.Load(); h != nil {
		h.Publish(snap)
	} else {
		s.hist.Store(dataset.NewHistory(snap, s.keep))
	}
	if streamID != "" {
		s.lastID = streamID
	}
	close(s.notify)
	s.notify = make(chan struct{})
}

// reload reads the whole state atomically and installs it. Unless force is
// set, a state older than the replica's is ignored.
func (s *Store) reload(ctx context.Context, force bool) error {
	res, err := loadScript.Run(ctx, s.rdb, s.keys).Slice()
	if err != nil {
		return s.mapErr(err, "could not read the training set from Redis")
	}
	if len(res) != 5 {
		return fmt.Errorf("redisstore: load returned %d values", len(res))
	}
	version, err := strconv.ParseUint(fmt.Sprint(res[0]), 10, 64)
	if err != nil {
		return fmt.Errorf("redisstore: bad version %v", res[0])
	}
	next, err := strconv.ParseUint(fmt.Sprint(res[1]), 10, 64)
	if err != nil {
		return fmt.Errorf("redisstore: bad next id %v", res[1])
	}
	lastID := fmt.Sprint(res[2])
	decodeAll := func(v any) ([]dataset.Sample, error) {
		vals, _ := v.([]any)
		out := make([]dataset.Sample, 0, len(vals))
		for _, x := range vals {
			smp, err := decodeSample(fmt.Sprint(x))
			if err != nil {
				return nil, err
			}
			out = append(out, smp)
		}
		return out, nil
	}
	cur, err := decodeAll(res[3])
	if err != nil {
		return err
	}
	initial, err := decodeAll(res[4])
	if err != nil {
		return err
	}
	// The scaler is fitted on the loaded set that Redis holds, the same for
	// every replica.
	scaler := dataset.Fit(s.scale, s.schema.Dim(), initial)
	snap, err := dataset.RestoreSnapshot(dataset.State{Schema: s.schema, Scaler: scaler, Initial: initial, Current: cur, Version: version, Next: next})
	if err != nil {
		return fmt.Errorf("redisstore: the state in Redis is inconsistent: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.current(); !force && old != nil && old.Version() > version {
		return nil // a newer state arrived meanwhile
	}
	s.publish(snap, lastID)
	return nil
}

// follow reads the change stream until ctx is done, applying each change;
// on a gap or an error it reloads the whole state.
func (s *Store) follow(ctx context.Context) {
	defer close(s.done)
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		s.mu.Lock()
		from := s.lastID
		s.mu.Unlock()
		res, err := s.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{s.keys[5], from}, Count: 1000, Block: time.Second}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err == nil {
			for _, st := range res {
				err = s.applyEntries(st.Messages)
			}
		}
		if err == nil {
			backoff = 50 * time.Millisecond
			continue
		}
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("redisstore: following changes failed; reloading", "error", err.Error())
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 5*time.Second)
		if err := s.reload(ctx, true); err != nil && ctx.Err() == nil {
			s.log.Warn("redisstore: reload failed", "error", err.Error())
		}
	}
}

// errGap reports a change that does not follow the replica's version.
var errGap = errors.New("redisstore: gap in the change stream")

// applyEntries applies stream entries in order; entries the replica already
// has are skipped.
func (s *Store) applyEntries(msgs []redis.XMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		c, err := parseChange(m.Values)
		if err != nil {
			return err
		}
		cur := s.current()
		switch {
		case c.Version <= cur.Version() && c.Op != 0:
			s.lastID = m.ID
			continue
		case c.Op == 0: // a new seed after the data was flushed
			return fmt.Errorf("%w: the set was seeded again", errGap)
		case c.Version != cur.Version()+1:
			return fmt.Errorf("%w: change %d after version %d", errGap, c.Version, cur.Version())
		}
		next, err := cur.Apply(c)
		if err != nil {
			return fmt.Errorf("redisstore: change %d: %w", c.Version, err)
		}
		s.publish(next, m.ID)
	}
	return nil
}

// parseChange decodes a stream entry. A seed entry has Op 0.
func parseChange(v map[string]any) (dataset.Change, error) {
	str := func(k string) string { x, _ := v[k].(string); return x }
	ver, err := strconv.ParseUint(str("v"), 10, 64)
	if err != nil {
		return dataset.Change{}, fmt.Errorf("redisstore: bad change version %q", str("v"))
	}
	c := dataset.Change{Version: ver}
	switch str("op") {
	case "seed":
	case "put":
		c.Op = dataset.OpPut
		if c.Sample, err = decodeSample(str("s")); err != nil {
			return c, err
		}
	case "delete":
		c.Op = dataset.OpDelete
		if c.ID, err = strconv.ParseInt(str("id"), 10, 64); err != nil {
			return c, fmt.Errorf("redisstore: bad id in change %d", ver)
		}
	case "reset":
		c.Op = dataset.OpReset
	default:
		return c, fmt.Errorf("redisstore: unknown op %q in change %d", str("op"), ver)
	}
	return c, nil
}

// catchUp makes the local snapshot include version v (the version a write
// just produced), applying c directly when it is the next change, and
// returns the snapshot. Read-your-writes on this replica rests on it.
func (s *Store) catchUp(ctx context.Context, c dataset.Change) (*dataset.Snapshot, error) {
	s.mu.Lock()
	cur := s.current()
	if cur.Version() >= c.Version {
		s.mu.Unlock()
		return cur, nil
	}
	if cur.Version()+1 == c.Version {
		next, err := cur.Apply(c)
		if err == nil {
			// The follower will skip this change when it reads it.
			s.publish(next, "")
			s.mu.Unlock()
			return next, nil
		}
	}
	s.mu.Unlock()
	// Changes by other replicas came first: give the follower a moment,
	// then reload.
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	snap, err := s.WaitVersion(wctx, c.Version)
	cancel()
	if err == nil {
		return snap, nil
	}
	if err := s.reload(ctx, false); err != nil {
		return nil, err
	}
	return s.WaitVersion(ctx, c.Version)
}

// mapErr turns a script's error reply into a domain error.
func (s *Store) mapErr(err error, unavailable string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	word, rest, _ := strings.Cut(msg, " ")
	switch word {
	case "NOTFOUND":
		return dataset.NotFoundf("%s", rest)
	case "PRECONDITION":
		return &dataset.Error{Kind: dataset.KindPrecondition, Message: rest}
	case "CONFLICT":
		return &dataset.Error{Kind: dataset.KindConflict, Message: rest}
	case "NOTSEEDED":
		return dataset.Unavailable("the training set is missing from Redis (was it flushed?); restart a replica to seed it", err)
	}
	return dataset.Unavailable(unavailable, err)
}

// revision is a sample's revision as Redis keeps it (the scripts compare
// it).
func revision(x dataset.Sample) string { return fmt.Sprintf("%016x", uint64(x.Revision())) }

// ifMatch checks pre against this replica's copy of sample id and returns
// the condition the scripts check again atomically in Redis: "" for none,
// else the revision the replica saw, so that a sample changed meanwhile
// through another replica fails the write (for "*" too: stricter than
// needed, never lax).
func (s *Store) ifMatch(id int64, pre dataset.Precondition) (string, error) {
	if pre.None() {
		return "", nil
	}
	snap := s.Snapshot()
	if err := pre.Check(snap, id); err != nil {
		return "", err
	}
	cur, _ := snap.Get(id)
	return revision(cur), nil
}

func (s *Store) put(ctx context.Context, x dataset.Sample, ifMatch string) (bool, *dataset.Snapshot, error) {
	res, err := putScript.Run(ctx, s.rdb, s.keys, s.maxLen, x.ID, encodeSample(x), revision(x), ifMatch).Int64Slice()
	if err != nil {
		return false, nil, s.mapErr(err, "the change could not be recorded in Redis; it was not applied")
	}
	snap, err := s.catchUp(ctx, dataset.Change{Version: uint64(res[0]), Op: dataset.OpPut, Sample: x})
	return res[1] == 1, snap, err
}

// Create implements dataset.Store.
func (s *Store) Create(ctx context.Context, v dataset.ValidSample) (dataset.Sample, *dataset.Snapshot, error) {
	x := v.Sample()
	for range 5 {
		id, err := reserveScript.Run(ctx, s.rdb, s.keys).Int64()
		if err != nil {
			return dataset.Sample{}, nil, s.mapErr(err, "could not reserve an id in Redis")
		}
		x.ID = id
		// "!": the reserved id may have been taken by a PUT meanwhile.
		_, snap, err := s.put(ctx, x, "!")
		if dataset.ErrorKind(err) == dataset.KindConflict {
			continue
		}
		return x, snap, err
	}
	return dataset.Sample{}, nil, dataset.Unavailable("could not find a free id; retry", nil)
}

// Put implements dataset.Store.
func (s *Store) Put(ctx context.Context, v dataset.ValidSample, pre dataset.Precondition) (bool, *dataset.Snapshot, error) {
	x := v.Sample()
	if x.ID < 1 {
		return false, nil, dataset.Invalidf("id", "id must be a positive integer, got %d", x.ID)
	}
	ifMatch, err := s.ifMatch(x.ID, pre)
	if err != nil {
		return false, nil, err
	}
	return s.put(ctx, x, ifMatch)
}

// Delete implements dataset.Store.
func (s *Store) Delete(ctx context.Context, id int64, pre dataset.Precondition) (*dataset.Snapshot, error) {
	ifMatch, err := s.ifMatch(id, pre)
	if err != nil {
		return nil, err
	}
	v, err := deleteScript.Run(ctx, s.rdb, s.keys, s.maxLen, id, ifMatch).Uint64()
	if err != nil {
		return nil, s.mapErr(err, "the change could not be recorded in Redis; it was not applied")
	}
	return s.catchUp(ctx, dataset.Change{Version: v, Op: dataset.OpDelete, ID: id})
}

// Reset implements dataset.Store.
func (s *Store) Reset(ctx context.Context) (*dataset.Snapshot, error) {
	v, err := resetScript.Run(ctx, s.rdb, s.keys, s.maxLen).Uint64()
	if err != nil {
		return nil, s.mapErr(err, "the change could not be recorded in Redis; it was not applied")
	}
	return s.catchUp(ctx, dataset.Change{Version: v, Op: dataset.OpReset})
}
