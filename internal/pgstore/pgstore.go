// Package pgstore shares the training set between replicas through
// PostgreSQL: a journal of changes keyed by dataset version, with periodic
// snapshots for a fast catch-up, behind the same [dataset.Memory] store as
// the in-memory and WAL modes. Only the journal differs: every rule of a
// write (If-Match, ids, "not the last sample", validation) runs in Go on the
// replica's current snapshot before the change is recorded here.
//
// # Tables
//
//	irisknn_dataset    one row: the dataset identity, made when the database is seeded
//	irisknn_changes    (dataset, version) -> the change, in wal's change encoding
//	irisknn_snapshots  (dataset, version) -> the whole set, in wal's snapshot encoding
//
// The identity qualifies every version number: a database wiped and seeded
// again has a new identity, so nothing keyed by (identity, version), such as
// a cache entry, survives from the previous lifetime.
//
// # A write
//
// A replica inserts change v+1 in one autocommit statement that also
// notifies the other replicas (pg_notify, delivered at commit), with
// synchronous_commit on: when Record returns, the change is durable. Writes
// that arrive on a replica while one is being recorded are recorded
// together, v+1..v+n in one statement (group commit: one fsync for all). If the
// insert hits the primary key, another replica recorded v+1 first: Record
// reports [dataset.ErrVersionTaken], and the store catches up ([Journal.CatchUp])
// and builds the write again on the newer snapshot.
//
// # Following
//
// Each replica LISTENs on one connection of its own. A notification carries
// the change itself, so a replica that is current applies it at once; one
// that missed something (a reconnect, a gap) runs the catch-up query: the
// newest snapshot when it is far behind, then the changes after it. The
// listener pings PostgreSQL every second; while it cannot, [Store.Health]
// reports the error and writes fail at once with [dataset.KindUnavailable],
// until it reconnects and catches up by itself.
package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/wal"
)

// tracer makes the spans of database calls (OpenTelemetry's global
// provider: a no-op unless internal/telemetry installed one).
var tracer = otel.Tracer("github.com/irisknn/irisknn/internal/pgstore")

// dbSpan starts the client span of one call to PostgreSQL.
func dbSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(append(attrs, attribute.String("db.system", "postgresql"))...))
}

// endSpan ends span, recording err.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Channel is the LISTEN/NOTIFY channel of changes.
const Channel = "irisknn_changes"

// Options configures a Store. The zero value is usable.
type Options struct {
	// WriteTimeout bounds recording one change (default 2 s): past it the
	// write fails with KindUnavailable.
	WriteTimeout time.Duration
	// SnapshotEvery is the number of changes after which a replica stores a
	// snapshot of the set (default 1000).
	SnapshotEvery int
	// PingEvery is how often the listener checks that PostgreSQL answers
	// (default 1 s).
	PingEvery time.Duration
	// KeepVersions is the number of dataset versions the store keeps for
	// pinned predictions (0: dataset.DefaultKeepVersions).
	KeepVersions int
	// ChangeWindow is the number of recent changes the change feed keeps
	// (0: dataset.DefaultChangeWindow).
	ChangeWindow int
	// Logger receives connection and catch-up messages; nil discards.
	Logger *slog.Logger
}

