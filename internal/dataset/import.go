package dataset

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// ImportMode says how an import changes the set.
type ImportMode uint8

// The import modes.
const (
	ImportAppend  ImportMode = iota + 1 // add every row with a new id
	ImportReplace                       // the rows become the whole set
	ImportUpsert                        // rows replace the samples with their ids, or are added with them
)

func (m ImportMode) String() string {
	switch m {
	case ImportAppend:
		return "append"
	case ImportReplace:
		return "replace"
	case ImportUpsert:
		return "upsert"
	}
	return fmt.Sprintf("ImportMode(%d)", m)
}

// ParseImportMode parses append, replace or upsert.
func ParseImportMode(s string) (ImportMode, error) {
	for _, m := range []ImportMode{ImportAppend, ImportReplace, ImportUpsert} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, Invalidf("mode", "mode must be append, replace or upsert, got %q", s)
}

// Import is what an OpImport change carries: the mode and the rows, with
// their ids (assigned by the store for an append). In a change feed, and in
// a journal's history, Samples is nil and Rows tells how many there were.
type Import struct {
	Mode    ImportMode
	Rows    int
	Samples []Sample
}

// Importer is a Store that takes many samples as one change: one new
// version, or nothing.
type Importer interface {
	// Import applies rows in mode as one change. rows come from an
	// ImportReader (already validated against the current schema). With
	// withIDs the rows carry their ids (upsert always, replace when the
	// body had an id column); otherwise they get NextID, NextID+1, ...
	Import(ctx context.Context, mode ImportMode, rows []Sample, withIDs bool) (*Snapshot, error)
}

// ImportJournal is a Journal that records an import by the state it
// produces (a new snapshot of the whole set) rather than as a log record:
// RecordImport returns once next is durable, together with every change
// appended before it.
type ImportJournal interface {
	RecordImport(ctx context.Context, c Change, next *Snapshot) error
}

// ImportReader reads the rows of an import one at a time, checking each
// against a snapshot as it comes: a bad row is an error naming its line
// (and column), before anything is applied.
type ImportReader struct {
	snap   *Snapshot
	mode   ImportMode
	source func() (Sample, int, bool, error) // next row, its line, whether it had an id
	rows   []Sample
	ids    map[int64]int // upsert: id -> line, to find repeats
}

// NewImportReader returns a reader of rows for an import in mode against
// snap; next yields each row with its line number (and whether it gave an
// id), and io.EOF after the last.
func NewImportReader(snap *Snapshot, mode ImportMode, next func() (s Sample, line int, hasID bool, err error)) *ImportReader {
	ir := &ImportReader{snap: snap, mode: mode, source: next}
	if mode == ImportUpsert {
		ir.ids = map[int64]int{}
	}
	return ir
}

// ReadAll reads and checks every row. The error names the first bad line.
func (ir *ImportReader) ReadAll() ([]Sample, error) {
	for {
		s, line, hasID, err := ir.source()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := ir.check(s, line, hasID); err != nil {
			return nil, err
		}
		ir.rows = append(ir.rows, s)
	}
	if len(ir.rows) == 0 {
		return nil, Invalidf("body", "the import has no rows after the header")
	}
	return ir.rows, nil
}

// check validates one row: the sample validation of every write, plus the
// id rules of the mode.
func (ir *ImportReader) check(s Sample, line int, hasID bool) error {
	at := func(field, format string, args ...any) error {
		return Invalidf(fmt.Sprintf("line %d: %s", line, field), "line %d: %s: %s", line, field, fmt.Sprintf(format, args...))
	}
	switch {
	case ir.mode == ImportUpsert && !hasID:
		return at("id", "mode=upsert needs an id for every row (an id column)")
	case ir.mode == ImportAppend && hasID:
		return at("id", "mode=append assigns new ids: drop the id column, or use mode=upsert to write these ids")
	}
	if hasID {
		if s.ID < 1 {
			return at("id", "id must be a positive integer, got %d", s.ID)
		}
		if ir.ids != nil {
			if first, dup := ir.ids[s.ID]; dup {
				return at("id", "id %d was already given on line %d", s.ID, first)
			}
			ir.ids[s.ID] = line
		}
	}
	if err := ir.snap.Schema().CheckFeatures("features", s.Features); err != nil {
		var de *Error
		if errors.As(err, &de) {
			return at("features", "%s", de.Message)
		}
		return at("features", "%v", err)
	}
	if _, ok := ir.snap.ClassIndex(s.Label); !ok {
		label := ir.snap.Schema().Label()
		return at(label, "unknown %s %q: want one of %v", label, s.Label, ir.snap.Classes())
	}
	return nil
}

