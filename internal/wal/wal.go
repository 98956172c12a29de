// Package wal makes the training set durable: a write-ahead log of
// [dataset.Change] records on local disk, compacted from time to time into a
// snapshot file. It implements [dataset.Journal], so an [dataset.Memory] store
// that records through it never acknowledges a change that is not on disk.
//
// # Files
//
// A data directory holds two files. "snapshot" is the whole state at some
// version (the loaded set, the current samples, the version and the next
// id), protected by a CRC-32C. "log" holds the changes after that version,
// one record each: a 4-byte length, the CRC-32C of the payload, the
// payload.
//
// # Group commit
//
// A change is acknowledged only once it is on disk, but concurrent changes
// share a write and an fsync, as PostgreSQL's commits do: [Log.Append]
// adds a record to an in-memory buffer (in order, without waiting) and
// [Log.Commit] waits until an fsync has covered it. One commit at a time
// writes the buffered records to the file in one write and syncs it, for
// every record appended before it started; the commits that queued meanwhile are then
// covered already, or the next of them syncs the next group at once. There
// is no timer and no delay: a lone write costs one write and one fsync, as
// before, and under load each fsync acknowledges all the writes that
// arrived while the previous one ran. [Log.Record] is Append then Commit.
//
// # Compaction
//
// Every CompactEvery records, the current state is written to a temporary
// file, fsynced, renamed over "snapshot", the directory fsynced, and the log
// truncated. A crash at any point leaves a state that recovers to the same
// set: records the snapshot already covers are skipped on replay.
//
// # Recovery
//
// [Open] reads the snapshot (or creates one from the loaded set) and replays
// the log. A torn or corrupt last record, as a crash in the middle of an
// append leaves, is logged and cut off: the change it held was never
// acknowledged. Corruption before the last record is an error: the log
// cannot be trusted and an operator must look.
package wal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/irisknn/irisknn/internal/dataset"
)

// File names inside the data directory.
const (
	SnapshotFile = "snapshot"
	LogFile      = "log"
	lockFile     = "lock"
	tempSuffix   = ".tmp"
)

// DefaultCompactEvery is the number of log records after which the log is
// compacted into a snapshot when Options.CompactEvery is zero.
const DefaultCompactEvery = 1000

// Options tunes a Log. The zero value is usable.
type Options struct {
	// CompactEvery is the number of records after which the log is
	// compacted; 0 means DefaultCompactEvery.
	CompactEvery int
	// ChangeWindow is the number of recent changes kept for the change
	// feed across compactions and restarts (see RecoveredChanges); 0 means
	// dataset.DefaultChangeWindow.
	ChangeWindow int
	// Logger receives recovery and compaction messages; nil discards.
	Logger *slog.Logger
}

// Log is a durable journal of changes to the training set. It is safe for
// concurrent use, although an [dataset.Memory] store already serialises its
// calls to Record.
type Log struct {
	dir  string
	opts Options
	log  *slog.Logger

	// One caller at a time leads: it alone may fsync, compact or close
	// the file. syncDone is non-nil while one leads, closed when it lets
	// go; commits waiting for an fsync wait on it.
	syncMu   sync.Mutex // guards syncDone
	syncDone chan struct{}
	synced   atomic.Uint64 // the last sequence number known durable
	syncs    atomic.Uint64 // fsyncs made by Commit

	mu      sync.Mutex // guards what follows
	f       *os.File   // the log, opened for appending
	lock    *os.File   // holds the directory's lock while open
	size    int64      // bytes of whole records in the log file
	buf     []byte     // records appended since the last write to the file, framed
	spare   []byte     // the buffer the last group was written from, for reuse
	cur     *dataset.Snapshot
	records int    // records in the log since the last compaction
	written uint64 // sequence number of the last change appended
	broken  error  // set when the log may be in an unknown state
	// hist keeps the last ChangeWindow changes appended (or recovered),
	// saved to HistoryFile at each compaction.
	hist *dataset.Feed
	// histFile is the number of records in HistoryFile, or -1 when it
	// must be written whole (missing, damaged, or a write to it failed).
	// histTail holds the framed records of the changes in hist that it
	// lacks (histTailN of them): a compaction appends them rather than
	// rewriting the whole window.
	histFile  int
	histTail  []byte
	histTailN int

	// Compaction failures back off: after the n-th failure in a row no
	// compaction is tried before retryAt (compactBackoff(n) later), and an
	// ERROR is logged at most once per compactLogEvery, with the number of
	// failures it stands for. Guarded by mu.
	compactFails int
	retryAt      time.Time
	loggedAt     time.Time
	unlogged     int
	// snapshotWriter writes the snapshot file (writeFileAtomic; a test
	// makes it fail), and now is the clock.
	snapshotWriter func(dir, name string, b []byte) error
	now            func() time.Time
}