func (o *Options) fill() {
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 2 * time.Second
	}
	if o.SnapshotEvery <= 0 {
		o.SnapshotEvery = 1000
	}
	if o.PingEvery <= 0 {
		o.PingEvery = time.Second
	}
	if o.ChangeWindow <= 0 {
		o.ChangeWindow = dataset.DefaultChangeWindow
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Store is the training set shared through PostgreSQL: a [dataset.Memory]
// store whose journal is the database. Open it with Open; Close stops its
// listener and closes its connections.
type Store struct {
	*dataset.Memory
	j      *Journal
	cancel context.CancelFunc
	done   chan struct{}
}

// Journal is the [dataset.SharedJournal] in PostgreSQL.
type Journal struct {
	pool     *pgxpool.Pool
	connCfg  *pgx.ConnConfig // for the listener's own connection
	identity string
	opts     Options
	log      *slog.Logger

	health atomic.Pointer[error] // nil: up; else why writes are refused
	// lastSnapshot is the newest version stored as a snapshot (known to this replica).
	lastSnapshot atomic.Uint64
	snapshotting sync.Mutex
}

var _ dataset.SharedJournal = (*Journal)(nil)

const schema = `
CREATE TABLE IF NOT EXISTS irisknn_dataset (
	identity   text PRIMARY KEY,
	created_at timestamptz NOT NULL DEFAULT now(),
	singleton  boolean NOT NULL DEFAULT true UNIQUE CHECK (singleton)
);
CREATE TABLE IF NOT EXISTS irisknn_changes (
	dataset    text   NOT NULL REFERENCES irisknn_dataset (identity) ON DELETE CASCADE,
	version    bigint NOT NULL,
	change     bytea  NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (dataset, version)
);
CREATE TABLE IF NOT EXISTS irisknn_snapshots (
	dataset    text   NOT NULL REFERENCES irisknn_dataset (identity) ON DELETE CASCADE,
	version    bigint NOT NULL,
	state      bytea  NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (dataset, version)
);`

// seedLock is the advisory lock key that serialises creating the tables and
// seeding ("iris" in ASCII).
const seedLock = 0x69726973

// Open connects to the database at url and returns the shared training
// set. An empty database (no dataset identity) is seeded with loaded in one
// transaction, and loaded becomes version loaded.Version() of a new
// identity. A database that has an identity is never seeded again: its
// set, with every acknowledged write, is loaded and loaded is not used.
func Open(ctx context.Context, url string, loaded *dataset.Snapshot, opts Options) (*Store, error) {
	opts.fill()
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres URL: %w", err)
	}
	// A 2xx means durable: whatever the server's default, commit waits for
	// the WAL flush (and for synchronous standbys, where there are any).
	pcfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	pcfg.ConnConfig.RuntimeParams["application_name"] = "irisd"
	// The pool serves the job queue too (River holds a connection for its
	// notifications and polls with others): more than pgxpool's default of
	// four, unless the URL says (pool_max_conns).
	if !strings.Contains(url, "pool_max_conns") {
		pcfg.MaxConns = max(pcfg.MaxConns, 16)
	}
	// A write waits at most WriteTimeout (its context bounds the connect
	// too); a catch-up may wait for a slow connection longer.
	if ct := max(5*opts.WriteTimeout, 5*time.Second); pcfg.ConnConfig.ConnectTimeout == 0 || pcfg.ConnConfig.ConnectTimeout > ct {
		pcfg.ConnConfig.ConnectTimeout = ct
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	j := &Journal{pool: pool, connCfg: pcfg.ConnConfig.Copy(), opts: opts, log: opts.Logger}
	snap, recent, err := j.seedOrLoad(ctx, loaded)
	if err != nil {
		pool.Close()
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	mem := dataset.NewMemoryWith(snap, j, dataset.MemoryOptions{Keep: opts.KeepVersions, ChangeWindow: opts.ChangeWindow, Recovered: recent})
	s := &Store{Memory: mem, j: j, cancel: cancel, done: make(chan struct{})}
	go s.follow(lctx)
	return s, nil
}

// Identity returns the dataset identity that qualifies every version.
func (s *Store) Identity() string { return s.j.identity }

// Journal returns the store's journal.
func (s *Store) Journal() *Journal { return s.j }

// Pool returns the store's connection pool, for other users of the same
// database (the job queue).
func (s *Store) Pool() *pgxpool.Pool { return s.j.pool }

// Health returns nil while PostgreSQL answers, else why writes are refused.
// It never blocks: it reports what the listener last saw.
func (s *Store) Health() error { return s.j.Health() }

// Health returns nil while PostgreSQL answers, else why writes are refused.
func (j *Journal) Health() error {
	if p := j.health.Load(); p != nil {
		return *p
	}
	return nil
}

func (j *Journal) setHealth(err error) {
	if err == nil {
		if j.health.Swap(nil) != nil {
			j.log.Info("postgres: reachable again; writes accepted")
		}
		return
	}
	if j.health.Swap(&err) == nil {
		j.log.Warn("postgres: unreachable; writes are refused until it answers", "error", err.Error())
		// The pooled connections may be dead without knowing it (a
		// partition drops packets; no RST arrives): drop them all, so
		// that the catch-up after recovery runs on fresh ones.
		j.pool.Reset()
	}
}

// Close stops following and closes the connections.
func (s *Store) Close() error {
	s.cancel()
	<-s.done
	s.j.pool.Close()
	return nil
}

// newIdentity returns a random dataset identity.
func newIdentity() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// seedOrLoad creates the tables, seeds an empty database with loaded, and
// returns the current set and the recent changes that led to it (for the
// change feed), all under one advisory lock so that replicas starting
// together seed once.
func (j *Journal) seedOrLoad(ctx context.Context, loaded *dataset.Snapshot) (*dataset.Snapshot, []dataset.Change, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tx, err := j.pool.Begin(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: %w", err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", seedLock); err != nil {
		return nil, nil, fmt.Errorf("postgres: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, schema); err != nil {
		return nil, nil, fmt.Errorf("postgres: create tables: %w", err)
	}
	err = tx.QueryRow(ctx, "SELECT identity FROM irisknn_dataset").Scan(&j.identity)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if j.identity, err = newIdentity(); err != nil {
			return nil, nil, err
		}
		if _, err := tx.Exec(ctx, "INSERT INTO irisknn_dataset (identity) VALUES ($1)", j.identity); err != nil {
			return nil, nil, fmt.Errorf("postgres: seed: %w", err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO irisknn_snapshots (dataset, version, state) VALUES ($1, $2, $3)",
			j.identity, int64(loaded.Version()), wal.EncodeSnapshot(loaded)); err != nil {
			return nil, nil, fmt.Errorf("postgres: seed: %w", err)
		}
		if err := tx.Commit(ctx); err != nil {
			return nil, nil, fmt.Errorf("postgres: seed: %w", err)
		}
		j.lastSnapshot.Store(loaded.Version())
		j.log.Info("postgres: seeded an empty database", "dataset", j.identity, "samples", loaded.Len(), "dataset_version", loaded.Version())
		return loaded, nil, nil
	case err != nil:
		return nil, nil, fmt.Errorf("postgres: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, nil, fmt.Errorf("postgres: %w", err)
	}
	snap, recent, err := j.load(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	j.log.Info("postgres: loaded the shared training set (the loaded file is not used)", "dataset", j.identity, "samples", snap.Len(), "dataset_version", snap.Version())
	return snap, recent, nil
}

// load returns the newest state: from cur, or from the newest snapshot when
// cur is nil or far behind it, plus the changes after it; and the last
// ChangeWindow of the changes it applied, oldest first.
func (j *Journal) load(ctx context.Context, cur *dataset.Snapshot) (*dataset.Snapshot, []dataset.Change, error) {
	var snapVersion int64
	err := j.pool.QueryRow(ctx, "SELECT COALESCE(max(version), 0) FROM irisknn_snapshots WHERE dataset = $1", j.identity).Scan(&snapVersion)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: catch up: %w", err)
	}
	if snapVersion == 0 {
		if err := j.checkIdentity(ctx); err != nil {
			return nil, nil, err
		}
	}
	if cur == nil || uint64(snapVersion) > cur.Version()+uint64(j.opts.SnapshotEvery) {
		var state []byte
		err := j.pool.QueryRow(ctx, "SELECT state FROM irisknn_snapshots WHERE dataset = $1 AND version = $2", j.identity, snapVersion).Scan(&state)
		if err != nil {
			return nil, nil, fmt.Errorf("postgres: read snapshot %d: %w", snapVersion, err)
		}
		if cur, err = wal.DecodeSnapshot(state); err != nil {
			return nil, nil, fmt.Errorf("postgres: snapshot %d of dataset %s: %w", snapVersion, j.identity, err)
		}
		j.lastSnapshot.Store(max(j.lastSnapshot.Load(), uint64(snapVersion)))
	}
	const page = 5000
	var recent []dataset.Change
	for {
		rows, err := j.pool.Query(ctx, "SELECT change FROM irisknn_changes WHERE dataset = $1 AND version > $2 ORDER BY version LIMIT $3",
			j.identity, int64(cur.Version()), page)
		if err != nil {
			return nil, nil, fmt.Errorf("postgres: catch up: %w", err)
		}
		n := 0
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("postgres: catch up: %w", err)
			}
			c, err := wal.DecodeChange(b, cur.Schema().Dim())
			if err == nil {
				cur, err = cur.Apply(c)
			}
			if err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("postgres: change %d of dataset %s: %w", c.Version, j.identity, err)
			}
			if len(recent) == 2*j.opts.ChangeWindow {
				recent = append(recent[:0], recent[j.opts.ChangeWindow:]...)
			}
			recent = append(recent, c)
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, fmt.Errorf("postgres: catch up: %w", err)
		}
		if n < page {
			if len(recent) > j.opts.ChangeWindow {
				recent = recent[len(recent)-j.opts.ChangeWindow:]
			}
			return cur, recent, nil
		}
	}
}

// errIdentityGone reports a database whose dataset this replica no longer
// finds: it was wiped (and perhaps seeded again by another replica).
var errIdentityGone = errors.New("the dataset is gone from the database")

func (j *Journal) checkIdentity(ctx context.Context) error {
	var n int
	if err := j.pool.QueryRow(ctx, "SELECT count(*) FROM irisknn_dataset WHERE identity = $1", j.identity).Scan(&n); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: dataset %s no longer exists; restart this replica to load the database's current set", errIdentityGone, j.identity)
	}
	return nil
}

