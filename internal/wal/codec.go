package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"time"

	"github.com/irisknn/irisknn/internal/dataset"
)

// castagnoli is the CRC-32C table: hardware-accelerated on amd64 and arm64.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Framing of one log record: a 4-byte little-endian payload length, the
// 4-byte CRC-32C of the payload, then the payload.
const headerSize = 8

// maxPayload bounds the length of a record of a dataset with dim features
// (a put of a sample with the longest label), so that a corrupt length
// field is recognised as such. It is never below 4 KiB, the bound of the
// Iris-only format.
func maxPayload(dim int) int64 {
	return int64(max(1<<12, 8+1+8+8*dim+2+dataset.MaxLabelLen+stampSize))
}

// stampSize bounds the audit fields of a record: the time, and the actor
// (an API key's name, at most 64 bytes, or a digest) with its length.
const stampSize = 8 + 2 + 64

// errShort reports a payload that ends before its fields do.
var errShort = errors.New("record too short")

// appendSample encodes a sample: id, the features (as many as the schema
// has) as IEEE-754 bits (so they round-trip exactly), the label as a
// length-prefixed string.
func appendSample(b []byte, s dataset.Sample) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(s.ID))
	for _, f := range s.Features {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	return appendString(b, s.Label)
}

// appendString appends a string with a 2-byte length.
func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
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

func (r *reader) string() string { return string(r.take(int(r.u16()))) }

// sample reads a sample of dim features.
func (r *reader) sample(dim int) dataset.Sample {
	s := dataset.Sample{ID: int64(r.u64()), Features: make([]float64, dim)}
	for i := range s.Features {
		s.Features[i] = math.Float64frombits(r.u64())
	}
	s.Label = r.string()
	return s
}

// stamped marks, in a record's op byte, a change that carries its audit
// fields (time and actor) right after the op. Records written before the
// change feed have no such bit and decode with a zero time and no actor.
const stamped = 0x80

// EncodeChange encodes c in the project's one binary change encoding: the
// payload of a WAL record, and the change a shared journal (PostgreSQL)
// stores and sends to replicas. It holds the version, the op (with the
// stamped bit), the time in Unix nanoseconds and the actor as a
// length-prefixed string, then the op's fields. Features are IEEE-754
// bits, so they round-trip exactly, and ids are 64-bit integers.
func EncodeChange(c dataset.Change) []byte {
	return appendChange(make([]byte, 0, 80+len(c.Actor)), c)
}

// appendChange appends EncodeChange(c) to b.
func appendChange(b []byte, c dataset.Change) []byte {
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
		// The mode and row count, then, when the change carries its rows,
		// importRows and the rows (a shared journal's change). The WAL
		// writes only the summary, in the history file: the rows
		// themselves go into the snapshot the import writes.
		var mode dataset.ImportMode
		var rows int
		var samples []dataset.Sample
		if c.Import != nil {
			mode, rows, samples = c.Import.Mode, c.Import.Rows, c.Import.Samples
		}
		b = append(b, byte(mode))
		b = binary.LittleEndian.AppendUint64(b, uint64(rows))
		if samples != nil {
			b = append(b, importRows)
			for _, x := range samples {
				b = appendSample(b, x)
			}
		}
	}
	return b
}

// importRows marks an import change that carries its rows.
const importRows = 1

