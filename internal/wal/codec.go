package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	"github.com/irisknn/irisknn/internal/dataset"
)

// castagnoli is the CRC-32C table: hardware-accelerated on amd64 and arm64.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Framing of one log record: a 4-byte little-endian payload length, the
// 4-byte CRC-32C of the payload, then the payload.
const (
	headerSize = 8
	// maxPayload bounds a record's length (a put of a sample with the
	// longest species name is under 150 bytes), so that a corrupt length
	// field is recognised as such.
	maxPayload = 1 << 12
)

// errShort reports a payload that ends before its fields do.
var errShort = errors.New("record too short")

// appendSample encodes a sample: id, the four features as IEEE-754 bits
// (so they round-trip exactly), the species as a length-prefixed string.
func appendSample(b []byte, s dataset.Sample) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(s.ID))
	for _, f := range s.Features {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(s.Species)))
	return append(b, s.Species...)
}

// reader decodes fields from a byte slice, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.err = errShort
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u16() uint16 {
	if b := r.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u8() uint8 {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) sample() dataset.Sample {
	var s dataset.Sample
	s.ID = int64(r.u64())
	for i := range s.Features {
		s.Features[i] = math.Float64frombits(r.u64())
	}
	s.Species = string(r.take(int(r.u16())))
	return s
}

// stamped marks, in a record's op byte, a change that carries its audit
// fields (time and actor) right after the op. Records written before the
// change feed have no such bit and decode with a zero time and no actor.
const stamped = 0x80

// encodeChange encodes c as a record payload: version, op (with the
// stamped bit), the time in Unix nanoseconds and the actor as a
// length-prefixed string, then the op's fields.
func encodeChange(c dataset.Change) []byte {
	b := make([]byte, 0, 80+len(c.Actor))
	b = binary.LittleEndian.AppendUint64(b, c.Version)
	b = append(b, byte(c.Op)|stamped)
	var t int64
	if !c.Time.IsZero() {
		t = c.Time.UnixNano()
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(t))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(c.Actor)))
	b = append(b, c.Actor...)
	switch c.Op {
	case dataset.OpPut:
		b = appendSample(b, c.Sample)
	case dataset.OpDelete:
		b = binary.LittleEndian.AppendUint64(b, uint64(c.ID))
	case dataset.OpImport:
		// Only in the history file, as a summary: the rows themselves
		// go into the snapshot the import writes.
		var mode dataset.ImportMode
		var rows int
		if c.Import != nil {
			mode, rows = c.Import.Mode, c.Import.Rows
		}
		b = append(b, byte(mode))
		b = binary.LittleEndian.AppendUint64(b, uint64(rows))
	}
	return b
}

// decodeChange decodes a record payload.
func decodeChange(p []byte) (dataset.Change, error) {
	r := &reader{b: p}
	c := dataset.Change{Version: r.u64()}
	op := r.u8()
	c.Op = dataset.Op(op &^ stamped)
	if op&stamped != 0 {
		if t := int64(r.u64()); t != 0 {
			c.Time = time.Unix(0, t).UTC()
		}
		c.Actor = string(r.take(int(r.u16())))
	}
	switch c.Op {
	case dataset.OpPut:
		c.Sample = r.sample()
	case dataset.OpDelete:
		c.ID = int64(r.u64())
	case dataset.OpReset:
	case dataset.OpImport:
		c.Import = &dataset.Import{Mode: dataset.ImportMode(r.u8()), Rows: int(r.u64())}
	default:
		if r.err == nil {
			return c, fmt.Errorf("unknown op %d", c.Op)
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d unexpected bytes after the change", len(r.b))
	}
	return c, r.err
}

// frame returns the framed record for payload.
func frame(payload []byte) []byte {
	b := make([]byte, headerSize, headerSize+len(payload))
	binary.LittleEndian.PutUint32(b[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[4:8], crc32.Checksum(payload, castagnoli))
	return append(b, payload...)
}

// snapshotMagic starts every snapshot file; the trailing digit is the format
// version.
const snapshotMagic = "IRISSNP1"

// encodeSnapshot encodes the whole state of s: version, next id, the loaded
// set (that a reset restores) and the current samples, followed by the
// CRC-32C of everything before it.
func encodeSnapshot(s *dataset.Snapshot) []byte {
	b := []byte(snapshotMagic)
	b = binary.LittleEndian.AppendUint64(b, s.Version())
	b = binary.LittleEndian.AppendUint64(b, uint64(s.NextID()))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.Initial())))
	for _, x := range s.Initial() {
		b = appendSample(b, x)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(s.Len()))
	s.All(func(x dataset.Sample) bool {
		b = appendSample(b, x)
		return true
	})
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeSnapshot checks and decodes a snapshot file.
func decodeSnapshot(b []byte) (*dataset.Snapshot, error) {
	if len(b) < len(snapshotMagic)+4 || string(b[:len(snapshotMagic)]) != snapshotMagic {
		return nil, errors.New("not an irisknn snapshot (bad magic)")
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, errors.New("checksum mismatch: the snapshot is corrupt")
	}
	r := &reader{b: body[len(snapshotMagic):]}
	version, nextID := r.u64(), int64(r.u64())
	samples := func() []dataset.Sample {
		n := r.u32()
		if r.err != nil || int(n) > len(r.b)/42 { // 42: the smallest encoded sample
			r.err = errShort
			return nil
		}
		out := make([]dataset.Sample, n)
		for i := range out {
			out[i] = r.sample()
		}
		return out
	}
	initial := samples()
	current := samples()
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d unexpected bytes at the end", len(r.b))
	}
	if r.err != nil {
		return nil, fmt.Errorf("snapshot: %w", r.err)
	}
	s, err := dataset.RestoreSnapshot(initial, current, version, nextID)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return s, nil
}
