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
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// MaxClasses bounds the number of distinct species in a dataset, so that a
// prediction's probabilities stay small.
const MaxClasses = 256

// MaxSpeciesLen bounds the length of a species name in bytes.
const MaxSpeciesLen = 64

// CSVHeader is the header line of a training-set CSV file.
const CSVHeader = "sepal_length,sepal_width,petal_length,petal_width,species"

// ParseCSV reads a training set: a header naming the four feature columns
// and species (in any order), then one sample per line. Samples get ids 1..n
// in file order. Errors name the line and column at fault.
//
// Files without a double quote (all that WriteCSV and irisgen produce) are
// parsed by a fast path that splits lines and fields by hand; any file with
// a quote goes through encoding/csv. Both accept and reject the same files
// with the same messages (TestParseCSVFastMatchesEncodingCSV).
func ParseCSV(r io.Reader) ([]Sample, error) {
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
			return nil, fmt.Errorf("reading CSV: %w", err)
		}
		data = buf.Bytes()
	}
	if bytes.IndexByte(data, '"') < 0 {
		return parseCSVFast(data)
	}
	return parseCSVReader(bytes.NewReader(data))
}

// parseCSVReader is ParseCSV through encoding/csv.
func parseCSVReader(r io.Reader) ([]Sample, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = Dim + 1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("empty file: want a header line " + CSVHeader)
	}
	if err != nil {
		return nil, csvError(err)
	}
	col, err := csvColumns(header)
	if err != nil {
		return nil, err
	}
	var (
		samples []Sample
		conv    = rowConverter{col: col}
		fields  [][]byte
	)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		fields = stringFields(fields, rec)
		s, err := conv.sample(fields, line)
		if err != nil {
			return nil, err
		}
		s.ID = int64(len(samples) + 1)
		samples = append(samples, s)
	}
	if len(samples) == 0 {
		return nil, errors.New("no samples after the header")
	}
	return samples, nil
}

const maxFloat = 1.7976931348623157e308

// parseCSVFast parses a CSV file that has no quotes, exactly as
// encoding/csv with FieldsPerRecord = Dim+1 would (lines end in \n or
// \r\n, empty lines are skipped, a trailing \r at the end of the file is
// dropped), without allocating per line. A big file is split at line
// boundaries and its parts parsed on all CPUs; if any part fails, the
// file is parsed again in one piece, so that the error is the first one.
func parseCSVFast(data []byte) ([]Sample, error) {
	lr := lineReader{data: data}
	rec, err := lr.next()
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, errors.New("empty file: want a header line " + CSVHeader)
	}
	header := make([]string, len(rec))
	for i, f := range rec {
		header[i] = string(f)
	}
	col, err := csvColumns(header)
	if err != nil {
		return nil, err
	}
	parts := runtime.GOMAXPROCS(0)
	if len(lr.data) < 4<<20 || parts < 2 {
		return lr.rows(col, 0)
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
		ps = append(ps, part{lr: lineReader{data: rest[:cut], line: line}})
		line += bytes.Count(rest[:cut], []byte{'\n'})
		rest = rest[cut:]
	}
	var wg sync.WaitGroup
	for i := range ps {
		wg.Go(func() { ps[i].samples, ps[i].err = ps[i].lr.rows(col, -1) })
	}
	wg.Wait()
	total := 0
	names := map[string]bool{}
	for _, p := range ps {
		if p.err != nil {
			return lr.rows(col, 0) // the first error, as a single pass finds it
		}
		total += len(p.samples)
		for i, s := range p.samples {
			if i == 0 || s.Species != p.samples[i-1].Species {
				names[s.Species] = true
			}
		}
	}
	if total == 0 || len(names) > MaxClasses {
		return lr.rows(col, 0)
	}
	samples := make([]Sample, 0, total)
	for _, p := range ps {
		samples = append(samples, p.samples...)
	}
	for i := range samples {
		samples[i].ID = int64(i + 1)
	}
	return samples, nil
}

// lineReader yields the records of a quote-free CSV text.
type lineReader struct {
	data   []byte
	line   int      // lines read so far
	fields [][]byte // one per column; Dim+1 when nil
	want   string   // the columns, for errors; CSVHeader when empty
}

// next returns the fields of the next non-empty line, or nil at the end.
func (lr *lineReader) next() ([][]byte, error) {
	if lr.fields == nil {
		lr.fields = make([][]byte, Dim+1)
	}
	if lr.want == "" {
		lr.want = CSVHeader
	}
	last := len(lr.fields) - 1
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
		for i := range last {
			j := bytes.IndexByte(l, ',')
			if j < 0 {
				return nil, fmt.Errorf("line %d: want %d columns (%s)", lr.line, last+1, lr.want)
			}
			lr.fields[i], l = l[:j], l[j+1:]
		}
		if bytes.IndexByte(l, ',') >= 0 {
			return nil, fmt.Errorf("line %d: want %d columns (%s)", lr.line, last+1, lr.want)
		}
		lr.fields[last] = l
		return lr.fields, nil
	}
	return nil, nil
}