// CSVRows reads the rows of an import CSV body as it streams in: a header
// naming the schema's features and label (in any order) and, optionally,
// an id column; then one row per line. Lines without quotes are split by
// the same reader as ParseCSV's fast path, a block at a time; from the
// first quote on, the rest goes through encoding/csv. Every row is parsed
// by the row rule every CSV reader shares (layout.row).
type CSVRows struct {
	br     *bufio.Reader
	lr     lineReader
	lay    layout
	labels labelSet
	idCol  int // -1: no id column
	ncols  int
	carry  []byte // a partial line after the last block
	eof    bool
	cr     *csv.Reader // set once a quote is seen
	crAt   int         // lines before cr's first
	rec    [][]byte
}

// csvBlock is how much of a body CSVRows reads at a time.
const csvBlock = 1 << 20

// importHeader maps an import's header onto schema: its columns (the
// schema's features and label, in any order), less an optional id column,
// whose position it returns (-1 when there is none).
func importHeader(names []string, schema *Schema) (layout, int, error) {
	idCol := -1
	lay := layout{schema: schema}
	seen := map[string]bool{}
	want := func() string {
		return fmt.Sprintf("want the columns %s and %s (any order), and optionally id", schema.FeatureList(), schema.Label())
	}
	for i, n := range names {
		n = strings.TrimSpace(n)
		if i == 0 {
			n = strings.TrimSpace(strings.TrimPrefix(n, "\ufeff"))
		}
		switch {
		case seen[n]:
			return lay, 0, Invalidf("line 1", "line 1: the column %q is given twice: %s", n, want())
		case n == "id" && idCol < 0:
			idCol = i
			seen[n] = true
			continue
		case n == schema.Label():
			lay.col = append(lay.col, -1)
		default:
			j, ok := schema.FeatureIndex(n)
			if !ok {
				return lay, 0, Invalidf("line 1", "line 1: unknown column %q: %s", n, want())
			}
			lay.col = append(lay.col, j)
		}
		seen[n] = true
	}
	if len(lay.col) != schema.Dim()+1 {
		return lay, 0, Invalidf("line 1", "line 1: the header has %d of the schema's %d columns: %s", len(lay.col), schema.Dim()+1, want())
	}
	return lay, idCol, nil
}

// NewCSVRows reads the header of r, which must name schema's columns.
func NewCSVRows(r io.Reader, schema *Schema) (*CSVRows, error) {
	br := bufio.NewReaderSize(r, csvBlock)
	head, err := br.ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || head == "") {
		if errors.Is(err, io.EOF) {
			return nil, Invalidf("body", "empty body: want a header line with the columns %s, %s (and optionally id)", schema.FeatureList(), schema.Label())
		}
		return nil, fmt.Errorf("reading the import: %w", err)
	}
	names, err := csv.NewReader(strings.NewReader(head)).Read()
	if err != nil {
		return nil, Invalidf("line 1", "line 1: bad header %q: %v", strings.TrimSpace(head), err)
	}
	lay, idCol, err := importHeader(names, schema)
	if err != nil {
		return nil, err
	}
	return &CSVRows{br: br, lay: lay, idCol: idCol, ncols: len(names), lr: lineReader{line: 1}}, nil
}

// HasID reports whether the header has an id column.
func (c *CSVRows) HasID() bool { return c.idCol >= 0 }

// Next returns the next row, the line it is on and whether it has an id;
// io.EOF after the last. Errors are KindInvalid and name the line.
func (c *CSVRows) Next() (Sample, int, bool, error) {
	for {
		if c.cr != nil {
			return c.nextCSV()
		}
		rec, err := c.lr.next()
		if err != nil {
			return Sample{}, 0, false, Invalidf(fmt.Sprintf("line %d", c.lr.line), "%s", err.Error())
		}
		if rec != nil {
			return c.convert(rec, c.lr.line)
		}
		if c.eof {
			return Sample{}, 0, false, io.EOF
		}
		if err := c.fill(); err != nil {
			return Sample{}, 0, false, err
		}
	}
}

