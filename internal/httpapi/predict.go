package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/knn"
	"github.com/irisknn/irisknn/internal/novelty"
)

// predictRequest is a decoded body of POST /predict: one of features (a
// single prediction) or instances (a batch), and optional settings.
type predictRequest struct {
	Features  *featuresJSON
	Instances []featuresJSON // nil when absent
	K         *int
	Metric    *string
	Weights   *string
	// DatasetVersion pins the answer to a kept dataset version.
	DatasetVersion *uint64
}

// predictBody is the body of POST /predict as encoding/json decodes it; the
// rows are decoded with the schema (parseFeatures).
type predictBody struct {
	Features  json.RawMessage `json:"features"`
	Instances json.RawMessage `json:"instances"`
	K         *int            `json:"k"`
	Metric    *string         `json:"metric"`
	Weights   *string         `json:"weights"`
	// DatasetVersion pins the answer to a kept dataset version.
	DatasetVersion *uint64 `json:"dataset_version"`
}

// request converts the decoded body into a predictRequest.
func (b *predictBody) request(schema *dataset.Schema) (predictRequest, error) {
	req := predictRequest{K: b.K, Metric: b.Metric, Weights: b.Weights, DatasetVersion: b.DatasetVersion}
	if b.Features != nil {
		f, err := parseFeatures(b.Features, schema, "features")
		if err != nil {
			return req, err
		}
		req.Features = &f
	}
	if b.Instances != nil {
		rows, err := parseInstances(b.Instances, schema)
		if err != nil {
			return req, err
		}
		req.Instances = rows
	}
	return req, nil
}

// query converts the request's settings into a validated query for snap.
func (s *Server) query(req *predictRequest, snap *dataset.Snapshot) (knn.Query, error) {
	return s.rules.Resolve(snap, req.K, req.Metric, req.Weights)
}

var predictionPool = sync.Pool{New: func() any { return new(knn.Prediction) }}

// handlePredict serves POST /predict.
func (s *Server) handlePredict() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req predictRequest
		snap := s.store.Snapshot()
		if err := s.decodePredict(w, r, snap.Schema(), &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		if req.DatasetVersion != nil {
			var err error
			if snap, err = s.store.SnapshotAt(*req.DatasetVersion); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		q, err := s.query(&req, snap)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		switch {
		case req.Features != nil && req.Instances != nil:
			s.writeError(w, r, dataset.Invalidf("instances", "give either features (one prediction) or instances (a batch), not both"))
		case req.Features != nil:
			f, err := req.Features.features(snap.Schema(), "features")
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if err := s.rules.CheckWork(1, q); err != nil {
				s.writeError(w, r, err)
				return
			}
			s.answer(w, r, PredictRequest{Snapshot: snap, Query: q, Features: f}, nil)
		case req.Instances != nil:
			s.predictBatch(w, r, &req, snap, q)
		default:
			s.writeError(w, r, dataset.Invalidf("features", "give features (an array of %d numbers or an object with the named measurements) or instances (an array of them)", snap.Schema().Dim()))
		}
	}
}

func (s *Server) predictBatch(w http.ResponseWriter, r *http.Request, req *predictRequest, snap *dataset.Snapshot, q knn.Query) {
	n := len(req.Instances)
	switch {
	case n == 0:
		s.writeError(w, r, dataset.Invalidf("instances", "instances is empty: give at least one row"))
		return
	case n > s.cfg.MaxBatch:
		s.writeError(w, r, dataset.Invalidf("instances", "a batch may have at most %d rows, got %d; split it or use an async job", s.cfg.MaxBatch, n))
		return
	}
	if err := s.rules.CheckWork(n, q); err != nil {
		s.writeError(w, r, err)
		return
	}
	fs := make([][]float64, n)
	for i := range req.Instances {
		f, err := req.Instances[i].featuresNamed(snap.Schema(), func() string { return fmt.Sprintf("instances[%d]", i) })
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		fs[i] = f
	}
	// The body is read and checked: only now does the batch take a slot,
	// and only until its answer is computed.
	release, ok := s.takeHeavy(w, r)
	if !ok {
		return
	}
	s.answer(w, r, PredictRequest{Snapshot: snap, Query: q, Instances: fs, Batch: true}, release)
}

// batchScratch is computeBatch's reusable scratch.
type batchScratch struct {
	out   []knn.Prediction
	nb    []knn.Neighbor
	probs []float64
}

var batchPool = sync.Pool{New: func() any { return new(batchScratch) }}

// maxPooledNeighbors caps the scratch kept in batchPool (about 1.5 MB).
const maxPooledNeighbors = 1 << 16

// computeSingle computes and encodes a single prediction.
func (s *Server) computeSingle(req PredictRequest) (PredictAnswer, error) {
	snap, q := req.Snapshot, req.Query
	names := wireNamesOf(snap)
	pr := predictionPool.Get().(*knn.Prediction)
	defer predictionPool.Put(pr)
	if err := snap.Predict(pr, req.Features, q); err != nil {
		return PredictAnswer{}, err
	}
	nov := s.cfg.Novelty.Assess(snap, q.Metric, pr.Neighbors[0].Distance)
	s.metrics.observeNovelty(nov)
	// Encoded on the stack (an Iris answer is about 520 bytes), then
	// copied to an answer of its exact size.
	var scratch [1024]byte
	b := appendPrediction(scratch[:0], names, pr, nov, &q, snap.Version())
	return PredictAnswer{Body: bytes.Clone(b), Class: pr.Class}, nil
}

