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
	"github.com/irisknn/irisknn/internal/novelty"
)

// isCSV reports whether a request's body is CSV.
func isCSV(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "text/csv"
}

// csvJobRequest reads POST /jobs with a CSV body: a batch_predict job whose
// rows are the CSV's, with k, metric and weights in the query string. The
// header names the schema's feature columns (in any order). A column named
// after the schema's label is kept: the result scores the predictions
// against it. Other columns (an id) are ignored.
func (s *Server) csvJobRequest(w http.ResponseWriter, r *http.Request, schema *dataset.Schema) (*jobRequest, error) {
	q, err := queryParams(r, "type", "k", "metric", "weights")
	if err != nil {
		return nil, err
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
	rows, labels, err := parseFeatureCSV(body, schema)
	if err != nil {
		return nil, err
	}
	req.labels = labels
	req.rows = make([]featuresJSON, len(rows))
	for i, f := range rows {
		req.rows[i] = featuresJSON{vals: f}
	}
	return req, nil
}

// parseFeatureCSV reads rows of the schema's features from a CSV with a
// header, and the label column's cells when the header names it (nil
// when it does not).
func parseFeatureCSV(body []byte, schema *dataset.Schema) ([][]float64, []string, error) {
	cr := csv.NewReader(bytes.NewReader(body))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, nil, dataset.Invalidf("instances", "the CSV is empty: give a header (%s) and at least one row", strings.Join(schema.Features(), ","))
	}
	if err != nil {
		return nil, nil, badRequest("", "the body is not valid CSV", err)
	}
	labelCol := slices.IndexFunc(head, func(h string) bool { return strings.TrimSpace(h) == schema.Label() })
	var labels []string
	if labelCol >= 0 {
		labels = []string{}
	}
	col := make([]int, schema.Dim())
	for i, name := range schema.Features() {
		col[i] = slices.IndexFunc(head, func(h string) bool { return strings.TrimSpace(h) == name })
		if col[i] < 0 {
			return nil, nil, dataset.Invalidf("instances", "the CSV header must name the columns %s; it has %q", schema.FeatureList(), head)
		}
	}
	var rows [][]float64
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, badRequest("", "the body is not valid CSV", err)
		}
		f := make([]float64, len(col))
		for i, c := range col {
			if c >= len(rec) {
				return nil, nil, dataset.Invalidf(fmt.Sprintf("instances[%d]", len(rows)), "CSV line %d has %d fields, fewer than the header", line, len(rec))
			}
			v, err := dataset.ParseNumber(strings.TrimSpace(rec[c]))
			if err != nil {
				return nil, nil, dataset.Invalidf(fmt.Sprintf("instances[%d]", len(rows)), "CSV line %d: %s is not a number (%v): %q", line, schema.Features()[i], err, rec[c])
			}
			f[i] = v
		}
		if labels != nil {
			l := ""
			if labelCol < len(rec) {
				l = strings.TrimSpace(rec[labelCol])
			}
			labels = append(labels, l)
		}
		rows = append(rows, f)
	}
	return rows, labels, nil
}

// handleJobResult serves GET /jobs/{id}/result: a succeeded job's result
// alone, as JSON, or as CSV with ?format=csv or Accept: text/csv.
func (s *Server) handleJobResult() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := queryParams(r, "format")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
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
		format := q.Get("format")
		if format == "" && strings.Contains(r.Header.Get("Accept"), "text/csv") {
			format = "csv"
		}
		switch format {
		case "", "json":
			writeJSONBytes(w, http.StatusOK, 0, append(resultJSON(j.Result), '\n'))
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

// resultCSV writes a job's result as CSV: one line per row of a batch
// (row, the input features, the given label and whether the prediction
// matched it when the batch carried labels, the label, tie, exact_match,
// novelty_percentile, unusual, then the probability of each class), or one
// line per setting of an evaluation.
func resultCSV(j jobs.Job) ([]byte, error) {
	res, err := jobs.DecodeResult(j.Result)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	switch {
	case res == nil:
	case res.Batch != nil:
		b := res.Batch
		head := append([]string{"row"}, b.Features...)
		if b.AgainstLabels != nil {
			head = append(head, "given_"+b.Label, "correct")
		}
		head = append(head, b.Label, "tie", "exact_match", "novelty_percentile", "unusual")
		for _, c := range b.Classes {
			head = append(head, "p_"+c)
		}
		cw.Write(head)
		for i, p := range b.Predictions {
			rec := []string{strconv.Itoa(i)}
			if i < len(b.Instances) {
				for _, v := range b.Instances[i] {
					rec = append(rec, f(v))
				}
			}
			class := b.Classes[p.Class]
			if b.AgainstLabels != nil {
				given := ""
				if i < len(b.Labels) {
					given = b.Labels[i]
				}
				rec = append(rec, given, strconv.FormatBool(given != "" && given == class))
			}
			var nov novelty.Assessment
			if i < len(b.Novelty) {
				nov = b.Novelty[i]
			}
			rec = append(rec, class, strconv.FormatBool(p.Tie), strconv.FormatBool(p.ExactOnly), f(nov.Percentile), strconv.FormatBool(nov.Unusual))
			for _, v := range p.Probabilities {
				rec = append(rec, f(v))
			}
			cw.Write(rec)
		}
	case res.Evaluate != nil:
		cw.Write([]string{"k", "metric", "weights", "accuracy", "correct", "total"})
		for _, r := range res.Evaluate.Results {
			cw.Write([]string{strconv.Itoa(r.K), r.Metric, r.Weights, f(r.Accuracy), strconv.Itoa(r.Correct), strconv.Itoa(r.Total)})
		}
	}
	cw.Flush()
	return buf.Bytes(), cw.Error()
}

// resultJSON encodes a job's kept result: a batch as a POST /predict batch
// answer (by the same encoder) with the rows, their labels and the score
// against them, an evaluation as it is. A result this build cannot read
// (kept by another) is served as it was kept.
func resultJSON(raw json.RawMessage) json.RawMessage {
	res, err := jobs.DecodeResult(raw)
	switch {
	case err != nil || res == nil:
		return raw
	case res.Batch != nil:
		b := res.Batch
		if len(b.Novelty) != len(b.Predictions) {
			return raw
		}
		out := appendBatch(nil, wireNamesFor(b.Label, b.Classes), b.Predictions, b.Novelty, &b.Query, b.DatasetVersion)
		out = bytes.TrimSuffix(bytes.TrimSuffix(out, []byte("\n")), []byte("}"))
		extra, err := json.Marshal(struct {
			Features      []string         `json:"features"`
			Instances     [][]float64      `json:"instances"`
			Labels        []string         `json:"labels,omitempty"`
			AgainstLabels *jobs.LabelScore `json:"against_labels,omitempty"`
		}{b.Features, b.Instances, b.Labels, b.AgainstLabels})
		if err != nil {
			return raw
		}
		out = append(out, ',')
		return append(out, extra[1:]...)
	case res.Evaluate != nil:
		out, err := json.Marshal(res.Evaluate)
		if err != nil {
			return raw
		}
		return out
	default:
		return raw
	}
}

// jobJSON is a job on the wire, its result encoded by resultJSON.
func jobJSON(j jobs.Job) any {
	type job jobs.Job
	return struct {
		job
		Result json.RawMessage `json:"result,omitempty"`
	}{job(j), resultJSON(j.Result)}
}