// compactLogEvery is the least time between two ERROR lines of failing
// compactions.
const compactLogEvery = time.Minute

// compactBackoff is how long after the n-th failed compaction in a row the
// next is tried: 1 s, doubling up to 5 minutes. Writes go on meanwhile, into
// the log.
func compactBackoff(n int) time.Duration {
	d := time.Second
	for i := 1; i < n && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

var _ dataset.GroupJournal = (*Log)(nil)

// Open opens (creating if needed) the data directory dir and recovers the
// training set recorded there. loaded is the set the server loaded at
// start; it is used only when dir holds no snapshot yet. It returns the
// recovered snapshot, which the caller hands to [dataset.NewMemory] with the
// Log as its journal.
func Open(dir string, loaded *dataset.Snapshot, opts Options) (*Log, *dataset.Snapshot, error) {
	if opts.CompactEvery <= 0 {
		opts.CompactEvery = DefaultCompactEvery
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ChangeWindow <= 0 {
		opts.ChangeWindow = dataset.DefaultChangeWindow
	}
	l := &Log{dir: dir, opts: opts, log: opts.Logger, snapshotWriter: writeFileAtomic, now: time.Now}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("data dir: %w", err)
	}
	lock, err := lockDir(filepath.Join(dir, lockFile))
	if err != nil {
		return nil, nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	l.lock = lock
	snap, err := l.recover(loaded)
	if err != nil {
		lock.Close()
		return nil, nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	return l, snap, nil
}

// recover loads the snapshot, replays the log and opens it for appending.
func (l *Log) recover(loaded *dataset.Snapshot) (*dataset.Snapshot, error) {
	_ = os.Remove(filepath.Join(l.dir, SnapshotFile+tempSuffix)) // an unfinished compaction
	_ = os.Remove(filepath.Join(l.dir, HistoryFile+tempSuffix))
	l.hist = dataset.NewFeed(l.opts.ChangeWindow, 0, nil)
	snap, err := l.readSnapshot()
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := l.writeSnapshot(loaded); err != nil {
			return nil, err
		}
		snap = loaded
		l.log.Info("data dir initialised", "dir", l.dir, "version", snap.Version(), "samples", snap.Len())
	case err != nil:
		return nil, err
	default:
		if !snap.Schema().Equal(loaded.Schema()) || !slices.EqualFunc(snap.Initial(), loaded.Initial(), dataset.Sample.Equal) {
			l.log.Warn("the data dir was created from a different loaded set; its recorded set wins (a reset restores the recorded one)", "dir", l.dir)
		}
	}
	l.readHistory(snap.Schema().Dim())
	f, err := os.OpenFile(filepath.Join(l.dir, LogFile), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	// Make the log's directory entry durable too (it may have just been
	// created), or a power cut could lose the whole file.
	if err := syncDir(l.dir); err != nil {
		f.Close()
		return nil, err
	}
	snap, replayed, err := l.replay(f, snap)
	if err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(l.size, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	l.f, l.cur, l.records = f, snap, replayed
	l.log.Info("training set recovered", "dir", l.dir, "version", snap.Version(), "samples", snap.Len(), "next", snap.Next(), "replayed", replayed)
	return snap, nil
}

func (l *Log) readSnapshot() (*dataset.Snapshot, error) {
	b, err := os.ReadFile(filepath.Join(l.dir, SnapshotFile))
	if err != nil {
		return nil, err
	}
	s, err := DecodeSnapshot(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SnapshotFile, err)
	}
	return s, nil
}

// CorruptError reports a log record that is damaged although records follow
// it: not a torn tail but real corruption, which recovery refuses to guess
// about.
type CorruptError struct {
	Offset int64  // where the bad record starts
	Reason string // what is wrong with it
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s: corrupt record at byte %d (%s) with more records after it: refusing to guess; move the data dir aside or restore it from a backup", LogFile, e.Offset, e.Reason)
}

// replay applies the log's records to snap. A damaged last record is cut
// off; damage before the end is a *CorruptError.
func (l *Log) replay(f *os.File, snap *dataset.Snapshot) (*dataset.Snapshot, int, error) {
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, 0, err
	}
	var (
		off      int64
		replayed int
		end      = int64(len(data))
		dim      = snap.Schema().Dim()
		maxLen   = maxPayload(dim)
	)
	for off < end {
		rest := data[off:]
		torn := func(reason string) {
			l.log.Warn("dropping a torn last log record (a write interrupted by a crash; it was never acknowledged)",
				"offset", off, "bytes", len(rest), "reason", reason)
		}
		if allZero(rest) {
			torn("zero-filled tail")
			break
		}
		if len(rest) < headerSize {
			torn("incomplete header")
			break
		}
		n := int64(binary.LittleEndian.Uint32(rest[0:4]))
		sum := binary.LittleEndian.Uint32(rest[4:8])
		if n == 0 || n > maxLen {
			// A length no record can have. Within the last record's
			// reach it is the torn end; further from it, corruption.
			if int64(len(rest)) <= headerSize+maxLen {
				torn(fmt.Sprintf("impossible length %d", n))
				break
			}
			return nil, 0, &CorruptError{Offset: off, Reason: fmt.Sprintf("impossible length %d", n)}
		}
		if headerSize+n > int64(len(rest)) {
			torn("incomplete payload")
			break
		}
		payload := rest[headerSize : headerSize+n]
		last := headerSize+n == int64(len(rest))
		if crc32.Checksum(payload, castagnoli) != sum {
			// The last record, or one whose length field was hit so
			// that what follows is no record either: the torn end.
			if last || !validRecord(rest[headerSize+n:], maxLen) {
				torn("checksum mismatch")
				break
			}
			return nil, 0, &CorruptError{Offset: off, Reason: "checksum mismatch"}
		}
		c, err := DecodeChange(payload, dim)
		if err != nil {
			return nil, 0, &CorruptError{Offset: off, Reason: err.Error()}
		}
		off += headerSize + n
		if c.Version > l.hist.Newest() {
			l.addHist(c, rest[:headerSize+n]) // not in the history file yet
		}
		if c.Version <= snap.Version() {
			continue // already in the snapshot: a compaction was cut short
		}
		next, err := snap.Apply(c)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: record at byte %d (version %d, %v) does not apply: %w", LogFile, off-headerSize-n, c.Version, c.Op, err)
		}
		snap = next
		replayed++
	}
	if off < end {
		if err := f.Truncate(off); err != nil {
			return nil, 0, fmt.Errorf("cutting off the torn record: %w", err)
		}
		if err := f.Sync(); err != nil {
			return nil, 0, err
		}
	}
	l.size = off
	return snap, replayed, nil
}

// validRecord reports whether b starts with a whole record, at most maxLen
// long, whose checksum holds.
func validRecord(b []byte, maxLen int64) bool {
	if len(b) < headerSize {
		return false
	}
	n := int(binary.LittleEndian.Uint32(b[0:4]))
	if n == 0 || int64(n) > maxLen || headerSize+n > len(b) {
		return false
	}
	return crc32.Checksum(b[headerSize:headerSize+n], castagnoli) == binary.LittleEndian.Uint32(b[4:8])
}

func allZero(b []byte) bool {
	return len(bytes.Trim(b, "\x00")) == 0
}

// Record appends c to the log and returns once it is on disk (fsynced). It
// implements [dataset.Journal]: it is Append followed by Commit.
func (l *Log) Record(ctx context.Context, c dataset.Change) error {
	seq, err := l.Append(ctx, c)
	if err != nil {
		return err
	}
	return l.Commit(ctx, seq)
}

// Append adds c to the log (into a buffer that the next Commit writes and
// syncs: not yet durable) and returns its sequence number, for Commit. Changes are appended in the
// order of the calls; each must follow the one before (its version one
// more). It implements [dataset.GroupJournal].
//
// After an I/O failure the log refuses every further change: what reached
// the disk is unknown until a restart recovers it.
func (l *Log) Append(ctx context.Context, c dataset.Change) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if c.Op == dataset.OpImport {
		l.mu.Lock()
		next, err := l.cur.Apply(c)
		l.mu.Unlock()
		if err != nil {
			return 0, fmt.Errorf("journal: %w", err)
		}
		return 0, l.RecordImport(ctx, c, next)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return 0, err
	}
	next, err := l.cur.Apply(c)
	if err != nil {
		return 0, fmt.Errorf("journal: %w", err)
	}
	return l.appendLocked(c, next), nil
}

