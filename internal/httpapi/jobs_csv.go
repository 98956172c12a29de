package httpapi

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/jobs"
)

// isCSV reports whether a request's body is CSV.
func isCSV(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "text/csv"
}

// csvJobRequest reads POST /jobs with a CSV body: a batch_predict job whose
// rows are the CSV's, with k, metric and weights in the query string. The
// header names the schema's feature columns (in any order); other columns
// (a label, an id) are ignored.
func (s *Server) csvJobRequest(w http.ResponseWriter, r *http.Request, schema *dataset.Schema) (*jobRequest, error) {
	q := r.URL.Query()
	for name := range q {
		if !slices.Contains([]string{"type", "k", "metric", "weights"}, name) {
			return nil, badRequest(name, fmt.Sprintf("unknown query parameter %q: a CSV job takes type, k, metric and weights", name), nil)
		}
	}
	req := &jobRequest{Type: q.Get("type")}
	if req.Type == "" {
		req.Type = string(jobs.TypeBatchPredict)
	}
	if req.Type != string(jobs.TypeBatchPredict) {
		return nil, dataset.Invalidf("type", "a CSV body is for batch_predict jobs, not %q", req.Type)
	}
	if q.Has("k") {
		k, err := queryInt(q, "k", 0)
		if err != nil {
			return nil, err
		}
		req.K = &k
	}
	if q.Has("metric") {
		m := q.Get("metric")
		req.Metric = &m
	}
	if q.Has("weights") {
		req.Weights, _ = json.Marshal(q.Get("weights"))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, &httpError{status: http.StatusRequestEntityTooLarge,
				msg: fmt.Sprintf("request body is larger than the limit of %d bytes", s.cfg.MaxBodyBytes)}
		}
		return nil, badRequest("", "could not read the request body", err)
	}
	rows, err := parseFeatureCSV(body, schema)
	if err != nil {
		return nil, err
	}
	req.rows = make([]featuresJSON, len(rows))
	for i, f := range rows {
		req.rows[i] = featuresJSON{vals: f}
	}
	return req, nil
}

// parseFeatureCSV reads rows of the schema's features from a CSV with a
// header.
func parseFeatureCSV(body []byte, schema *dataset.Schema) ([][]float64, error) {
	cr := csv.NewReader(bytes.NewReader(body))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, dataset.Invalidf("instances", "the CSV is empty: give a header (%s) and at least one row", strings.Join(schema.Features(), ","))
	}
	if err != nil {
		return nil, badRequest("", "the body is not valid CSV", err)
	}
	col := make([]int, schema.Dim())
	for i, name := range schema.Features() {
		col[i] = slices.IndexFunc(head, func(h string) bool { return strings.TrimSpace(h) == name })
		if col[i] < 0 {
			return nil, dataset.Invalidf("instances", "the CSV header must name the columns %s; it has %q", schema.FeatureList(), head)
		}
	}
	var rows [][]float64
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, badRequest("", "the body is not valid CSV", err)
		}
		f := make([]float64, len(col))
		for i, c := range col {
			if c >= len(rec) {
				return nil, dataset.Invalidf(fmt.Sprintf("instances[%d]", len(rows)), "CSV line %d has %d fields, fewer than the header", line, len(rec))
			}
			v, err := dataset.ParseNumber(strings.TrimSpace(rec[c]))
			if err != nil {
				return nil, dataset.Invalidf(fmt.Sprintf("instances[%d]", len(rows)), "CSV line %d: %s is not a number (%v): %q", line, schema.Features()[i], err, rec[c])
			}
			f[i] = v
		}
		rows = append(rows, f)
	}
	return rows, nil
}

// handleJobResult serves GET /jobs/{id}/result: a succeeded job's result
// alone, as JSON, or as CSV with ?format=csv or Accept: text/csv.
func (s *Server) handleJobResult() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		j, ok := s.getJob(w, r)
		if !ok {
			return
		}
		if j.Status != jobs.StatusSucceeded {
			if !j.Status.Final() {
				w.Header().Set("Retry-After", "1")
			}
			s.writeError(w, r, &dataset.Error{Kind: dataset.KindConflict,
				Message: fmt.Sprintf("job %s has no result: it is %s; see /jobs/%s", j.ID, j.Status, j.ID)})
			return
		}
		format := r.URL.Query().Get("format")
		if format == "" && strings.Contains(r.Header.Get("Accept"), "text/csv") {
			format = "csv"
		}
		switch format {
		case "", "json":
			writeJSONBytes(w, http.StatusOK, 0, append(j.Result, '\n'))
		case "csv":
			b, err := resultCSV(j)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, j.Type, j.ID))
			w.Write(b)
		default:
			s.writeError(w, r, badRequest("format", fmt.Sprintf("format must be json or csv, got %q", format), nil))
		}
	}
}

// resultCSV converts a job's JSON result into CSV: one line per row of a
// batch (row, species, tie, then the probability of each class), or one
// line per setting of an evaluation.
func resultCSV(j jobs.Job) ([]byte, error) {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	switch j.Type {
	case jobs.TypeBatchPredict:
		var res struct {
			Predictions []struct {
				Species       string             `json:"species"`
				Probabilities map[string]float64 `json:"probabilities"`
				Tie           bool               `json:"tie"`
			} `json:"predictions"`
		}
		if err := json.Unmarshal(j.Result, &res); err != nil {
			return nil, err
		}
		var classes []string
		if len(res.Predictions) > 0 {
			for c := range res.Predictions[0].Probabilities {
				classes = append(classes, c)
			}
			slices.Sort(classes)
		}
		head := []string{"row", "species", "tie"}
		for _, c := range classes {
			head = append(head, "p_"+c)
		}
		cw.Write(head)
		for i, p := range res.Predictions {
			rec := []string{strconv.Itoa(i), p.Species, strconv.FormatBool(p.Tie)}
			for _, c := range classes {
				rec = append(rec, f(p.Probabilities[c]))
			}
			cw.Write(rec)
		}
	case jobs.TypeEvaluate:
		var res struct {
			Results []struct {
				K        int     `json:"k"`
				Metric   string  `json:"metric"`
				Weights  string  `json:"weights"`
				Accuracy float64 `json:"accuracy"`
				Correct  int     `json:"correct"`
				Total    int     `json:"total"`
			} `json:"results"`
		}
		if err := json.Unmarshal(j.Result, &res); err != nil {
			return nil, err
		}
		cw.Write([]string{"k", "metric", "weights", "accuracy", "correct", "total"})
		for _, r := range res.Results {
			cw.Write([]string{strconv.Itoa(r.K), r.Metric, r.Weights, f(r.Accuracy), strconv.Itoa(r.Correct), strconv.Itoa(r.Total)})
		}
	}
	cw.Flush()
	return buf.Bytes(), cw.Error()
}
