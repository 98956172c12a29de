package dataset

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"slices"
)

// Table is a dataset read from a CSV file: its schema and its rows.
type Table struct {
	Schema  *Schema
	Samples []Sample
}

// ParseCSV reads a training set: a header naming the columns, then one
// sample per line. label names the label column; "" means DefaultLabel when
// the header has it, else the last column. Every other column is a numeric
// feature, in header order. Samples get ids 1..n in file order. Errors name
// the line (and column) at fault.
//
// Files without a double quote (all that WriteCSV and irisgen produce) are
// parsed by a fast path that splits lines and fields by hand; any file with
// a quote goes through encoding/csv. Both accept and reject the same files
// with the same messages (TestParseCSVFastMatchesEncodingCSV).
func ParseCSV(r io.Reader, label string) (Table, error) {
	var data []byte
	if b, ok := r.(*bytes.Reader); ok && b.Size() <= 1<<31 {
		data = make([]byte, b.Len())
		_, _ = b.Read(data)
	} else {
		var buf bytes.Buffer
		if f, ok := r.(interface{ Stat() (fs.FileInfo, error) }); ok {
			if st, err := f.Stat(); err == nil && st.Size() > 0 && st.Size() < 1<<31 {
				buf.Grow(int(st.Size()) + bytes.MinRead)
			}
		}
		if _, err := buf.ReadFrom(r); err != nil {
			return Table{}, fmt.Errorf("reading CSV: %w", err)
		}
		data = buf.Bytes()
	}
	if bytes.IndexByte(data, '"') < 0 {
		return parseCSVFast(data, label)
	}
	return parseCSVReader(bytes.NewReader(data), label)
}

// errEmpty is the error for a file without a header.
var errEmpty = errors.New("empty file: want a header line naming the columns (the features and a label)")

// errNoRows is the error for a file with a header and no rows.
var errNoRows = errors.New("no samples after the header")

// layout is where a CSV file's columns go: the schema, and for each column
// of the file its feature position, or -1 for the label.
type layout struct {
	schema *Schema
	col    []int
}

// header reads a header row into a layout.
func header(names []string, label string) (layout, error) {
	names = slices.Clone(names)
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
	}
	if len(names) > 0 {
		names[0] = strings.TrimSpace(strings.TrimPrefix(names[0], "\ufeff"))
	}
	if len(names) < 2 {
		return layout{}, fmt.Errorf("line 1: the header has %d column: want at least one feature and a label", len(names))
	}
	li := -1
	switch {
	case label != "":
		li = slices.Index(names, label)
		if li < 0 {
			return layout{}, fmt.Errorf("line 1: no label column %q (-label): the columns are %s", label, strings.Join(names, ", "))
		}
	case slices.Contains(names, DefaultLabel):
		li = slices.Index(names, DefaultLabel)
	default:
		li = len(names) - 1
	}
	lay := layout{col: make([]int, len(names))}
	features := make([]string, 0, len(names)-1)
	for i, n := range names {
		if i == li {
			lay.col[i] = -1
			continue
		}
		lay.col[i] = len(features)
		features = append(features, n)
	}
	schema, err := NewSchema(features, names[li])
	if err != nil {
		return layout{}, fmt.Errorf("line 1: %w", err)
	}
	lay.schema = schema
	return lay, nil
}

// fieldCountError is the error for a row with the wrong number of fields.
func (l *layout) fieldCountError(line, got int) error {
	return fmt.Errorf("line %d: %d fields, but the header has %d columns", line, got, len(l.col))
}

// row converts the fields of one line into features and a label, reusing
// f; intern maps label text to one string per class.
func (l *layout) row(line int, fields func(i int) []byte, f []float64, labels *labelSet) ([]float64, string, error) {
	name := ""
	for i, c := range l.col {
		field := bytes.TrimSpace(fields(i))
		if c < 0 {
			var err error
			if name, err = labels.intern(field); err != nil {
				return nil, "", fmt.Errorf("line %d: %s: %w", line, l.schema.label, err)
			}
			continue
		}
		v, err := parseNumber(field)
		if err == nil {
			err = CheckValue(v)
		}
		if err != nil {
			return nil, "", fmt.Errorf("line %d: %s: %q is not a number this service accepts: %w", line, l.schema.features[c], field, err)
		}
		f[c] = v
	}
	return f, name, nil
}