var _ dataset.AppliedJournal = (*Log)(nil)

// AppendApplied is Append for a caller that has applied c already: next
// is the state c produces from every change appended so far (the store's
// new snapshot), kept for the next compaction instead of applying c a
// second time. It implements [dataset.AppliedJournal].
func (l *Log) AppendApplied(ctx context.Context, c dataset.Change, next *dataset.Snapshot) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if c.Op == dataset.OpImport {
		return 0, l.RecordImport(ctx, c, next)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return 0, err
	}
	if next == nil || c.Version != l.cur.Version()+1 || next.Version() != c.Version {
		return 0, fmt.Errorf("journal: change %d onto version %d: %w", c.Version, l.cur.Version(), dataset.ErrVersion)
	}
	return l.appendLocked(c, next), nil
}

// appendLocked buffers c, which produces next, and returns its sequence
// number. l.mu is held.
func (l *Log) appendLocked(c dataset.Change, next *dataset.Snapshot) uint64 {
	// The file is written by the commit that syncs it, one write for the
	// whole group, outside this lock. The record is encoded once, straight
	// into the buffer.
	start := len(l.buf)
	l.buf = appendFrame(l.buf, c)
	l.cur = next
	l.addHist(c, l.buf[start:])
	l.records++
	l.written++
	return l.written
}