// DecodeChange decodes what EncodeChange produced for a dataset with dim
// features; it rejects trailing bytes and unknown ops.
func DecodeChange(p []byte, dim int) (dataset.Change, error) {
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
		c.Sample = r.sample(dim)
	case dataset.OpDelete:
		c.ID = int64(r.u64())
	case dataset.OpReset:
	case dataset.OpImport:
		c.Import = &dataset.Import{Mode: dataset.ImportMode(r.u8()), Rows: int(r.u64())}
		if r.err == nil && len(r.b) > 0 && r.u8() == importRows {
			// Each row takes at least its id, features and label length.
			if c.Import.Rows < 0 || c.Import.Rows > len(r.b)/(8+8*dim+2) {
				return c, fmt.Errorf("an import of %d rows in %d bytes", c.Import.Rows, len(r.b))
			}
			c.Import.Samples = make([]dataset.Sample, c.Import.Rows)
			for i := range c.Import.Samples {
				c.Import.Samples[i] = r.sample(dim)
			}
		}
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

// appendFrame appends the framed record of c to b, encoding c in place.
func appendFrame(b []byte, c dataset.Change) []byte {
	start := len(b)
	b = append(b, make([]byte, headerSize)...)
	b = appendChange(b, c)
	payload := b[start+headerSize:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(payload, castagnoli))
	return b
}

// frame returns the framed record for payload.
func frame(payload []byte) []byte {
	b := make([]byte, headerSize, headerSize+len(payload))
	binary.LittleEndian.PutUint32(b[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[4:8], crc32.Checksum(payload, castagnoli))
	return append(b, payload...)
}

// Snapshot formats: the magic that starts the file; the trailing digit is
// the format version. Format 1 (the Iris-only build) has no schema: its
// samples are Iris, unscaled. Format 2 starts with the schema; format 3
// follows it with the scaler. Format 4 follows that with the current
// samples' scaler, fitted again by an import with mode replace; it is
// written only then, so a set never replaced keeps format 3.
const (
	snapshotMagicV1 = "IRISSNP1"
	snapshotMagicV2 = "IRISSNP2"
	snapshotMagic   = "IRISSNP3"
	snapshotMagicV4 = "IRISSNP4"
)

// EncodeSnapshot encodes the whole state of s: the schema, version, next
// id, the loaded set (that a reset restores) and the current samples,
// followed by the CRC-32C of everything before it.
func EncodeSnapshot(s *dataset.Snapshot) []byte {
	loaded, cur := s.LoadedScaler(), s.Scaler()
	refit := !sameScaler(loaded, cur)
	b := []byte(snapshotMagic)
	if refit {
		b = []byte(snapshotMagicV4)
	}
	schema := s.Schema()
	b = binary.LittleEndian.AppendUint32(b, uint32(schema.Dim()))
	for _, name := range schema.Features() {
		b = appendString(b, name)
	}
	b = appendString(b, schema.Label())
	b = appendScaler(b, loaded)
	if refit {
		b = appendScaler(b, cur)
	}
	b = binary.LittleEndian.AppendUint64(b, s.Version())
	b = binary.LittleEndian.AppendUint64(b, s.Next())
	initial := s.Initial()
	b = binary.LittleEndian.AppendUint32(b, uint32(len(initial)))
	for _, x := range initial {
		b = appendSample(b, x)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(s.Len()))
	s.All(func(x dataset.Sample) bool {
		b = appendSample(b, x)
		return true
	})
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// DecodeSnapshot checks and decodes what EncodeSnapshot produced (a
// snapshot file of either format, or a snapshot row of a shared journal).
func DecodeSnapshot(b []byte) (*dataset.Snapshot, error) {
	if len(b) < len(snapshotMagic)+4 {
		return nil, errors.New("not an irisknn snapshot (too short)")
	}
	magic := string(b[:len(snapshotMagic)])
	if magic != snapshotMagicV4 && magic != snapshotMagic && magic != snapshotMagicV2 && magic != snapshotMagicV1 {
		return nil, errors.New("not an irisknn snapshot (bad magic)")
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, errors.New("checksum mismatch: the snapshot is corrupt")
	}
	r := &reader{b: body[len(snapshotMagic):]}
	st := dataset.State{Schema: dataset.IrisSchema()}
	if magic != snapshotMagicV1 {
		schema, err := r.schema()
		if err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		st.Schema = schema
	}
	if magic == snapshotMagic || magic == snapshotMagicV4 {
		st.Scaler = r.scaler(st.Schema.Dim())
	}
	if magic == snapshotMagicV4 {
		st.CurrentScaler = r.scaler(st.Schema.Dim())
	}
	st.Version, st.Next = r.u64(), r.u64()
	dim := st.Schema.Dim()
	samples := func() []dataset.Sample {
		n := r.u32()
		if r.err != nil || int(n) > len(r.b)/(8+8*dim+2) { // the smallest encoded sample
			r.err = errShort
			return nil
		}
		out := make([]dataset.Sample, n)
		for i := range out {
			out[i] = r.sample(dim)
		}
		return out
	}
	st.Initial = samples()
	st.Current = samples()
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d unexpected bytes at the end", len(r.b))
	}
	if r.err != nil {
		return nil, fmt.Errorf("snapshot: %w", r.err)
	}
	s, err := dataset.RestoreSnapshot(st)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return s, nil
}

// appendScaler appends sc as reader.scaler reads it.
func appendScaler(b []byte, sc dataset.Scaler) []byte {
	b = append(b, byte(sc.Kind))
	if !sc.Identity() {
		for _, v := range append(slices.Clone(sc.Offset), sc.Scale...) {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
	}
	return b
}

// sameScaler reports whether a and b scale every feature alike.
func sameScaler(a, b dataset.Scaler) bool {
	return a.Kind == b.Kind && slices.Equal(a.Offset, b.Offset) && slices.Equal(a.Scale, b.Scale)
}

// scaler reads a scaler of dim features: its kind, then unless it is the
// identity the offsets and the scales.
func (r *reader) scaler(dim int) dataset.Scaler {
	sc := dataset.Scaler{Kind: dataset.ScaleKind(r.u8())}
	if sc.Identity() {
		return sc
	}
	sc.Offset, sc.Scale = make([]float64, dim), make([]float64, dim)
	for _, xs := range [][]float64{sc.Offset, sc.Scale} {
		for i := range xs {
			xs[i] = math.Float64frombits(r.u64())
		}
	}
	return sc
}

// schema reads a schema: the number of features, their names, the label's.
func (r *reader) schema() (*dataset.Schema, error) {
	n := r.u32()
	if r.err != nil || n > dataset.MaxFeatures {
		return nil, fmt.Errorf("bad schema (%d features)", n)
	}
	names := make([]string, n)
	for i := range names {
		names[i] = r.string()
	}
	label := r.string()
	if r.err != nil {
		return nil, r.err
	}
	return dataset.NewSchema(names, label)
}