// labelSet interns the labels of a file and bounds their number.
type labelSet struct {
	names    map[string]string
	last     []byte
	lastName string
}

func (s *labelSet) intern(b []byte) (string, error) {
	if s.last != nil && bytes.Equal(b, s.last) {
		return s.lastName, nil
	}
	name, ok := s.names[string(b)]
	if !ok {
		if err := CheckLabel(string(b)); err != nil {
			return "", err
		}
		if len(s.names) == MaxClasses {
			return "", fmt.Errorf("more than %d distinct labels", MaxClasses)
		}
		if s.names == nil {
			s.names = map[string]string{}
		}
		name = string(b)
		s.names[name] = name
	}
	s.last, s.lastName = b, name
	return name, nil
}

// parseCSVReader is ParseCSV through encoding/csv.
func parseCSVReader(r io.Reader, label string) (Table, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return Table{}, errEmpty
	}
	if err != nil {
		return Table{}, csvError(err)
	}
	lay, err := header(head, label)
	if err != nil {
		return Table{}, err
	}
	cr.FieldsPerRecord = len(lay.col)
	var (
		samples []Sample
		labels  labelSet
	)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if pe, ok := errors.AsType[*csv.ParseError](err); ok && errors.Is(err, csv.ErrFieldCount) {
				return Table{}, lay.fieldCountError(pe.StartLine, len(rec))
			}
			return Table{}, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		f, name, err := lay.row(line, func(i int) []byte { return []byte(rec[i]) }, make([]float64, lay.schema.Dim()), &labels)
		if err != nil {
			return Table{}, err
		}
		samples = append(samples, Sample{ID: int64(len(samples) + 1), Features: f, Label: name})
	}
	if len(samples) == 0 {
		return Table{}, errNoRows
	}
	return Table{Schema: lay.schema, Samples: samples}, nil
}

// parseCSVFast parses a CSV file that has no quotes, exactly as
// encoding/csv with FieldsPerRecord = Dim+1 would (lines end in \n or
// \r\n, empty lines are skipped, a trailing \r at the end of the file is
// dropped), without allocating per line. A big file is split at line
// boundaries and its parts parsed on all CPUs; if any part fails, the
// file is parsed again in one piece, so that the error is the first one.
func parseCSVFast(data []byte, label string) (Table, error) {
	lr := lineReader{data: data}
	rec, err := lr.next()
	if err != nil {
		return Table{}, err
	}
	if rec == nil {
		return Table{}, errEmpty
	}
	head := make([]string, len(rec))
	for i, f := range rec {
		head[i] = string(f)
	}
	lay, err := header(head, label)
	if err != nil {
		return Table{}, err
	}
	lr.lay = &lay
	table := func(samples []Sample, err error) (Table, error) {
		if err != nil {
			return Table{}, err
		}
		return Table{Schema: lay.schema, Samples: samples}, nil
	}
	parts := runtime.GOMAXPROCS(0)
	if len(lr.data) < 4<<20 || parts < 2 {
		return table(lr.rows(0))
	}
	// Cut the rest into parts at line boundaries.
	type part struct {
		lr      lineReader
		samples []Sample
		err     error
	}
	ps := make([]part, 0, parts)
	rest, line := lr.data, lr.line
	for k := parts; k > 0 && len(rest) > 0; k-- {
		cut := len(rest)
		if k > 1 {
			cut = len(rest) / k
			if j := bytes.IndexByte(rest[cut:], '\n'); j >= 0 {
				cut += j + 1
			} else {
				cut = len(rest)
			}
		}
		ps = append(ps, part{lr: lineReader{data: rest[:cut], line: line, lay: &lay}})
		line += bytes.Count(rest[:cut], []byte{'\n'})
		rest = rest[cut:]
	}
	var wg sync.WaitGroup
	for i := range ps {
		wg.Go(func() { ps[i].samples, ps[i].err = ps[i].lr.rows(-1) })
	}
	wg.Wait()
	total := 0
	names := map[string]bool{}
	for _, p := range ps {
		if p.err != nil {
			return table(lr.rows(0)) // the first error, as a single pass finds it
		}
		total += len(p.samples)
		for i, s := range p.samples {
			if i == 0 || s.Label != p.samples[i-1].Label {
				names[s.Label] = true
			}
		}
	}
	if total == 0 || len(names) > MaxClasses {
		return table(lr.rows(0))
	}
	samples := make([]Sample, 0, total)
	for _, p := range ps {
		samples = append(samples, p.samples...)
	}
	for i := range samples {
		samples[i].ID = int64(i + 1)
	}
	return table(samples, nil)
}

