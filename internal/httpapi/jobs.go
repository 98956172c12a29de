package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/jobs"
	"github.com/irisknn/irisknn/internal/knn"
)

// jobRequest is the body of POST /jobs. Which fields apply depends on type:
// batch_predict takes instances, k, metric and weights (a string);
// evaluate takes k_min, k_max, metrics, weights (a list) and folds.
type jobRequest struct {
	Type      string          `json:"type"`
	Instances json.RawMessage `json:"instances"`
	K         *int            `json:"k"`
	Metric    *string         `json:"metric"`
	Weights   json.RawMessage `json:"weights"`
	KMin      *int            `json:"k_min"`
	KMax      *int            `json:"k_max"`
	Metrics   []string        `json:"metrics"`
	Folds     *int            `json:"folds"`

	rows   []featuresJSON // the batch: Instances decoded, or the rows of a CSV body
	labels []string       // a CSV body's label column, when it has one
}

// jobSpec converts the request into a job spec; the queue checks it
// (Spec.Check, the one check of a job).
func (s *Server) jobSpec(req *jobRequest, snap *dataset.Snapshot) (jobs.Spec, error) {
	switch jobs.Type(req.Type) {
	case jobs.TypeBatchPredict:
		if req.KMin != nil || req.KMax != nil || req.Metrics != nil || req.Folds != nil {
			return jobs.Spec{}, dataset.Invalidf("type", "k_min, k_max, metrics and folds belong to evaluate jobs, not batch_predict")
		}
		var weights *string
		if len(req.Weights) > 0 {
			var w string
			if err := json.Unmarshal(req.Weights, &w); err != nil {
				return jobs.Spec{}, badRequest("weights", "weights must be a string (uniform or distance) for a batch_predict job", err)
			}
			weights = &w
		}
		q, err := s.rules.Settings(snap, req.K, req.Metric, weights)
		if err != nil {
			return jobs.Spec{}, err
		}
		if req.rows == nil {
			return jobs.Spec{}, dataset.Invalidf("instances", "a batch_predict job needs instances (an array of rows)")
		}
		fs := make([][]float64, len(req.rows))
		for i := range req.rows {
			f, err := req.rows[i].values(snap.Schema(), fmt.Sprintf("instances[%d]", i))
			if err != nil {
				return jobs.Spec{}, err
			}
			fs[i] = f
		}
		return jobs.Spec{Type: jobs.TypeBatchPredict, Batch: &jobs.BatchPredict{Instances: fs, Query: q, Labels: req.labels}}, nil
	case jobs.TypeEvaluate:
		if req.rows != nil || req.K != nil || req.Metric != nil {
			return jobs.Spec{}, dataset.Invalidf("type", "instances, k and metric belong to batch_predict jobs; evaluate takes k_min, k_max, metrics, weights and folds")
		}
		e := jobs.DefaultEvaluate()
		if req.KMin != nil {
			e.KMin = *req.KMin
		}
		if req.KMax != nil {
			e.KMax = *req.KMax
		}
		if req.Folds != nil {
			e.Folds = *req.Folds
		}
		if req.Metrics != nil {
			e.Metrics = nil
			for _, m := range req.Metrics {
				pm, err := knn.ParseMetric(m)
				if err != nil {
					return jobs.Spec{}, dataset.Invalidf("metrics", "%v", err)
				}
				e.Metrics = append(e.Metrics, pm)
			}
		}
		if len(req.Weights) > 0 {
			var ws []string
			if err := json.Unmarshal(req.Weights, &ws); err != nil {
				return jobs.Spec{}, badRequest("weights", "weights must be a list of strings (uniform, distance) for an evaluate job", err)
			}
			e.Weights = nil
			for _, w := range ws {
				pw, err := knn.ParseWeights(w)
				if err != nil {
					return jobs.Spec{}, dataset.Invalidf("weights", "%v", err)
				}
				e.Weights = append(e.Weights, pw)
			}
		}
		return jobs.Spec{Type: jobs.TypeEvaluate, Evaluate: &e}, nil
	case "":
		return jobs.Spec{}, dataset.Invalidf("type", "give the job type: %q or %q", jobs.TypeBatchPredict, jobs.TypeEvaluate)
	}
	return jobs.Spec{}, dataset.Invalidf("type", "unknown job type %q: want %q or %q", req.Type, jobs.TypeBatchPredict, jobs.TypeEvaluate)
}

