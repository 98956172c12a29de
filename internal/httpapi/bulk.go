package httpapi

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/irisknn/irisknn/internal/dataset"
)

// DefaultMaxImportBytes is the default bound of a POST /dataset/import body
// (-max-import): 1 GiB, well above a million rows (about 33 MB as CSV).
const DefaultMaxImportBytes = 1 << 30

// Media types of bulk bodies.
const (
	mediaCSV    = "text/csv"
	mediaNDJSON = "application/x-ndjson"
)

// handleImport serves POST /dataset/import?mode=append|replace|upsert: a
// CSV (text/csv: a header with the schema's columns and, optionally, id)
// or NDJSON (application/x-ndjson: one sample object a line, as POST
// /samples takes, with id for upsert) body, streamed: each row is parsed
// and checked as it arrives, and the rows are held in their parsed form
// only. It is one change: one new version, or nothing and a 422 naming the
// first bad line and column.
func (s *Server) handleImport() http.HandlerFunc {
	type response struct {
		Mode    string      `json:"mode"`
		Rows    int         `json:"rows"`
		Dataset datasetJSON `json:"dataset"`
	}
	return func(w http.ResponseWriter, r *http.Request) {
		imp, ok := s.store.(dataset.Importer)
		if !ok {
			s.writeError(w, r, &httpError{status: http.StatusNotImplemented, msg: "this store does not take bulk imports (the in-memory and -data-dir stores do)"})
			return
		}
		q, err := queryParams(r, "mode")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		modeName := q.Get("mode")
		if modeName == "" {
			modeName = "append"
		}
		mode, err := dataset.ParseImportMode(modeName)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt != mediaCSV && mt != mediaNDJSON {
			s.writeError(w, r, &httpError{status: http.StatusUnsupportedMediaType,
				msg: fmt.Sprintf("Content-Type %q is not an import format: send text/csv (header = the columns, optionally with id) or application/x-ndjson (one sample object a line)", r.Header.Get("Content-Type"))})
			return
		}
		body := http.MaxBytesReader(w, r.Body, s.cfg.MaxImportBytes)
		snap := s.store.Snapshot()
		var (
			next    func() (dataset.Sample, int, bool, error)
			withIDs bool
		)
		if mt == mediaCSV {
			rows, err := dataset.NewCSVRows(body, snap.Schema())
			if err != nil {
				s.writeError(w, r, s.importReadError(err))
				return
			}
			next, withIDs = rows.Next, rows.HasID()
		} else {
			nd := &ndjsonRows{br: bufio.NewReaderSize(body, 1<<20), schema: snap.Schema()}
			next = nd.next
			withIDs = mode != dataset.ImportAppend // NDJSON rows name their ids; checked per line
		}
		rows, err := dataset.NewImportReader(snap, mode, next).ReadAll()
		if err != nil {
			s.writeError(w, r, s.importReadError(err))
			return
		}
		if mt == mediaNDJSON && mode == dataset.ImportReplace {
			withIDs = rows[0].ID != 0
			for i, x := range rows {
				if (x.ID != 0) != withIDs {
					s.writeError(w, r, dataset.Invalidf(fmt.Sprintf("row %d: id", i+1), "row %d: give an id on every row or on none (mode=replace)", i+1))
					return
				}
			}
		}
		snap, err = imp.Import(r.Context(), mode, rows, withIDs)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, snap.Version(), response{Mode: mode.String(), Rows: len(rows), Dataset: toDatasetJSON(snap)})
	}
}

// importReadError maps a body over -max-import to 413 naming the limit.
func (s *Server) importReadError(err error) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return &httpError{status: http.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("the import is larger than the limit of %d bytes (-max-import)", s.cfg.MaxImportBytes), err: err}
	}
	return err
}

// ndjsonRows reads NDJSON import rows: each line one object as POST
// /samples and PUT /samples/{id} take (with "id" for upsert and replace),
// decoded by the same strict decoder.
type ndjsonRows struct {
	br     *bufio.Reader
	schema *dataset.Schema
	line   int
}

func (nd *ndjsonRows) next() (dataset.Sample, int, bool, error) {
	for {
		b, err := nd.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return dataset.Sample{}, 0, false, dataset.Invalidf(fmt.Sprintf("line %d", nd.line+1), "line %d is longer than %d bytes", nd.line+1, nd.br.Size())
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return dataset.Sample{}, 0, false, err
		}
		if len(b) == 0 && errors.Is(err, io.EOF) {
			return dataset.Sample{}, 0, false, io.EOF
		}
		nd.line++
		if len(bytes.TrimSpace(b)) == 0 {
			if errors.Is(err, io.EOF) {
				return dataset.Sample{}, 0, false, io.EOF
			}
			continue
		}
		at := func(field string, msg string) error {
			name := fmt.Sprintf("line %d", nd.line)
			if field != "" {
				name += ": " + field
			}
			return dataset.Invalidf(name, "%s: %s", name, msg)
		}
		req, derr := decodeSampleJSON(b, nd.schema)
		if derr != nil {
			status, msg, fields := errorStatus(derr)
			field := ""
			if len(fields) > 0 {
				field = fields[0].Field
			}
			if status == http.StatusBadRequest || status == http.StatusUnprocessableEntity {
				return dataset.Sample{}, nd.line, false, at(field, msg)
			}
			return dataset.Sample{}, nd.line, false, derr
		}
		var id int64
		if req.ID != nil {
			id = *req.ID
		}
		x, serr := req.decoded(nd.schema, id)
		if serr != nil {
			_, msg, fields := errorStatus(serr)
			field := ""
			if len(fields) > 0 {
				field = fields[0].Field
			}
			return dataset.Sample{}, nd.line, false, at(field, msg)
		}
		return x, nd.line, req.ID != nil, nil
	}
}

// exportFormat returns the bulk format a GET /samples asks for ("csv",
// "ndjson"), or "" for a JSON page. ?format= wins over Accept.
func exportFormat(r *http.Request, q url.Values) (string, error) {
	switch f := q.Get("format"); f {
	case "csv", "ndjson":
		return f, nil
	case "json":
		return "", nil
	case "":
	default:
		return "", dataset.Invalidf("format", "format must be json, csv or ndjson, got %q", f)
	}
	accept := r.Header.Get("Accept")
	switch {
	case strings.Contains(accept, mediaCSV):
		return "csv", nil
	case strings.Contains(accept, mediaNDJSON):
		return "ndjson", nil
	}
	return "", nil
}

// exportSamples streams every sample of snap (of one species when species
// is set) in id order, as CSV (id, then the schema's columns) or NDJSON
// (one sample object a line, as GET /samples/{id} answers), at that one
// version, named in X-Dataset-Version.
func (s *Server) exportSamples(w http.ResponseWriter, snap *dataset.Snapshot, format, label string) {
	h := w.Header()
	if format == "csv" {
		h.Set("Content-Type", mediaCSV+"; charset=utf-8")
	} else {
		h.Set("Content-Type", mediaNDJSON)
	}
	h.Set("X-Dataset-Version", strconv.FormatUint(snap.Version(), 10))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 256<<10)
	if format == "csv" {
		_ = snap.WriteCSVWithIDs(bw, label)
		_ = bw.Flush()
		return
	}
	// The one sample encoding of the API, a line each.
	schema := snap.Schema()
	var line []byte
	snap.AllOf(label, func(x dataset.Sample, _ int) bool {
		line = append(toSampleJSON(schema, x).appendJSON(line[:0]), '\n')
		_, err := bw.Write(line)
		return err == nil
	})
	_ = bw.Flush()
}
