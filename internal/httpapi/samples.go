package httpapi

import (
	"encoding/json"
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

// sampleJSON is a sample on the wire: {"id", "features" (an array in
// schema order), and the label under the schema's label name}.
type sampleJSON struct {
	x     dataset.Sample
	label []byte // the quoted label key
}

func toSampleJSON(schema *dataset.Schema, x dataset.Sample) sampleJSON {
	return sampleJSON{x: x, label: appendQuoted(nil, schema.Label())}
}

// MarshalJSON implements json.Marshaler.
func (s sampleJSON) MarshalJSON() ([]byte, error) {
	return s.appendJSON(make([]byte, 0, 64+24*len(s.x.Features))), nil
}

// appendJSON appends the sample's JSON object to b: the one sample
// encoding of the API (a response, a page's element, an export line, a
// change).
func (s sampleJSON) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, s.x.ID, 10)
	b = append(b, `,"features":[`...)
	for i, v := range s.x.Features {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendFloat(b, v)
	}
	b = append(b, "],"...)
	b = append(b, s.label...)
	b = append(b, ':')
	b = appendQuoted(b, s.x.Label)
	return append(b, '}')
}

// writeSample answers one sample (GET, POST and PUT /samples) with its
// ETag, encoded straight into the answer: it is already valid JSON, so it
// does not go through json.Marshal's check of a Marshaler's output.
func writeSample(w http.ResponseWriter, status int, version uint64, schema *dataset.Schema, x dataset.Sample) {
	var buf [256]byte
	b := toSampleJSON(schema, x).appendJSON(buf[:0])
	w.Header()["Etag"] = []string{etag(x)}
	writeJSONBytes(w, status, version, append(b, '\n'))
}

// sampleRequest is the body of POST /samples and PUT /samples/{id}: id
// (optional), features and the label under the schema's label name.
type sampleRequest struct {
	ID       *int64
	Features *featuresJSON
	Label    *string
}

// decodeSample reads a sample body for schema.
func (s *Server) decodeSample(w http.ResponseWriter, r *http.Request, schema *dataset.Schema) (sampleRequest, error) {
	var req sampleRequest
	if err := s.withJSONBody(w, r, func(body []byte) error {
		var err error
		req, err = decodeSampleJSON(body, schema)
		return err
	}); err != nil {
		return req, err
	}
	return req, nil
}

// decodeSampleJSON decodes one sample object for schema: the rules of
// every sample body (POST and PUT /samples, each NDJSON import line). The
// common bodies take a hand-written parser; the rest, every error
// included, decodeSampleSlow, so that their answers are encoding/json's
// (TestDecodeSampleMatchesEncodingJSON, FuzzDecodeSample).
func decodeSampleJSON(body []byte, schema *dataset.Schema) (sampleRequest, error) {
	p := predictParser{b: body, schema: schema, nums: make([]float64, 0, schema.Dim())}
	if req, ok := p.sample(); ok {
		return req, nil
	}
	return decodeSampleSlow(body, schema)
}

// decodeSampleSlow decodes a sample body through encoding/json.
func decodeSampleSlow(body []byte, schema *dataset.Schema) (sampleRequest, error) {
	var (
		req sampleRequest
		obj map[string]json.RawMessage
	)
	label := schema.Label()
	if err := decodeJSONKeys(body, &obj, []string{"id", "features", label}); err != nil {
		return req, err
	}
	if raw, ok := obj["id"]; ok {
		var id int64
		if err := json.Unmarshal(raw, &id); err != nil {
			return req, badRequest("id", "id must be an integer, and in range", err)
		}
		req.ID = &id
	}
	if raw, ok := obj["features"]; ok {
		f, err := parseFeatures(raw, schema, "features")
		if err != nil {
			return req, err
		}
		req.Features = &f
	}
	if raw, ok := obj[label]; ok {
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return req, badRequest(label, fmt.Sprintf("%s must be a string", label), err)
		}
		req.Label = &v
	}
	return req, nil
}

// sample converts the request into a valid domain sample for snap with
// the given id (snap.NewSample is the one check of a written sample).
func (req *sampleRequest) sample(snap *dataset.Snapshot, id int64) (dataset.ValidSample, error) {
	x, err := req.decoded(snap.Schema(), id)
	if err != nil {
		return dataset.ValidSample{}, err
	}
	return snap.NewSample(x.ID, x.Features, x.Label)
}

// decoded returns the sample as sent, its features in schema order, with
// the fields a sample needs present; the set checks it (Snapshot.NewSample,
// or an import's ImportReader).
func (req *sampleRequest) decoded(schema *dataset.Schema, id int64) (dataset.Sample, error) {
	if req.Features == nil {
		return dataset.Sample{}, dataset.Invalidf("features", "features is required: an array of %d numbers or an object naming %s", schema.Dim(), schema.FeatureList())
	}
	f, err := req.Features.values(schema, "features")
	if err != nil {
		return dataset.Sample{}, err
	}
	if req.Label == nil || *req.Label == "" {
		return dataset.Sample{}, dataset.Invalidf(schema.Label(), "%s is required", schema.Label())
	}
	return dataset.Sample{ID: id, Features: f, Label: *req.Label}, nil
}

