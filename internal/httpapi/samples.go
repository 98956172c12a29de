package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/irisknn/irisknn/internal/dataset"
)

// Paging limits of GET /samples.
const (
	defaultLimit = 50
	maxLimit     = 1000
)

// sampleJSON is a sample on the wire.
type sampleJSON struct {
	ID       int64                `json:"id"`
	Features [dataset.Dim]float64 `json:"features"`
	Species  string               `json:"species"`
}

func toSampleJSON(s dataset.Sample) sampleJSON {
	return sampleJSON{ID: s.ID, Features: s.Features, Species: s.Species}
}

// sampleRequest is the body of POST /samples and PUT /samples/{id}.
type sampleRequest struct {
	ID       *int64        `json:"id"`
	Features *featuresJSON `json:"features"`
	Species  *string       `json:"species"`
}

// sample converts the request into a domain sample with the given id.
func (req *sampleRequest) sample(id int64) (dataset.Sample, error) {
	if req.Features == nil {
		return dataset.Sample{}, dataset.Invalidf("features", "features is required: an array of %d numbers or an object with the named measurements", dataset.Dim)
	}
	f, err := req.Features.features("features")
	if err != nil {
		return dataset.Sample{}, err
	}
	if req.Species == nil || *req.Species == "" {
		return dataset.Sample{}, dataset.Invalidf("species", "species is required")
	}
	return dataset.Sample{ID: id, Features: f, Species: *req.Species}, nil
}

// pathID parses the {id} path parameter: a positive decimal integer.
func pathID(r *http.Request) (int64, error) {
	raw := chi.URLParam(r, "id")
	bad := func() error {
		return badRequest("id", fmt.Sprintf("sample id must be a positive integer, got %q", raw), nil)
	}
	if raw == "" || len(raw) > 19 {
		return 0, bad()
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] < '0' || raw[i] > '9' {
			return 0, bad()
		}
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id < 1 {
		return 0, bad()
	}
	return id, nil
}

// queryInt reads an optional integer query parameter.
func queryInt(q url.Values, name string, def int) (int, error) {
	raw := q.Get(name)
	if raw == "" {
		return def, nil
	}
	v, err := strconv.Atoi(raw)
	if err != nil {
		return 0, badRequest(name, fmt.Sprintf("%s must be an integer, got %q", name, raw), err)
	}
	return v, nil
}

// handleListSamples serves GET /samples?species=&limit=&offset=&after_id=.
func (s *Server) handleListSamples() http.HandlerFunc {
	type response struct {
		Samples []sampleJSON `json:"samples"`
		Total   int          `json:"total"`
		Limit   int          `json:"limit"`
		Offset  int          `json:"offset"`
		// NextAfterID is the cursor of the next page (the last id of
		// this one) when this page is full; absent on the last page.
		NextAfterID    *int64 `json:"next_after_id,omitempty"`
		DatasetVersion uint64 `json:"dataset_version"`
	}
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		for name := range q {
			if name != "species" && name != "limit" && name != "offset" && name != "after_id" {
				s.writeError(w, r, badRequest(name, fmt.Sprintf("unknown query parameter %q: want species, limit, offset or after_id", name), nil))
				return
			}
		}
		var after int64
		if raw := q.Get("after_id"); raw != "" {
			v, err := strconv.ParseInt(raw, 10, 64)
			if err != nil {
				s.writeError(w, r, badRequest("after_id", fmt.Sprintf("after_id must be an integer (the last id of the page before), got %q", raw), err))
				return
			}
			if v < 0 {
				s.writeError(w, r, dataset.Invalidf("after_id", "after_id must be 0 or more, got %d", v))
				return
			}
			if q.Get("offset") != "" {
				s.writeError(w, r, dataset.Invalidf("offset", "give after_id or offset, not both: after_id pages at the same cost at any depth"))
				return
			}
			after = v
		}
		limit, err := queryInt(q, "limit", defaultLimit)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		offset, err := queryInt(q, "offset", 0)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		snap := s.store.Snapshot()
		species := q.Get("species")
		switch {
		case limit < 1 || limit > maxLimit:
			err = dataset.Invalidf("limit", "limit must be between 1 and %d, got %d", maxLimit, limit)
		case offset < 0:
			err = dataset.Invalidf("offset", "offset must be 0 or more, got %d", offset)
		case species != "":
			if _, ok := snap.ClassIndex(species); !ok {
				err = dataset.Invalidf("species", "unknown species %q: want one of %v", species, snap.Classes())
			}
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		page, total := snap.List(dataset.Filter{Species: species, Limit: limit, Offset: offset, AfterID: after})
		resp := response{Samples: make([]sampleJSON, len(page)), Total: total, Limit: limit, Offset: offset, DatasetVersion: snap.Version()}
		for i, x := range page {
			resp.Samples[i] = toSampleJSON(x)
		}
		if len(page) == limit {
			last := page[len(page)-1].ID
			resp.NextAfterID = &last
		}
		writeJSON(w, http.StatusOK, snap.Version(), resp)
	}
}