// fill reads the next block of whole lines into the line reader, or hands
// the rest of the body to encoding/csv when the block has a quote.
func (c *CSVRows) fill() error {
	block := make([]byte, len(c.carry), len(c.carry)+csvBlock)
	copy(block, c.carry)
	n, err := io.ReadFull(c.br, block[len(block):cap(block)])
	block = block[:len(block)+n]
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		c.eof = true
	case err != nil:
		return fmt.Errorf("reading the import: %w", err)
	}
	if bytes.IndexByte(block, '"') >= 0 {
		c.crAt = c.lr.line
		c.cr = csv.NewReader(io.MultiReader(bytes.NewReader(block), c.br))
		c.cr.ReuseRecord = true
		c.cr.FieldsPerRecord = c.ncols
		return nil
	}
	cut := len(block)
	if !c.eof {
		cut = bytes.LastIndexByte(block, '\n') + 1
		if cut == 0 {
			return Invalidf(fmt.Sprintf("line %d", c.lr.line+1), "line %d is longer than %d bytes", c.lr.line+1, csvBlock)
		}
	}
	c.lr.data, c.carry = block[:cut], append(c.carry[:0], block[cut:]...)
	return nil
}

func (c *CSVRows) nextCSV() (Sample, int, bool, error) {
	rec, err := c.cr.Read()
	if errors.Is(err, io.EOF) {
		return Sample{}, 0, false, io.EOF
	}
	if err != nil {
		if pe, ok := errors.AsType[*csv.ParseError](err); ok {
			line := c.crAt + pe.StartLine
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				return Sample{}, 0, false, Invalidf(fmt.Sprintf("line %d", line), "line %d: %d fields, but the header has %d columns", line, len(rec), c.ncols)
			}
			return Sample{}, 0, false, Invalidf(fmt.Sprintf("line %d", line), "line %d, column %d: %v", line, pe.Column, pe.Err)
		}
		return Sample{}, 0, false, fmt.Errorf("reading the import: %w", err)
	}
	line, _ := c.cr.FieldPos(0)
	c.rec = c.rec[:0]
	for _, f := range rec {
		c.rec = append(c.rec, []byte(f))
	}
	return c.convert(c.rec, c.crAt+line)
}

// convert parses a record by the shared row rule, plus the id column.
func (c *CSVRows) convert(rec [][]byte, line int) (Sample, int, bool, error) {
	if len(rec) != c.ncols {
		return Sample{}, line, false, Invalidf(fmt.Sprintf("line %d", line), "line %d: %d fields, but the header has %d columns", line, len(rec), c.ncols)
	}
	field := func(i int) []byte {
		if c.idCol >= 0 && i >= c.idCol {
			return rec[i+1]
		}
		return rec[i]
	}
	f, label, err := c.lay.row(line, field, make([]float64, c.lay.schema.Dim()), &c.labels)
	if err != nil {
		return Sample{}, line, false, Invalidf(fmt.Sprintf("line %d", line), "%s", err.Error())
	}
	s := Sample{Features: f, Label: label}
	if c.idCol >= 0 {
		raw := bytes.TrimSpace(rec[c.idCol])
		id, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return s, line, true, Invalidf(fmt.Sprintf("line %d: id", line), "line %d: id: %q is not an integer id", line, raw)
		}
		s.ID = id
	}
	return s, line, c.idCol >= 0, nil
}

