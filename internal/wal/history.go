package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"github.com/irisknn/irisknn/internal/dataset"
)

// HistoryFile holds, in the data directory, the recent changes that a
// compaction took out of the log, so that the change feed survives both
// compactions and restarts: the last Options.ChangeWindow changes up to the
// snapshot, framed like log records after a magic header.
const HistoryFile = "changes"

// historyMagic starts the history file; the digit is the format version.
const historyMagic = "IRISCHG1"

// encodeHistory encodes changes as a history file.
func encodeHistory(changes []dataset.Change) []byte {
	var buf bytes.Buffer
	buf.WriteString(historyMagic)
	for _, c := range changes {
		buf.Write(frame(EncodeChange(c)))
	}
	return buf.Bytes()
}

// decodeHistory decodes a history file. Damage is reported with the
// changes before it: the history is for the feed (the set itself never
// depends on it), so the caller keeps what is whole and says so.
func decodeHistory(b []byte, dim int) ([]dataset.Change, error) {
	if !bytes.HasPrefix(b, []byte(historyMagic)) {
		return nil, errors.New("not an irisknn change history (bad magic)")
	}
	var out []dataset.Change
	for off := len(historyMagic); off < len(b); {
		rest := b[off:]
		if len(rest) < headerSize {
			return out, fmt.Errorf("incomplete record at byte %d", off)
		}
		n := int(binary.LittleEndian.Uint32(rest[0:4]))
		if n == 0 || int64(n) > maxPayload(dim) || headerSize+n > len(rest) {
			return out, fmt.Errorf("bad record length %d at byte %d", n, off)
		}
		payload := rest[headerSize : headerSize+n]
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(rest[4:8]) {
			return out, fmt.Errorf("checksum mismatch at byte %d", off)
		}
		c, err := DecodeChange(payload, dim)
		if err != nil {
			return out, fmt.Errorf("record at byte %d: %w", off, err)
		}
		out = append(out, c)
		off += headerSize + n
	}
	return out, nil
}

// readHistory loads the history file into l.hist (missing: none yet).
func (l *Log) readHistory(dim int) {
	l.histFile, l.histTail, l.histTailN = -1, nil, 0
	b, err := os.ReadFile(filepath.Join(l.dir, HistoryFile))
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var changes []dataset.Change
	if err == nil {
		changes, err = decodeHistory(b, dim)
	}
	if err != nil {
		l.log.Warn("the change history is damaged: the change feed starts after the damage (the training set is not affected)",
			"file", filepath.Join(l.dir, HistoryFile), "kept", len(changes), "error", err)
	}
	for _, c := range changes {
		l.hist.Add(c)
	}
	if err == nil {
		l.histFile = len(changes)
	}
}

// addHist adds c, framed as rec (copied), to the changes kept for the
// feed. l.mu is held, or recovery runs.
func (l *Log) addHist(c dataset.Change, rec []byte) {
	l.hist.Add(c)
	l.histTail = append(l.histTail, rec...)
	l.histTailN++
}

// writeHistory makes the history file hold the changes the log keeps for
// the feed (and perhaps older ones, which a reader drops: it keeps the
// last ChangeWindow). It appends the changes the file lacks and fsyncs it;
// once the file would hold more than twice the window, or when its state
// is unknown, it replaces it whole (atomically). So a compaction writes
// about the records it compacts, not the whole window, and a torn append
// (a crash) only cuts records that the log still holds.
func (l *Log) writeHistory() error {
	if l.histFile < 0 || l.histFile+l.histTailN > 2*l.opts.ChangeWindow {
		l.histFile = -1
		all := l.hist.All()
		if err := writeFileAtomic(l.dir, HistoryFile, encodeHistory(all)); err != nil {
			return err
		}
		l.histFile, l.histTail, l.histTailN = len(all), l.histTail[:0], 0
		return nil
	}
	if l.histTailN == 0 {
		return nil
	}
	if err := appendFile(filepath.Join(l.dir, HistoryFile), l.histTail); err != nil {
		l.histFile = -1 // perhaps a partial append: write it whole next time
		return err
	}
	l.histFile += l.histTailN
	l.histTail, l.histTailN = l.histTail[:0], 0
	return nil
}

// appendFile appends b to the existing file path and fsyncs it.
func appendFile(path string, b []byte) error {
	return writeSynced(path, os.O_WRONLY|os.O_APPEND, b)
}

// RecoveredChanges returns the changes recovered by Open (from the history file
// and the log), oldest first, at most Options.ChangeWindow: the change
// feed's window as it was before the restart. Hand it to
// [dataset.NewMemoryWith].
func (l *Log) RecoveredChanges() []dataset.Change {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hist.All()
}