// lineReader yields the records of a quote-free CSV text.
type lineReader struct {
	data   []byte
	line   int     // lines read so far
	lay    *layout // the columns, once the header is read
	fields [][]byte
}

// next returns the fields of the next non-empty line, or nil at the end.
func (lr *lineReader) next() ([][]byte, error) {
	for len(lr.data) > 0 {
		var l []byte
		if i := bytes.IndexByte(lr.data, '\n'); i >= 0 {
			l, lr.data = lr.data[:i], lr.data[i+1:]
		} else {
			l, lr.data = lr.data, nil
		}
		lr.line++
		if n := len(l); n > 0 && l[n-1] == '\r' {
			l = l[:n-1]
		}
		if len(l) == 0 {
			continue
		}
		lr.fields = lr.fields[:0]
		for {
			j := bytes.IndexByte(l, ',')
			if j < 0 {
				break
			}
			lr.fields = append(lr.fields, l[:j])
			l = l[j+1:]
		}
		lr.fields = append(lr.fields, l)
		if lr.lay != nil && len(lr.fields) != len(lr.lay.col) {
			return nil, lr.lay.fieldCountError(lr.line, len(lr.fields))
		}
		return lr.fields, nil
	}
	return nil, nil
}

// rows parses the remaining lines into samples with ids 1, 2, ... It
// requires at least one sample unless minRows < 0 (a part of a file).
func (lr *lineReader) rows(minRows int) ([]Sample, error) {
	dim := lr.lay.schema.Dim()
	n := bytes.Count(lr.data, []byte{'\n'}) + 1
	samples := make([]Sample, 0, n)
	// One backing array for every row's features.
	backing := make([]float64, 0, n*dim)
	var labels labelSet
	for {
		rec, err := lr.next()
		if err != nil {
			return nil, err
		}
		if rec == nil {
			break
		}
		if len(backing)+dim > cap(backing) {
			backing = make([]float64, 0, 1024*dim)
		}
		f := backing[len(backing) : len(backing)+dim : len(backing)+dim]
		backing = backing[:len(backing)+dim]
		f, name, err := lr.lay.row(lr.line, func(i int) []byte { return rec[i] }, f, &labels)
		if err != nil {
			return nil, err
		}
		samples = append(samples, Sample{ID: int64(len(samples) + 1), Features: f, Label: name})
	}
	if len(samples) == 0 && minRows >= 0 {
		return nil, errNoRows
	}
	return samples, nil
}

// csvError turns an encoding/csv error into ParseCSV's.
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("line %d, column %d: %w", pe.Line, pe.Column, pe.Err)
	}
	return fmt.Errorf("reading CSV: %w", err)
}

// WriteCSV writes samples of schema in the format ParseCSV reads: the
// features, then the label (ids are not written: they are the line order).
func WriteCSV(w io.Writer, schema *Schema, samples []Sample) error {
	cw := csv.NewWriter(w)
	rec := append(slices.Clone(schema.features), schema.label)
	if err := cw.Write(rec); err != nil {
		return err
	}
	dim := schema.Dim()
	for _, s := range samples {
		for i, v := range s.Features {
			rec[i] = strconv.FormatFloat(v, 'g', -1, 64)
		}
		rec[dim] = s.Label
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