var _ dataset.ImportJournal = (*Log)(nil)

// RecordImport records an import by writing next, the state it produces,
// as the snapshot (with the history file, where the import is listed by
// its mode and row count), and emptying the log: an import is one atomic
// file replacement, however many rows it has, and never a log record
// (those are bounded in size). next must be what c produces from every
// change appended so far. It returns once next is durable; every change
// appended before it is then durable too. A failure leaves the previous
// snapshot and log as they were: the import is not applied.
func (l *Log) RecordImport(ctx context.Context, c dataset.Change, next *dataset.Snapshot) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.leadWait() // no fsync or compaction runs meanwhile
	defer l.unlead()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if next.Version() != l.cur.Version()+1 || c.Version != next.Version() {
		return fmt.Errorf("journal: import %d onto version %d: %w", c.Version, l.cur.Version(), dataset.ErrVersion)
	}
	l.hist.Add(c)
	l.histFile = -1 // an import rewrites the history whole
	err := l.writeHistory()
	if err == nil {
		err = l.writeSnapshot(next)
	}
	if err == nil {
		l.buf = l.buf[:0] // the snapshot covers the records not yet written
	}
	if err != nil {
		l.hist.Drop(l.cur.Version())
		l.histFile = -1 // it may list the import: write it whole next time
		if errors.Is(err, errRenamed) {
			// The new file is in place but perhaps not durably: what a
			// restart finds is unknown.
			l.broken = err
		}
		return fmt.Errorf("journal: recording the import: %w", err)
	}
	// The snapshot holds the import and every change appended before it.
	l.cur = next
	if err := l.emptyLog(); err != nil {
		// The import is durable; the log's records are covered by the
		// snapshot and skipped on replay.
		l.log.Error("emptying the log after an import failed", "dir", l.dir, "error", err)
	}
	l.synced.Store(l.written)
	l.log.Info("import recorded as a snapshot", "dir", l.dir, "version", next.Version(), "samples", next.Len())
	return nil
}