// rows parses the remaining lines into samples with ids 1, 2, ... It
// requires at least one sample unless minRows < 0 (a part of a file).
func (lr *lineReader) rows(col [Dim + 1]int, minRows int) ([]Sample, error) {
	samples := make([]Sample, 0, bytes.Count(lr.data, []byte{'\n'})+1)
	conv := rowConverter{col: col}
	for {
		rec, err := lr.next()
		if err != nil {
			return nil, err
		}
		if rec == nil {
			break
		}
		s, err := conv.sample(rec, lr.line)
		if err != nil {
			return nil, err
		}
		s.ID = int64(len(samples) + 1)
		samples = append(samples, s)
	}
	if len(samples) == 0 && minRows >= 0 {
		return nil, errors.New("no samples after the header")
	}
	return samples, nil
}

// rowConverter turns the fields of one CSV record into a sample (without
// an id): the one place where a CSV row's values are parsed and checked,
// for every reader of CSV (ParseCSV's two paths and imports).
type rowConverter struct {
	col      [Dim + 1]int // record positions of FeatureNames, then species
	classes  map[string]string
	last     []byte
	lastName string
}

// sample converts rec, read from the given line. Errors name the line and
// the column.
func (rc *rowConverter) sample(rec [][]byte, line int) (Sample, error) {
	var s Sample
	for i := range Dim {
		field := bytes.TrimSpace(rec[rc.col[i]])
		v, err := parseFloat(field)
		if err != nil || v != v || v > maxFloat || v < -maxFloat {
			return s, fmt.Errorf("line %d: %s: %q is not a finite number", line, FeatureNames[i], field)
		}
		s.Features[i] = v
	}
	name := bytes.TrimSpace(rec[rc.col[Dim]])
	if rc.last == nil || !bytes.Equal(name, rc.last) {
		if rc.classes == nil {
			rc.classes = map[string]string{} // interned names
		}
		sp, ok := rc.classes[string(name)]
		if !ok {
			if err := CheckSpeciesName(string(name)); err != nil {
				return s, fmt.Errorf("line %d: species: %w", line, err)
			}
			if len(rc.classes) == MaxClasses {
				return s, fmt.Errorf("line %d: more than %d distinct species", line, MaxClasses)
			}
			sp = string(name)
			rc.classes[sp] = sp
		}
		// The interned name's bytes: rec's may be reused by the reader.
		rc.last, rc.lastName = unsafe.Slice(unsafe.StringData(sp), len(sp)), sp
	}
	s.Species = rc.lastName
	return s, nil
}

// stringFields views a record of strings as bytes, without copying.
func stringFields(dst [][]byte, rec []string) [][]byte {
	dst = dst[:0]
	for _, f := range rec {
		dst = append(dst, unsafe.Slice(unsafe.StringData(f), len(f)))
	}
	return dst
}

// parseFloat is strconv.ParseFloat on bytes without copying them into a
// string: the string does not outlive the call (the error, which would
// keep it, is dropped by the caller).
func parseFloat(b []byte) (float64, error) {
	if len(b) == 0 {
		return strconv.ParseFloat("", 64)
	}
	return strconv.ParseFloat(unsafe.String(&b[0], len(b)), 64)
}

// CheckSpeciesName reports whether name can be a species label: non-empty,
// at most MaxSpeciesLen bytes of printable UTF-8.
func CheckSpeciesName(name string) error {
	switch {
	case name == "":
		return errors.New("empty species name")
	case len(name) > MaxSpeciesLen:
		return fmt.Errorf("species name longer than %d bytes", MaxSpeciesLen)
	case !utf8.ValidString(name):
		return errors.New("species name is not valid UTF-8")
	case strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return errors.New("species name has unprintable characters")
	}
	return nil
}

// csvColumns maps the header to column positions: FeatureNames, then species.
func csvColumns(header []string) ([Dim + 1]int, error) {
	var col [Dim + 1]int
	want := append(FeatureNames[:], "species")
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		j := -1
		for k, w := range want {
			if h == w {
				j = k
			}
		}
		if j < 0 || seen[h] {
			return col, fmt.Errorf("line 1: bad header %q: want the columns %s", strings.Join(header, ","), CSVHeader)
		}
		seen[h] = true
		col[j] = i
	}
	return col, nil
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			return fmt.Errorf("line %d: want %d columns (%s)", pe.Line, Dim+1, CSVHeader)
		}
		return fmt.Errorf("line %d, column %d: %w", pe.Line, pe.Column, pe.Err)
	}
	return fmt.Errorf("reading CSV: %w", err)
}

// WriteCSV writes samples in the format ParseCSV reads (ids are not written:
// they are the line order).
func WriteCSV(w io.Writer, samples []Sample) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(strings.Split(CSVHeader, ",")); err != nil {
		return err
	}
	rec := make([]string, Dim+1)
	for _, s := range samples {
		for i, v := range s.Features {
			rec[i] = strconv.FormatFloat(v, 'g', -1, 64)
		}
		rec[Dim] = s.Species
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
