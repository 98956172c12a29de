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
// payload. Record appends one record and fsyncs the file before it
// returns.
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
	"slices"
	"sync"

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

	mu      sync.Mutex
	f       *os.File // the log, opened for appending
	lock    *os.File // holds the directory's lock while open
	size    int64    // bytes of whole records in the log
	cur     *dataset.Snapshot
	records int   // records in the log since the last compaction
	broken  error // set when the log may be in an unknown state
}

var _ dataset.Journal = (*Log)(nil)

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
	l := &Log{dir: dir, opts: opts, log: opts.Logger}
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
	s, err := decodeSnapshot(b)
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
		c, err := decodeChange(payload, dim)
		if err != nil {
			return nil, 0, &CorruptError{Offset: off, Reason: err.Error()}
		}
		off += headerSize + n
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
// implements [dataset.Journal]. After an I/O failure the log refuses every
// further change: what reached the disk is unknown until a restart
// recovers it.
func (l *Log) Record(ctx context.Context, c dataset.Change) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.broken != nil {
		return fmt.Errorf("the journal failed earlier and refuses writes until a restart: %w", l.broken)
	}
	if l.f == nil {
		return errors.New("the journal is closed")
	}
	next, err := l.cur.Apply(c)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	rec := frame(encodeChange(c))
	if _, err := l.f.Write(rec); err != nil {
		// Try to take the partial record back so that later appends do
		// not follow garbage; if that fails too, stop for good.
		if terr := l.f.Truncate(l.size); terr != nil {
			l.broken = errors.Join(err, terr)
		}
		return fmt.Errorf("journal write: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		// After a failed fsync the page cache state is unknown
		// ("fsyncgate"): never retry, refuse further writes.
		l.broken = err
		return fmt.Errorf("journal fsync: %w", err)
	}
	l.size += int64(len(rec))
	l.cur = next
	l.records++
	if l.records >= l.opts.CompactEvery {
		if err := l.compact(); err != nil {
			// The change is durable in the log; compaction is retried
			// after the next record.
			l.log.Error("log compaction failed; the log keeps growing", "dir", l.dir, "error", err)
		}
	}
	return nil
}

// Compact writes the current state as the snapshot and empties the log.
func (l *Log) Compact() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errors.New("the journal is closed")
	}
	return l.compact()
}

func (l *Log) compact() error {
	if err := l.writeSnapshot(l.cur); err != nil {
		return err
	}
	// The snapshot covers every record: empty the log. If this fails the
	// records stay and are skipped on replay (their versions are covered).
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
	l.log.Info("log compacted", "dir", l.dir, "version", l.cur.Version(), "samples", l.cur.Len())
	return nil
}

// writeSnapshot atomically replaces the snapshot file with s: write a
// temporary file, fsync it, rename it over the old one, fsync the directory.
func (l *Log) writeSnapshot(s *dataset.Snapshot) error {
	path := filepath.Join(l.dir, SnapshotFile)
	tmp := path + tempSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	_, err = f.Write(encodeSnapshot(s))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(l.dir)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

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
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	if l.lock != nil {
		l.lock.Close()
	}
	return err
}