// pathID parses the {id} path parameter: a positive decimal integer in its
// one canonical spelling, the one the API writes (digits, no sign, no
// leading zero, not %-encoded), so that one sample has one URL: /samples/0001
// and /samples/%31 are refused alike.
func pathID(r *http.Request) (int64, error) {
	raw := chi.URLParam(r, "id")
	bad := func() error {
		return badRequest("id", fmt.Sprintf("sample id must be a positive integer written as the API writes it (digits, no leading zeros, not %%-encoded), got %q", raw), nil)
	}
	if raw == "" || len(raw) > 19 || raw[0] == '0' {
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

// handleListSamples serves GET /samples?<label>=&limit=&offset=&after_id=
// (the filter is named after the schema's label: species for Iris).
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
		snap := s.store.Snapshot()
		label := snap.Schema().Label()
		q, err := queryParams(r, label, "limit", "offset", "after_id", "format")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		format, err := exportFormat(r, q)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if format != "" {
			// An export: the whole set (or one class) at one version.
			for _, name := range []string{"limit", "offset", "after_id"} {
				if q.Has(name) {
					s.writeError(w, r, dataset.Invalidf(name, "an export (format=%s) streams the whole set: drop %s, or ask for JSON pages", format, name))
					return
				}
			}
			if class := q.Get(label); class != "" {
				if _, ok := snap.ClassIndex(class); !ok {
					s.writeError(w, r, dataset.Invalidf(label, "unknown %s %q: want one of %v", label, class, snap.Classes()))
					return
				}
			}
			s.exportSamples(w, snap, format, q.Get(label))
			return
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
		class := q.Get(label)
		switch {
		case limit < 1 || limit > maxLimit:
			err = dataset.Invalidf("limit", "limit must be between 1 and %d, got %d", maxLimit, limit)
		case offset < 0:
			err = dataset.Invalidf("offset", "offset must be 0 or more, got %d", offset)
		case class != "":
			if _, ok := snap.ClassIndex(class); !ok {
				err = dataset.Invalidf(label, "unknown %s %q: want one of %v", label, class, snap.Classes())
			}
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		page, total := snap.List(dataset.Filter{Label: class, Limit: limit, Offset: offset, AfterID: after})
		resp := response{Samples: make([]sampleJSON, len(page)), Total: total, Limit: limit, Offset: offset, DatasetVersion: snap.Version()}
		for i, x := range page {
			resp.Samples[i] = toSampleJSON(snap.Schema(), x)
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
		writeSample(w, http.StatusOK, snap.Version(), snap.Schema(), x)
	}
}

// handleCreateSample serves POST /samples.
func (s *Server) handleCreateSample() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		snap := s.store.Snapshot()
		schema := snap.Schema()
		req, err := s.decodeSample(w, r, schema)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if req.ID != nil {
			s.writeError(w, r, dataset.Invalidf("id", "id is assigned by the server on POST; use PUT /samples/{id} to choose one"))
			return
		}
		v, err := req.sample(snap, 0)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		x, next, err := s.store.Create(r.Context(), v)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header()["Location"] = []string{"/samples/" + strconv.FormatInt(x.ID, 10)}
		snap = next
		writeSample(w, http.StatusCreated, snap.Version(), schema, x)
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
		snap := s.store.Snapshot()
		schema := snap.Schema()
		req, err := s.decodeSample(w, r, schema)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if req.ID != nil && *req.ID != id {
			s.writeError(w, r, dataset.Invalidf("id", "id in the body (%d) differs from the id in the path (%d)", *req.ID, id))
			return
		}
		v, err := req.sample(snap, id)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		pre, err := precondition(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		x := v.Sample()
		created, snap, err := s.store.Put(r.Context(), v, pre)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
			w.Header()["Location"] = []string{"/samples/" + strconv.FormatInt(x.ID, 10)}
		}
		writeSample(w, status, snap.Version(), schema, x)
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
		pre, err := precondition(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		snap, err := s.store.Delete(r.Context(), id, pre)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("X-Dataset-Version", strconv.FormatUint(snap.Version(), 10))
		w.WriteHeader(http.StatusNoContent)
	}
}

// datasetJSON describes the training set as a whole: its version and
// size, the schema (features in order, the label's name), the classes with
// their counts, the scaler, and the range of each feature in the loaded set.
type datasetJSON struct {
	DatasetVersion uint64         `json:"dataset_version"`
	Total          int            `json:"total"`
	NextID         *int64         `json:"next_id,omitempty"` // absent once no id is left
	Features       []string       `json:"features"`
	Label          string         `json:"label"`
	Classes        []string       `json:"classes"`
	Counts         map[string]int `json:"counts"`
	Scaler         scalerJSON     `json:"scaler"`
	FeatureRanges  []rangeJSON    `json:"feature_ranges"`
}

// scalerJSON is a scaler on the wire: feature i is scaled to
// (x - offset[i]) / scale[i] (none: left as it is).
type scalerJSON struct {
	Kind   string    `json:"kind"`
	Offset []float64 `json:"offset,omitempty"`
	Scale  []float64 `json:"scale,omitempty"`
}

// rangeJSON is the range of one feature.
type rangeJSON struct {
	Name string  `json:"name"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}

func toDatasetJSON(snap *dataset.Snapshot) datasetJSON {
	schema, sc := snap.Schema(), snap.Scaler()
	d := datasetJSON{
		DatasetVersion: snap.Version(),
		Total:          snap.Len(),
		Features:       schema.Features(),
		Label:          schema.Label(),
		Classes:        snap.Classes(),
		Counts:         map[string]int{},
		Scaler:         scalerJSON{Kind: sc.Kind.String(), Offset: sc.Offset, Scale: sc.Scale},
		FeatureRanges:  make([]rangeJSON, schema.Dim()),
	}
	if id := snap.NextID(); id != 0 {
		d.NextID = &id
	}
	for i, n := range snap.Counts() {
		d.Counts[snap.Classes()[i]] = n
	}
	for i, r := range snap.Ranges() {
		d.FeatureRanges[i] = rangeJSON{Name: schema.Features()[i], Min: r.Min, Max: r.Max}
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