// CatchUp implements dataset.SharedJournal.
func (j *Journal) CatchUp(ctx context.Context, cur *dataset.Snapshot) (*dataset.Snapshot, []dataset.Change, error) {
	ctx, cancel := context.WithTimeout(ctx, j.catchUpTimeout())
	defer cancel()
	ctx, span := dbSpan(ctx, "postgres.catch_up", attribute.Int64("dataset.version", int64(cur.Version())))
	snap, changes, err := j.load(ctx, cur)
	span.SetAttributes(attribute.Int("db.changes", len(changes)))
	endSpan(span, err)
	return snap, changes, err
}

// catchUpTimeout bounds a catch-up and the listener's reconnection: longer
// than a write's, since nobody waits on them and, on a loaded machine, a
// fresh connection plus the catch-up queries can take longer than a write
// may; a timeout that short could keep a healed replica from ever catching
// up.
func (j *Journal) catchUpTimeout() time.Duration { return max(5*j.opts.WriteTimeout, 5*time.Second) }

// insertChanges inserts a batch of changes and queues one notification
// each, delivered at commit; one autocommit statement, one round trip.
const insertChanges = `WITH ins AS (
	INSERT INTO irisknn_changes (dataset, version, change)
	SELECT $1, v, c FROM unnest($2::bigint[], $3::bytea[]) AS t(v, c)
	RETURNING version
) SELECT count(pg_notify('` + Channel + `', p)) FROM unnest($4::text[]) AS n(p) WHERE EXISTS (SELECT 1 FROM ins)`