// handleGetSample serves GET /samples/{id}.
func (s *Server) handleGetSample() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		snap := s.store.Snapshot()
		x, ok := snap.Get(id)
		if !ok {
			s.writeError(w, r, dataset.NotFoundf("no sample with id %d", id))
			return
		}
		w.Header().Set("ETag", x.ETag())
		writeJSON(w, http.StatusOK, snap.Version(), toSampleJSON(x))
	}
}

// handleCreateSample serves POST /samples.
func (s *Server) handleCreateSample() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req sampleRequest
		if err := s.decode(w, r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		if req.ID != nil {
			s.writeError(w, r, dataset.Invalidf("id", "id is assigned by the server on POST; use PUT /samples/{id} to choose one"))
			return
		}
		x, err := req.sample(0)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		x, snap, err := s.store.Create(r.Context(), x.Features, x.Species)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Location", fmt.Sprintf("/samples/%d", x.ID))
		w.Header().Set("ETag", x.ETag())
		writeJSON(w, http.StatusCreated, snap.Version(), toSampleJSON(x))
	}
}

// handlePutSample serves PUT /samples/{id}: replace, or create with that id.
func (s *Server) handlePutSample() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		var req sampleRequest
		if err := s.decode(w, r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		if req.ID != nil && *req.ID != id {
			s.writeError(w, r, dataset.Invalidf("id", "id in the body (%d) differs from the id in the path (%d)", *req.ID, id))
			return
		}
		x, err := req.sample(id)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		created, snap, err := s.store.Put(r.Context(), x, r.Header.Get("If-Match"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
			w.Header().Set("Location", fmt.Sprintf("/samples/%d", x.ID))
		}
		w.Header().Set("ETag", x.ETag())
		writeJSON(w, status, snap.Version(), toSampleJSON(x))
	}
}

// handleDeleteSample serves DELETE /samples/{id}.
func (s *Server) handleDeleteSample() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		snap, err := s.store.Delete(r.Context(), id, r.Header.Get("If-Match"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("X-Dataset-Version", strconv.FormatUint(snap.Version(), 10))
		w.WriteHeader(http.StatusNoContent)
	}
}

// datasetJSON describes the training set as a whole.
type datasetJSON struct {
	DatasetVersion uint64         `json:"dataset_version"`
	Total          int            `json:"total"`
	NextID         int64          `json:"next_id"`
	Features       []string       `json:"features"`
	Classes        []string       `json:"classes"`
	Counts         map[string]int `json:"counts"`
}

func toDatasetJSON(snap *dataset.Snapshot) datasetJSON {
	d := datasetJSON{
		DatasetVersion: snap.Version(),
		Total:          snap.Len(),
		NextID:         snap.NextID(),
		Features:       dataset.FeatureNames[:],
		Classes:        snap.Classes(),
		Counts:         map[string]int{},
	}
	for i, n := range snap.Counts() {
		d.Counts[snap.Classes()[i]] = n
	}
	return d
}

// handleDataset serves GET /dataset.
func (s *Server) handleDataset() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		snap := s.store.Snapshot()
		writeJSON(w, http.StatusOK, snap.Version(), toDatasetJSON(snap))
	}
}

// handleReset serves POST /dataset/reset: restore the loaded samples.
func (s *Server) handleReset() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		snap, err := s.store.Reset(r.Context())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, snap.Version(), toDatasetJSON(snap))
	}
}