// importSnapshot returns the snapshot an import produces from s.
func (s *Snapshot) importSnapshot(c Change) (*Snapshot, error) {
	im := c.Import
	if im == nil || len(im.Samples) == 0 {
		return nil, Invalidf("body", "an import needs at least one row")
	}
	var all []Sample
	switch im.Mode {
	case ImportReplace:
		all = im.Samples
	case ImportAppend:
		all = make([]Sample, 0, s.Len()+len(im.Samples))
		s.All(func(x Sample) bool { all = append(all, x); return true })
		all = append(all, im.Samples...)
	case ImportUpsert:
		rows := slices.Clone(im.Samples)
		slices.SortFunc(rows, func(a, b Sample) int { return cmpID(a.ID, b.ID) })
		all = make([]Sample, 0, s.Len()+len(rows))
		j := 0
		s.All(func(x Sample) bool {
			for ; j < len(rows) && rows[j].ID < x.ID; j++ {
				all = append(all, rows[j])
			}
			if j < len(rows) && rows[j].ID == x.ID {
				all = append(all, rows[j]) // replaced
				j++
				return true
			}
			all = append(all, x)
			return true
		})
		all = append(all, rows[j:]...)
	default:
		return nil, fmt.Errorf("dataset: unknown import mode %v", im.Mode)
	}
	next := *s
	next.version = c.Version
	if err := next.checkAll(all); err != nil {
		return nil, Invalidf("body", "%v", err)
	}
	if im.Mode == ImportReplace {
		// The rows are the whole set now: the scaler is fitted on them, as
		// it was on the loaded set. append and upsert keep the scaler, so
		// that the samples already there keep their scaled values.
		next.scaler = Fit(s.scaler.Kind, s.schema.Dim(), all)
	}
	p, counts, err := next.build(all)
	if err != nil {
		return nil, Invalidf("body", "%v", err)
	}
	next.cur, next.counts = p, counts
	next.lastID = max(s.lastID, maxID(im.Samples))
	return &next, nil
}

func cmpID(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

var _ Importer = (*Memory)(nil)

// Import implements Importer: one change, recorded (with a journal: made
// durable) before it is published, like every write. Rows without ids get
// NextID, NextID+1, ... in order.
func (m *Memory) Import(ctx context.Context, mode ImportMode, rows []Sample, withIDs bool) (*Snapshot, error) {
	snap, _, err := m.write(ctx, func(cur *Snapshot) (Change, error) {
		if !withIDs {
			for i := range rows {
				rows[i].ID = cur.NextID() + int64(i)
			}
		}
		return Change{Op: OpImport, Import: &Import{Mode: mode, Rows: len(rows), Samples: rows}}, nil
	})
	return snap, err
}

// AllOf calls yield for every sample of the class label (all when label is "")
// in id order, with its class's position in Classes, until it returns
// false. An unknown species yields nothing.
func (s *Snapshot) AllOf(label string, yield func(x Sample, class int) bool) {
	want := -1
	if label != "" {
		l, ok := s.ClassIndex(label)
		if !ok {
			return
		}
		want = l
	}
	s.cur.rows.All(func(id int64, p []float64, label int) bool {
		if want >= 0 && label != want {
			return true
		}
		return yield(s.sample(id, p, label), label)
	})
}

// WriteCSVWithIDs writes the samples of species (all when "") in id order
// as CSV: a header "id" and then the columns ParseCSV and imports read,
// one row per sample (floats in the shortest form that reads back exactly).
// It is the export format, which an import with mode=replace or upsert
// takes back as it is.
func (s *Snapshot) WriteCSVWithIDs(w io.Writer, label string) error {
	// Each class's field, quoted once as encoding/csv would.
	names := make([][]byte, len(s.classes))
	for i, c := range s.classes {
		var b bytes.Buffer
		cw := csv.NewWriter(&b)
		_ = cw.Write([]string{c})
		cw.Flush()
		names[i] = bytes.TrimRight(b.Bytes(), "\n")
	}
	{
		var b bytes.Buffer
		cw := csv.NewWriter(&b)
		_ = cw.Write(append(append([]string{"id"}, s.schema.Features()...), s.schema.Label()))
		cw.Flush()
		if _, err := w.Write(b.Bytes()); err != nil {
			return err
		}
	}
	var (
		line []byte
		err  error
	)
	s.AllOf(label, func(x Sample, class int) bool {
		line = strconv.AppendInt(line[:0], x.ID, 10)
		for _, v := range x.Features {
			line = append(line, ',')
			line = strconv.AppendFloat(line, v, 'g', -1, 64)
		}
		line = append(line, ',')
		line = append(line, names[class]...)
		line = append(line, '\n')
		_, err = w.Write(line)
		return err == nil
	})
	return err
}