var _ dataset.BatchJournal = (*Journal)(nil)

// maxNotifyChange is the largest encoded change a notification carries
// (PostgreSQL refuses payloads of 8000 bytes or more). A bigger one, an
// import or a wide sample, is sent without it: replicas read it from the
// table.
const maxNotifyChange = 7000

// Record implements dataset.Journal.
func (j *Journal) Record(ctx context.Context, c dataset.Change) error {
	return j.RecordBatch(ctx, []dataset.Change{c})
}

// RecordBatch implements dataset.BatchJournal: it inserts the changes and
// notifies the other replicas in one statement, committed with
// synchronous_commit on, so all of them are durable when it returns, or
// none is recorded. Its span, postgres.record, is a child of the write that
// led the batch.
func (j *Journal) RecordBatch(ctx context.Context, changes []dataset.Change) (err error) {
	ctx, span := dbSpan(ctx, "postgres.record", attribute.Int("db.changes", len(changes)),
		attribute.Int64("dataset.version", int64(changes[0].Version)))
	defer func() { endSpan(span, err) }()
	return j.recordBatch(ctx, changes)
}

func (j *Journal) recordBatch(ctx context.Context, changes []dataset.Change) error {
	if err := j.Health(); err != nil {
		return unavailable(err)
	}
	ctx, cancel := context.WithTimeout(ctx, j.opts.WriteTimeout)
	defer cancel()
	versions := make([]int64, len(changes))
	encoded := make([][]byte, len(changes))
	payloads := make([]string, len(changes))
	for i, c := range changes {
		versions[i] = int64(c.Version)
		encoded[i] = wal.EncodeChange(c)
		payloads[i] = j.identity + ":"
		if base64.StdEncoding.EncodedLen(len(encoded[i])) <= maxNotifyChange {
			payloads[i] += base64.StdEncoding.EncodeToString(encoded[i])
		}
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var n int64
		err = j.pool.QueryRow(ctx, insertChanges, j.identity, versions, encoded, payloads).Scan(&n)
		// A broken pooled connection (PostgreSQL restarted) fails before
		// sending anything: safe to try again on a fresh one.
		if err == nil || !pgconn.SafeToRetry(err) || ctx.Err() != nil {
			break
		}
	}
	var pe *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe) && pe.Code == "23505": // unique_violation
		return fmt.Errorf("version %d: %w", changes[0].Version, dataset.ErrVersionTaken)
	case errors.As(err, &pe) && pe.Code == "23503": // foreign_key_violation
		err = fmt.Errorf("%w: dataset %s no longer exists; restart this replica", errIdentityGone, j.identity)
		j.setHealth(err)
		return unavailable(err)
	case errors.As(err, &pe):
		return err
	}
	// No answer (a timeout, a broken connection): the connections may all
	// be dead; drop them rather than find out one write at a time.
	j.pool.Reset()
	return unavailable(err)
}