// usable reports why the log cannot take a change, if it cannot. l.mu is
// held.
func (l *Log) usable() error {
	if l.broken != nil {
		return fmt.Errorf("the journal failed earlier and refuses writes until a restart: %w", l.broken)
	}
	if l.f == nil {
		return errors.New("the journal is closed")
	}
	return nil
}

// Commit returns once every change appended up to sequence number seq is
// on disk. Concurrent commits share one fsync (group commit, as in
// PostgreSQL's commit): one caller at a time, the leader, syncs the file,
// covering every change appended before its fsync started; the others wait
// for it, all woken at once when it ends, and return if it covered them,
// or elect the next leader, who syncs the next group at once. A lone
// commit costs one fsync, as Record always did.
//
// A failed fsync is never retried (after one, the page cache's state is
// unknown, "fsyncgate"): that commit and every later one fail, and the log
// refuses further changes until a restart recovers what reached the disk.
// ctx is not consulted: a change already appended is committed or the log
// is broken, whether or not its caller still waits.
func (l *Log) Commit(_ context.Context, seq uint64) error {
	for l.synced.Load() < seq {
		if done := l.lead(); done != nil {
			<-done // another commit is syncing: see whether it covered seq
			continue
		}
		err := l.syncGroup()
		l.unlead()
		if err != nil {
			return err
		}
	}
	return nil
}

// lead makes the caller the one that may sync, compact or close the file,
// and returns nil; or, when another holds that role, returns a channel
// closed when it lets go.
func (l *Log) lead() <-chan struct{} {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.syncDone != nil {
		return l.syncDone
	}
	l.syncDone = make(chan struct{})
	return nil
}

// unlead ends the caller's lead, waking every commit waiting for it.
func (l *Log) unlead() {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	close(l.syncDone)
	l.syncDone = nil
}

// leadWait waits until the caller leads.
func (l *Log) leadWait() {
	for done := l.lead(); done != nil; done = l.lead() {
		<-done
	}
}

// syncGroup fsyncs the log for every change appended so far. The caller
// leads.
func (l *Log) syncGroup() error {
	// Let writers that are ready to append do so first, so that this
	// fsync covers them too (without them waiting the whole next one).
	// Alone, this returns at once: a lone write does not wait.
	runtime.Gosched()
	l.mu.Lock()
	if err := l.usable(); err != nil {
		l.mu.Unlock()
		return err
	}
	f, upto, group := l.f, l.written, l.buf
	l.buf = l.spare[:0]
	l.mu.Unlock()
	// Appends go on while the file is written and synced: they make the
	// next group. Only the leader writes the file, so l.size is stable.
	if len(group) > 0 {
		if _, err := f.Write(group); err != nil {
			// A partial group may be in the file: take it back so that
			// a restart does not find garbage before later records. The
			// group is lost, and every change appended after it builds
			// on it, so the log stops until a restart.
			l.mu.Lock()
			l.broken = err
			if terr := f.Truncate(l.size); terr != nil {
				l.broken = errors.Join(err, terr)
			}
			l.mu.Unlock()
			return fmt.Errorf("journal write: %w", err)
		}
	}
	l.mu.Lock()
	l.size += int64(len(group))
	l.spare = group
	l.mu.Unlock()
	l.syncs.Add(1)
	if err := f.Sync(); err != nil {
		l.mu.Lock()
		l.broken = err
		l.mu.Unlock()
		return fmt.Errorf("journal fsync: %w", err)
	}
	l.synced.Store(upto)
	l.maybeCompact()
	return nil
}

// Syncs returns how many times the log has been fsynced by Commit: with
// concurrent writers, fewer than the changes recorded.
func (l *Log) Syncs() uint64 { return l.syncs.Load() }