// computeBatch computes and encodes a batch of predictions.
func (s *Server) computeBatch(ctx context.Context, req PredictRequest) (PredictAnswer, error) {
	snap, q, fs := req.Snapshot, req.Query, req.Instances
	names := wireNamesOf(snap)
	n := len(fs)
	// The rows' predictions, with one backing array for every row's
	// neighbours and probabilities, are scratch reused across batches
	// (the answer is the encoded body): less garbage per batch.
	sc := batchPool.Get().(*batchScratch)
	if n*q.K <= maxPooledNeighbors {
		defer batchPool.Put(sc) // a huge batch's scratch is left to the GC
	}
	out := slices.Grow(sc.out[:0], n)[:n]
	nb := slices.Grow(sc.nb[:0], n*q.K)
	nc := len(names.quoted)
	probs := slices.Grow(sc.probs[:0], n*nc)
	sc.out, sc.nb, sc.probs = out, nb, probs
	for i := range out {
		out[i].Neighbors = nb[i*q.K : i*q.K : (i+1)*q.K]
		out[i].Probabilities = probs[i*nc : i*nc : (i+1)*nc]
	}
	if err := snap.PredictBatch(ctx, out, fs, q); err != nil {
		return PredictAnswer{}, err
	}
	counts := make([]int, nc)
	novs := make([]novelty.Assessment, n)
	for i := range out {
		counts[out[i].Class]++
		novs[i] = s.cfg.Novelty.Assess(snap, q.Metric, out[i].Neighbors[0].Distance)
		s.metrics.observeNovelty(novs[i])
	}
	b := appendBatch(make([]byte, 0, 64+n*(200+60*q.K)), names, out, novs, &q, snap.Version())
	return PredictAnswer{Body: b, Counts: counts}, nil
}

// appendBatch appends a batch answer: the predictions, each with its
// novelty (novs[i] is out[i]'s), in row order, then the settings and
// dataset version once.
func appendBatch(b []byte, names *wireNames, out []knn.Prediction, novs []novelty.Assessment, q *knn.Query, version uint64) []byte {
	b = append(b, `{"predictions":[`...)
	for i := range out {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendPrediction(b, names, &out[i], novs[i], nil, 0)
	}
	b = append(b, ']')
	return appendSettings(b, q, version)
}

// appendPrediction appends one prediction and its novelty as a JSON object.
// With q non-nil the settings and dataset version are included (a single
// prediction); without, they are left to the enclosing batch object.
func appendPrediction(b []byte, names *wireNames, pr *knn.Prediction, nov novelty.Assessment, q *knn.Query, version uint64) []byte {
	b = append(b, '{')
	b = append(b, names.label...)
	b = append(b, names.quoted[pr.Class]...)
	b = append(b, `,"probabilities":{`...)
	for c, p := range pr.Probabilities {
		if c > 0 {
			b = append(b, ',')
		}
		b = append(b, names.quoted[c]...)
		b = append(b, ':')
		b = appendFloat(b, p)
	}
	b = append(b, `},"neighbors":[`...)
	for i, n := range pr.Neighbors {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, n.ID, 10)
		b = append(b, ',')
		b = append(b, names.label...)
		b = append(b, names.quoted[n.Label]...)
		b = append(b, `,"distance":`...)
		b = appendFloat(b, n.Distance)
		b = append(b, '}')
	}
	b = append(b, `],"tie":`...)
	b = strconv.AppendBool(b, pr.Tie)
	b = append(b, `,"exact_match":`...)
	b = strconv.AppendBool(b, pr.ExactOnly)
	b = append(b, `,"novelty":{"percentile":`...)
	b = appendFloat(b, nov.Percentile)
	b = append(b, `,"unusual":`...)
	b = strconv.AppendBool(b, nov.Unusual)
	b = append(b, '}')
	if q == nil {
		return append(b, '}')
	}
	return appendSettings(b, q, version)
}

// appendSettings appends the query settings and version and closes the
// object.
func appendSettings(b []byte, q *knn.Query, version uint64) []byte {
	b = append(b, `,"k":`...)
	b = strconv.AppendInt(b, int64(q.K), 10)
	b = append(b, `,"metric":"`...)
	b = append(b, q.Metric.String()...)
	b = append(b, `","weights":"`...)
	b = append(b, q.Weights.String()...)
	b = append(b, `","dataset_version":`...)
	b = strconv.AppendUint(b, version, 10)
	return append(b, "}\n"...)
}

// appendFloat formats f exactly as encoding/json does.
func appendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	fmtc := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		fmtc = 'e'
	}
	b = strconv.AppendFloat(b, f, fmtc, -1, 64)
	if fmtc == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// wireNames are the JSON-quoted names an answer repeats: the label key
// (with its colon) and the class names. They change only when a different
// dataset is loaded, so the last ones are kept.
type wireNames struct {
	name    string // the label's name
	classes []string
	label   []byte   // "species":
	quoted  [][]byte // the classes, quoted
}

var lastWireNames atomic.Pointer[wireNames]

// wireNamesOf returns the wire names of snap's schema and classes.
func wireNamesOf(snap *dataset.Snapshot) *wireNames {
	return wireNamesFor(snap.Schema().Label(), snap.Classes())
}

// wireNamesFor returns the wire names of a label and classes.
func wireNamesFor(label string, classes []string) *wireNames {
	if c := lastWireNames.Load(); c != nil && c.name == label && sameStrings(c.classes, classes) {
		return c
	}
	c := &wireNames{name: label, classes: classes, label: append(quoteJSON(label), ':'), quoted: make([][]byte, len(classes))}
	for i, name := range classes {
		c.quoted[i] = quoteJSON(name)
	}
	lastWireNames.Store(c)
	return c
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) > 0 && &a[0] == &b[0] {
		return true
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
