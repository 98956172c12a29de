package httpapi

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/knn"
)

// predictRequest is the body of POST /predict: one of features (a single
// prediction) or instances (a batch), and optional settings.
type predictRequest struct {
	Features  *featuresJSON `json:"features"`
	Instances instancesJSON `json:"instances"`
	K         *int          `json:"k"`
	Metric    *string       `json:"metric"`
	Weights   *string       `json:"weights"`
	// DatasetVersion pins the answer to a kept dataset version.
	DatasetVersion *uint64 `json:"dataset_version"`
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
		if err := s.decodePredict(w, r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		snap := s.store.Snapshot()
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
			f, err := req.Features.features("features")
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			s.answer(w, r, PredictRequest{Snapshot: snap, Query: q, Features: f})
		case req.Instances != nil:
			s.predictBatch(w, r, &req, snap, q)
		default:
			s.writeError(w, r, dataset.Invalidf("features", "give features (an array of %d numbers or an object with the named measurements) or instances (an array of them)", dataset.Dim))
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
	fs := make([]dataset.Features, n)
	for i := range req.Instances {
		f, err := req.Instances[i].featuresNamed(func() string { return fmt.Sprintf("instances[%d]", i) })
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		fs[i] = f
	}
	s.answer(w, r, PredictRequest{Snapshot: snap, Query: q, Instances: fs, Batch: true})
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
func (s *Server) computeSingle(req PredictRequest) ([]byte, error) {
	snap, q := req.Snapshot, req.Query
	names := s.classNames(snap.Classes())
	pr := predictionPool.Get().(*knn.Prediction)
	defer predictionPool.Put(pr)
	if err := snap.Predict(pr, req.Features, q); err != nil {
		return nil, err
	}
	s.metrics.observePrediction(snap.Classes(), pr)
	b := make([]byte, 0, 512)
	return appendPrediction(b, names, pr, &q, snap.Version()), nil
}

// computeBatch computes and encodes a batch of predictions.
func (s *Server) computeBatch(ctx context.Context, req PredictRequest) ([]byte, error) {
	snap, q, fs := req.Snapshot, req.Query, req.Instances
	names := s.classNames(snap.Classes())
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
	probs := slices.Grow(sc.probs[:0], n*len(names))
	sc.out, sc.nb, sc.probs = out, nb, probs
	for i := range out {
		out[i].Neighbors = nb[i*q.K : i*q.K : (i+1)*q.K]
		out[i].Probabilities = probs[i*len(names) : i*len(names) : (i+1)*len(names)]
	}
	if err := snap.PredictBatch(ctx, out, fs, q); err != nil {
		return nil, err
	}
	s.metrics.observeBatch(snap.Classes(), out)
	b := make([]byte, 0, 64+n*(200+60*q.K))
	b = append(b, `{"predictions":[`...)
	for i := range out {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendPrediction(b, names, &out[i], nil, 0)
	}
	b = append(b, ']')
	return appendSettings(b, &q, snap.Version()), nil
}

// appendPrediction appends one prediction as a JSON object. With q non-nil
// the settings and dataset version are included (a single prediction);
// without, they are left to the enclosing batch object.
func appendPrediction(b []byte, names [][]byte, pr *knn.Prediction, q *knn.Query, version uint64) []byte {
	b = append(b, `{"species":`...)
	b = append(b, names[pr.Class]...)
	b = append(b, `,"probabilities":{`...)
	for c, p := range pr.Probabilities {
		if c > 0 {
			b = append(b, ',')
		}
		b = append(b, names[c]...)
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
		b = append(b, `,"species":`...)
		b = append(b, names[n.Label]...)
		b = append(b, `,"distance":`...)
		b = appendFloat(b, n.Distance)
		b = append(b, '}')
	}
	b = append(b, `],"tie":`...)
	b = strconv.AppendBool(b, pr.Tie)
	b = append(b, `,"exact_match":`...)
	b = strconv.AppendBool(b, pr.ExactOnly)
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

// classNames caches the JSON-quoted class names of the current classes
// (they change only when a different dataset is loaded).
type classNameCache struct {
	classes []string
	quoted  [][]byte
}

var classNamesCache atomic.Pointer[classNameCache]

func (s *Server) classNames(classes []string) [][]byte {
	if c := classNamesCache.Load(); c != nil && sameStrings(c.classes, classes) {
		return c.quoted
	}
	c := &classNameCache{classes: classes, quoted: make([][]byte, len(classes))}
	for i, name := range classes {
		c.quoted[i] = quoteJSON(name)
	}
	classNamesCache.Store(c)
	return c.quoted
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
