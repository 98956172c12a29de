package dataset

import "github.com/irisknn/irisknn/internal/knn"

// QueryRules are the server's prediction settings: the defaults of k,
// metric and weights, the largest k a request may ask for and the most
// neighbours (rows × k) one request may find. Every protocol (POST
// /predict, the Open Inference Protocol over REST and gRPC) resolves a
// request's settings through Resolve and bounds its work through
// CheckWork, so they share one rule.
type QueryRules struct {
	DefaultK       int
	DefaultMetric  knn.Metric
	DefaultWeights knn.Weights
	MaxK           int
	// MaxNeighbors bounds rows × k of one request (-max-neighbors): the
	// work it does and the size of its answer, which lists every neighbour.
	MaxNeighbors int
}

// CheckWork checks that a request of rows rows under q finds at most
// MaxNeighbors neighbours in all. Over it is an invalid-input error (422)
// naming the limit and its setting.
func (r QueryRules) CheckWork(rows int, q knn.Query) error {
	n := int64(rows) * int64(q.K)
	if n > int64(r.MaxNeighbors) {
		return Invalidf("k", "rows × k must be at most %d (-max-neighbors, IRIS_MAX_NEIGHBORS), got %d × %d = %d; lower k or split the batch", r.MaxNeighbors, rows, q.K, n)
	}
	return nil
}

// Resolve turns a request's optional settings into a validated query for
// snap: Settings, then Snapshot.CheckQuery.
func (r QueryRules) Resolve(snap *Snapshot, k *int, metric, weights *string) (knn.Query, error) {
	q, err := r.Settings(snap, k, metric, weights)
	if err != nil {
		return q, err
	}
	return q, snap.CheckQuery(q)
}

// Settings turns a request's optional settings into a query for snap,
// within the server's limits, leaving the check against the set to
// whoever runs it (a job's Spec.Check). A k not given is the default k,
// capped at the number of samples; a k given must be at most MaxK.
func (r QueryRules) Settings(snap *Snapshot, k *int, metric, weights *string) (knn.Query, error) {
	q := knn.Query{K: r.DefaultK, Metric: r.DefaultMetric, Weights: r.DefaultWeights}
	if k != nil {
		q.K = *k
	} else {
		q.K = min(q.K, snap.Len())
	}
	if q.K > r.MaxK {
		return q, Invalidf("k", "k must be at most %d (the server's maximum k), got %d", r.MaxK, q.K)
	}
	if metric != nil {
		m, err := knn.ParseMetric(*metric)
		if err != nil {
			return q, Invalidf("metric", "%v", err)
		}
		q.Metric = m
	}
	if weights != nil {
		w, err := knn.ParseWeights(*weights)
		if err != nil {
			return q, Invalidf("weights", "%v", err)
		}
		q.Weights = w
	}
	return q, nil
}