// maybeCompact compacts the log when it has reached CompactEvery records.
// The caller leads (no fsync runs); appends wait while it works. A failure
// leaves the records in the log, which stays valid and goes on taking
// writes; the next try waits compactBackoff, and failures are logged at
// most once per compactLogEvery.
func (l *Log) maybeCompact() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.records < l.opts.CompactEvery || l.usable() != nil {
		return
	}
	now := l.now()
	if l.compactFails > 0 && now.Before(l.retryAt) {
		return
	}
	err := l.compact()
	if err == nil {
		if l.compactFails > 0 {
			l.log.Info("log compaction works again", "dir", l.dir, "failures", l.compactFails)
		}
		l.compactFails, l.unlogged = 0, 0
		return
	}
	l.compactFails++
	l.retryAt = now.Add(compactBackoff(l.compactFails))
	l.unlogged++
	if l.loggedAt.IsZero() || now.Sub(l.loggedAt) >= compactLogEvery {
		l.log.Error("log compaction failed; the log keeps growing and keeps taking writes",
			"dir", l.dir, "error", err, "failures_in_a_row", l.compactFails,
			"failures_since_last_logged", l.unlogged, "records", l.records, "next_try_in", compactBackoff(l.compactFails))
		l.loggedAt, l.unlogged = now, 0
	}
}

// CompactFailures returns the number of compactions that failed in a row
// (0 once one succeeds).
func (l *Log) CompactFailures() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.compactFails
}

// Compact writes the current state as the snapshot and empties the log.
func (l *Log) Compact() error {
	l.leadWait()
	defer l.unlead()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	return l.compact()
}

// compact writes l.cur, which holds every change appended, as the
// snapshot, and empties the log. The caller leads and holds l.mu. The
// snapshot is fsynced, so every change appended so far is durable once it
// returns.
func (l *Log) compact() error {
	// The history first: the log's records are still there should this or
	// the snapshot fail, and replay skips what the history holds.
	if err := l.writeHistory(); err != nil {
		return fmt.Errorf("change history: %w", err)
	}
	if err := l.writeSnapshot(l.cur); err != nil {
		return err
	}
	l.buf = l.buf[:0] // the snapshot covers the records not yet written
	if err := l.emptyLog(); err != nil {
		return err
	}
	l.synced.Store(l.written)
	l.log.Info("log compacted", "dir", l.dir, "version", l.cur.Version(), "samples", l.cur.Len())
	return nil
}

// emptyLog truncates the log once a snapshot covers every record in it. If
// this fails the records stay and are skipped on replay (their versions
// are covered).
func (l *Log) emptyLog() error {
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("truncating the log: %w", err)
	}
	if _, err := l.f.Seek(0, io.SeekStart); err != nil {
		l.broken = err
		return err
	}
	if err := l.f.Sync(); err != nil {
		l.broken = err
		return err
	}
	l.size, l.records = 0, 0
	return nil
}

// writeSnapshot atomically replaces the snapshot file with s.
func (l *Log) writeSnapshot(s *dataset.Snapshot) error {
	if err := l.snapshotWriter(l.dir, SnapshotFile, EncodeSnapshot(s)); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

// writeSynced opens path with flag (creating it 0640 if flag says so),
// writes b, fsyncs and closes it; the first error wins.
func writeSynced(path string, flag int, b []byte) error {
	f, err := os.OpenFile(path, flag, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeFileAtomic replaces dir/name with b: write a temporary file, fsync
// it, rename it over the old one, fsync the directory.
func writeFileAtomic(dir, name string, b []byte) error {
	path := filepath.Join(dir, name)
	tmp := path + tempSuffix
	err := writeSynced(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, b)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("%w: %w", errRenamed, err)
	}
	return nil
}

// errRenamed marks a failure after the new file took the old one's name:
// the old file is gone, the new one perhaps not durable.
var errRenamed = errors.New("replaced, but the directory could not be synced")

// syncDir fsyncs a directory, making a rename in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Close closes the log and releases the directory. Changes recorded before
// are durable; Record fails afterwards.
func (l *Log) Close() error {
	l.leadWait() // let a running fsync finish
	defer l.unlead()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	// Records appended but never committed were never acknowledged; write
	// them anyway, as an unsynced append always did.
	var err error
	if len(l.buf) > 0 && l.broken == nil {
		_, err = l.f.Write(l.buf)
		l.buf = nil
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	if l.lock != nil {
		l.lock.Close()
	}
	return err
}
