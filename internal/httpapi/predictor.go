package httpapi

import (
	"context"
	"net/http"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/knn"
)

// PredictRequest is a decoded, validated prediction request in canonical
// form: the settings are resolved (defaults applied) and the features are
// numbers, whatever shape the client sent them in. Two requests that must
// get the same answer have equal PredictRequests, so a cache keys on it.
type PredictRequest struct {
	Snapshot  *dataset.Snapshot // the training set version to answer from
	Query     knn.Query         // k, metric and weights, resolved
	Features  []float64         // the row of a single prediction (Batch false)
	Instances [][]float64       // the rows of a batch (Batch true)
	Batch     bool
}

// Rows returns the number of rows to classify.
func (r *PredictRequest) Rows() int {
	if r.Batch {
		return len(r.Instances)
	}
	return 1
}

// PredictAnswer is the encoded JSON body answering a PredictRequest, with
// what the metrics count of it.
type PredictAnswer struct {
	Body []byte // must not be modified: a cache may share it
	// Class is the predicted class of a single prediction, and Counts the
	// rows of a batch by predicted class (both index Snapshot.Classes): the
	// server counts them for every answer, computed or cached.
	Class  int
	Counts []int
	// Cache says where the answer came from, for the X-Cache response
	// header: "" when no cache took part, or a cache's own word ("hit",
	// "miss", ...).
	Cache string
}

// Predictor computes the answer to a prediction request. The server's own
// Predictor computes it; Config.WrapPredictor may decorate it (a cache).
type Predictor interface {
	Predict(ctx context.Context, req PredictRequest) (PredictAnswer, error)
}

// PredictorFunc adapts a function to a Predictor.
type PredictorFunc func(ctx context.Context, req PredictRequest) (PredictAnswer, error)

// Predict implements Predictor.
func (f PredictorFunc) Predict(ctx context.Context, req PredictRequest) (PredictAnswer, error) {
	return f(ctx, req)
}

// computer is the server's own Predictor: it computes every answer.
type computer struct{ s *Server }

func (c computer) Predict(ctx context.Context, req PredictRequest) (PredictAnswer, error) {
	if req.Batch {
		return c.s.computeBatch(ctx, req)
	}
	return c.s.computeSingle(req)
}

// answer writes the predictor's answer to req.
//
// computed, when not nil, is called once the answer is computed, before it
// is written: a batch gives its slot back then, so that a client slow to
// read its answer holds none.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, req PredictRequest, computed func()) {
	a, err := s.predictor.Predict(r.Context(), req)
	if computed != nil {
		computed()
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.metrics.observeAnswer(req.Snapshot.Classes(), req.Batch, &a)
	if a.Cache != "" {
		w.Header()["X-Cache"] = []string{a.Cache}
	}
	writeJSONBytes(w, http.StatusOK, req.Snapshot.Version(), a.Body)
}