// unavailable is the error of a write refused because PostgreSQL does not
// answer.
func unavailable(err error) error {
	msg := "the shared training set (PostgreSQL) is unreachable: the write was not applied; predictions are still served; retry after the time in Retry-After"
	if errors.Is(err, errIdentityGone) {
		msg = "the shared training set was removed from the database: the write was not applied; this replica must be restarted"
	}
	return dataset.Unavailable(msg, err)
}

// follow keeps the store current until ctx is done: LISTEN, a catch-up,
// then every notification; a ping every PingEvery; reconnect on failure.
func (s *Store) follow(ctx context.Context) {
	defer close(s.done)
	j := s.j
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		j.setHealth(err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
}

// listen runs one listening connection until it fails.
func (s *Store) listen(ctx context.Context) error {
	j := s.j
	cctx, cancel := context.WithTimeout(ctx, j.catchUpTimeout())
	conn, err := pgx.ConnectConfig(cctx, j.connCfg)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn.Close(cctx)
		cancel()
	}()
	cctx, cancel = context.WithTimeout(ctx, j.catchUpTimeout())
	_, err = conn.Exec(cctx, "LISTEN "+Channel)
	cancel()
	if err != nil {
		return err
	}
	// Whatever was recorded before LISTEN took effect is read now.
	if err := s.catchUp(ctx); err != nil {
		return err
	}
	j.setHealth(nil)
	lastPing := time.Now()
	for {
		wctx, cancel := context.WithTimeout(ctx, j.opts.PingEvery)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case err == nil:
			if err := s.apply(ctx, n.Payload); err != nil {
				return err
			}
		case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
			// No change within PingEvery: time to ping.
		default:
			return err
		}
		if conn.IsClosed() {
			return errors.New("postgres: the listening connection closed")
		}
		if time.Since(lastPing) >= j.opts.PingEvery {
			pctx, cancel := context.WithTimeout(ctx, j.opts.PingEvery)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("postgres: ping: %w", err)
			}
			lastPing = time.Now()
			go j.maybeSnapshot(ctx, s.Snapshot())
		}
	}
}