// errNoJobs answers the job routes of a server without a queue.
var errNoJobs = dataset.Unavailable("asynchronous jobs are not configured on this server", nil)

// handleCreateJob serves POST /jobs: 202 with Location: /jobs/{id}. The
// body is a JSON jobRequest, or a CSV of rows for a batch_predict job (see
// csvJobRequest).
func (s *Server) handleCreateJob() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		snap := s.store.Snapshot()
		req, err := s.readJobRequest(w, r, snap.Schema())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		spec, err := s.jobSpec(req, snap)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		j, err := s.jobs.Submit(r.Context(), spec)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Location", "/jobs/"+j.ID)
		writeJSON(w, http.StatusAccepted, 0, jobJSON(j))
	}
}

// readJobRequest reads a JSON body, or a CSV one (text/csv) for a batch.
func (s *Server) readJobRequest(w http.ResponseWriter, r *http.Request, schema *dataset.Schema) (*jobRequest, error) {
	if isCSV(r) {
		return s.csvJobRequest(w, r, schema)
	}
	var req jobRequest
	if err := s.decode(w, r, &req); err != nil {
		return nil, err
	}
	if req.Instances != nil {
		rows, err := parseInstances(req.Instances, schema)
		if err != nil {
			return nil, err
		}
		req.rows = rows
	}
	return &req, nil
}

// requireJobs answers 503 on the job routes when no queue is configured.
func (s *Server) requireJobs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.jobs == nil {
			s.writeError(w, r, errNoJobs)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// getJob looks up the job named by the {id} path parameter, writing the
// error response when there is none.
func (s *Server) getJob(w http.ResponseWriter, r *http.Request) (jobs.Job, bool) {
	j, err := s.jobs.Get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return j, false
	}
	return j, true
}

// handleGetJob serves GET /jobs/{id}.
func (s *Server) handleGetJob() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		j, ok := s.getJob(w, r)
		if !ok {
			return
		}
		if !j.Status.Final() {
			w.Header().Set("Retry-After", "1")
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, 0, jobJSON(j))
	}
}

// handleCancelJob serves DELETE /jobs/{id}: the job, now cancelled; 409 if
// it had already finished.
func (s *Server) handleCancelJob() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		j, err := s.jobs.Cancel(r.Context(), chi.URLParam(r, "id"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, 0, jobJSON(j))
	}
}

// handleListJobs serves GET /jobs?limit=&cursor=: recent jobs, newest first,
// with status and progress but no results. A client that may write (the key,
// or no key configured) sees each job whole; any other sees the queue's
// activity only: no ids (an id is what lets a client read a result or cancel
// a job), no errors and no notices.
func (s *Server) handleListJobs() http.HandlerFunc {
	type response struct {
		Jobs       []jobs.Job `json:"jobs"`
		NextCursor string     `json:"next_cursor,omitempty"`
		Limit      int        `json:"limit"`
		// Redacted is true when the caller may not write: ids, errors
		// and details are left out.
		Redacted bool `json:"redacted"`
	}
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := queryParams(r, "limit", "cursor")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		limit, err := queryInt(q, "limit", defaultLimit)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if limit < 1 || limit > maxLimit {
			s.writeError(w, r, dataset.Invalidf("limit", "limit must be between 1 and %d, got %d", maxLimit, limit))
			return
		}
		page, err := s.jobs.List(r.Context(), jobs.ListParams{Limit: limit, Cursor: q.Get("cursor")})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		ok, _ := s.mayWrite(r)
		if !ok {
			for i := range page.Jobs {
				j := &page.Jobs[i]
				j.ID, j.Error, j.Notice = "", "", ""
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, 0, response{Jobs: page.Jobs, NextCursor: page.NextCursor, Limit: limit, Redacted: !ok})
	}
}