// catchUp brings the store up to the database's newest version.
func (s *Store) catchUp(ctx context.Context) error {
	return s.Advance(func(cur *dataset.Snapshot) (*dataset.Snapshot, []dataset.Change, error) {
		return s.j.CatchUp(ctx, cur)
	})
}

// apply applies a change received in a notification when it is the next
// one, and catches up when it is not.
func (s *Store) apply(ctx context.Context, payload string) error {
	id, enc, ok := strings.Cut(payload, ":")
	if !ok || id != s.j.identity {
		return nil // another dataset's change: not ours
	}
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(b) == 0 { // a change too big to be sent has no payload
		return s.catchUp(ctx)
	}
	c, err := wal.DecodeChange(b, s.Snapshot().Schema().Dim())
	if err != nil {
		return s.catchUp(ctx)
	}
	return s.Advance(func(cur *dataset.Snapshot) (*dataset.Snapshot, []dataset.Change, error) {
		switch {
		case c.Version <= cur.Version():
			return cur, nil, nil // our own write, or already caught up
		case c.Version == cur.Version()+1:
			next, err := cur.Apply(c)
			return next, []dataset.Change{c}, err
		}
		return s.j.CatchUp(ctx, cur)
	})
}

// maybeSnapshot stores a snapshot of snap when SnapshotEvery changes have
// passed since the newest one, and drops all but the newest two.
func (j *Journal) maybeSnapshot(ctx context.Context, snap *dataset.Snapshot) {
	if snap.Version() < j.lastSnapshot.Load()+uint64(j.opts.SnapshotEvery) || !j.snapshotting.TryLock() {
		return
	}
	defer j.snapshotting.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var newest int64
	if err := j.pool.QueryRow(ctx, "SELECT COALESCE(max(version), 0) FROM irisknn_snapshots WHERE dataset = $1", j.identity).Scan(&newest); err != nil {
		return
	}
	if snap.Version() < uint64(newest)+uint64(j.opts.SnapshotEvery) {
		j.lastSnapshot.Store(uint64(newest))
		return
	}
	_, err := j.pool.Exec(ctx, "INSERT INTO irisknn_snapshots (dataset, version, state) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
		j.identity, int64(snap.Version()), wal.EncodeSnapshot(snap))
	if err != nil {
		j.log.Warn("postgres: storing a snapshot failed", "dataset_version", snap.Version(), "error", err.Error())
		return
	}
	j.lastSnapshot.Store(snap.Version())
	_, _ = j.pool.Exec(ctx, `DELETE FROM irisknn_snapshots WHERE dataset = $1 AND version < (
		SELECT min(version) FROM (SELECT version FROM irisknn_snapshots WHERE dataset = $1 ORDER BY version DESC LIMIT 2) newest)`, j.identity)
	j.log.Info("postgres: stored a snapshot", "dataset_version", snap.Version())
}
