package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/knn"
	"github.com/irisknn/irisknn/internal/novelty"
)

// Snapshots gives the current training set; an dataset.Store does.
type Snapshots interface {
	Snapshot() *dataset.Snapshot
}

// Runner does the work of jobs on the current training set.
type Runner struct {
	Data Snapshots
	// Limits bound each job (checked again when it runs, on the set it
	// then runs on) and the size of its result.
	Limits Limits
	// ProgressEvery is the least time between two progress reports
	// (default 100ms), so that reporting never dominates the work.
	ProgressEvery time.Duration
	// Novelty assesses how unusual each batch row is; nil makes one with
	// the default threshold on first use. Share the API's.
	Novelty *novelty.Tracker

	once sync.Once
}

// tracker returns r.Novelty, made on first use when nil.
func (r *Runner) tracker() *novelty.Tracker {
	r.once.Do(func() {
		if r.Novelty == nil {
			r.Novelty = novelty.NewTracker(novelty.DefaultThreshold)
		}
	})
	return r.Novelty
}

// Run does spec's work and returns its result as JSON. progress is called
// with the share done (0..1) as the work goes on. A cancelled ctx stops it.
func (r *Runner) Run(ctx context.Context, spec Spec, progress func(float64)) (json.RawMessage, error) {
	snap := r.Data.Snapshot()
	if err := r.Limits.Admit(&spec, snap); err != nil {
		return nil, err
	}
	every := r.ProgressEvery
	if every <= 0 {
		every = 100 * time.Millisecond
	}
	last := time.Now()
	report := func(done, total int) {
		if now := time.Now(); now.Sub(last) >= every {
			last = now
			progress(float64(done) / float64(total))
		}
	}
	var (
		v   any
		err error
	)
	switch spec.Type {
	case TypeBatchPredict:
		v, err = batchPredict(ctx, snap, spec.Batch, r.tracker(), report)
	case TypeEvaluate:
		v, err = evaluate(ctx, snap, spec.Evaluate, report)
	}
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	lim := r.Limits
	lim.Fill()
	if int64(len(b)) > lim.ResultBytes {
		return nil, dataset.Invalidf("k", "the result is %d bytes, more than the server keeps for all results (-job-results-bytes %d): lower k or split the rows", len(b), lim.ResultBytes)
	}
	progress(1)
	return b, nil
}

// The result of a batch prediction: the shape of a POST /predict batch.
type (
	batchResult struct {
		// Features and Instances echo the input rows (for the CSV form).
		Features  []string    `json:"features"`
		Instances [][]float64 `json:"instances"`
		Labels    []string    `json:"labels,omitempty"` // the label column's cells, when the batch had one
		// AgainstLabels scores the predictions against the labels the
		// batch carried; absent when it carried none.
		AgainstLabels  *LabelScore      `json:"against_labels,omitempty"`
		Predictions    []predictionJSON `json:"predictions"`
		K              int              `json:"k"`
		Metric         string           `json:"metric"`
		Weights        string           `json:"weights"`
		DatasetVersion uint64           `json:"dataset_version"`
	}
	predictionJSON struct {
		Species       string             `json:"species"`
		Probabilities map[string]float64 `json:"probabilities"`
		Neighbors     []neighborJSON     `json:"neighbors"`
		Tie           bool               `json:"tie"`
		ExactMatch    bool               `json:"exact_match"`
		Novelty       noveltyJSON        `json:"novelty"`
	}
	noveltyJSON struct {
		Percentile float64 `json:"percentile"`
		Unusual    bool    `json:"unusual"`
	}
	neighborJSON struct {
		ID       int64   `json:"id"`
		Species  string  `json:"species"`
		Distance float64 `json:"distance"`
	}
)

// batchChunk is the number of rows classified between progress reports and
// cancellation checks.
const batchChunk = 1024

func batchPredict(ctx context.Context, snap *dataset.Snapshot, b *BatchPredict, nov *novelty.Tracker, report func(done, total int)) (*batchResult, error) {
	classes := snap.Classes()
	n := len(b.Instances)
	res := &batchResult{Features: snap.Schema().Features(), Instances: b.Instances, Labels: b.Labels,
		Predictions: make([]predictionJSON, 0, n), K: b.Query.K,
		Metric: b.Query.Metric.String(), Weights: b.Query.Weights.String(), DatasetVersion: snap.Version()}
	out := make([]knn.Prediction, min(batchChunk, n))
	var predicted []int // the rows' classes, to score against labels
	if b.Labels != nil {
		predicted = make([]int, 0, n)
	}
	for lo := 0; lo < n; lo += batchChunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+batchChunk, n)
		chunk := out[:hi-lo]
		if err := snap.PredictBatch(ctx, chunk, b.Instances[lo:hi], b.Query); err != nil {
			return nil, err
		}
		for _, pr := range chunk {
			a := nov.Assess(snap, b.Query.Metric, pr.Neighbors[0].Distance)
			p := predictionJSON{Species: classes[pr.Class], Tie: pr.Tie, ExactMatch: pr.ExactOnly,
				Novelty:       noveltyJSON{Percentile: a.Percentile, Unusual: a.Unusual},
				Probabilities: make(map[string]float64, len(classes)), Neighbors: make([]neighborJSON, len(pr.Neighbors))}
			for c, v := range pr.Probabilities {
				p.Probabilities[classes[c]] = v
			}
			for i, nb := range pr.Neighbors {
				p.Neighbors[i] = neighborJSON{ID: nb.ID, Species: classes[nb.Label], Distance: nb.Distance}
			}
			res.Predictions = append(res.Predictions, p)
			if b.Labels != nil {
				predicted = append(predicted, pr.Class)
			}
		}
		report(hi, n)
	}
	if b.Labels != nil {
		res.AgainstLabels = scoreLabels(snap.Schema().Label(), classes, b.Labels, predicted)
	}
	return res, nil
}

// The result of an evaluation.
type (
	evaluateResult struct {
		DatasetVersion uint64          `json:"dataset_version"`
		Samples        int             `json:"samples"`
		Classes        []string        `json:"classes"`
		Validation     string          `json:"validation"` // "leave-one-out" or "N-fold"
		Folds          int             `json:"folds"`
		Results        []settingResult `json:"results"`
		Best           settingResult   `json:"best"`
	}
	settingResult struct {
		K        int     `json:"k"`
		Metric   string  `json:"metric"`
		Weights  string  `json:"weights"`
		Accuracy float64 `json:"accuracy"`
		Correct  int     `json:"correct"`
		Total    int     `json:"total"`
		// Confusion[actual][predicted] counts samples, in Classes order.
		Confusion [][]int `json:"confusion"`
	}
)

// evaluate cross-validates every setting. For each metric it finds, once
// per held-out sample, the KMax nearest training samples; every k and
// weighting then classifies from a prefix of that list, so the sweep costs
// one neighbour search per sample and metric, not per setting.
func evaluate(ctx context.Context, snap *dataset.Snapshot, e *Evaluate, report func(done, total int)) (*evaluateResult, error) {
	// The samples in the space distances are measured in: scaled, when the
	// set is.
	var samples []dataset.Sample
	scaler := snap.Scaler()
	snap.All(func(x dataset.Sample) bool {
		x.Features = scaler.Apply(x.Features[:0:0], x.Features)
		samples = append(samples, x)
		return true
	})
	classes := snap.Classes()
	n, nc := len(samples), len(classes)
	label := make([]int, n)
	for i, x := range samples {
		label[i], _ = snap.ClassIndex(x.Label)
	}
	res := &evaluateResult{DatasetVersion: snap.Version(), Samples: n, Classes: classes, Folds: e.Folds, Validation: "leave-one-out"}
	if e.Folds > 0 {
		res.Validation = fmt.Sprintf("%d-fold", e.Folds)
	}
	nk := e.KMax - e.KMin + 1
	// conf[metric][weights][k-KMin] is a confusion matrix.
	conf := make([][][][]int, len(e.Metrics))
	for m := range conf {
		conf[m] = make([][][]int, len(e.Weights))
		for w := range conf[m] {
			conf[m][w] = make([][]int, nk)
			for k := range conf[m][w] {
				conf[m][w][k] = make([]int, nc*nc)
			}
		}
	}
	// The training sets: one (all samples) for leave-one-out, else one per fold.
	folds := max(e.Folds, 1)
	train := make([]*knn.Dataset, folds)
	for f := range train {
		d := knn.NewDataset(snap.Schema().Dim(), classes)
		for i, x := range samples {
			if e.Folds > 0 && i%e.Folds == f {
				continue
			}
			if err := d.Add(x.ID, x.Features, label[i]); err != nil {
				return nil, err
			}
		}
		train[f] = d
	}
	var (
		nb    []knn.Neighbor
		probs = make([]float64, nc)
		total = len(e.Metrics) * n
		done  = 0
	)
	for m, metric := range e.Metrics {
		for i, x := range samples {
			if done%64 == 0 && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			var near []knn.Neighbor
			if e.Folds == 0 {
				// One more than needed: the sample itself is among them
				// (unless KMax+1 duplicates precede it) and is dropped.
				nb = train[0].Nearest(nb[:0], x.Features, e.KMax+1, metric)
				near = nb[:0]
				for _, y := range nb {
					if y.ID != x.ID {
						near = append(near, y)
					}
				}
				near = near[:min(len(near), e.KMax)]
			} else {
				nb = train[i%e.Folds].Nearest(nb[:0], x.Features, e.KMax, metric)
				near = nb
			}
			if len(near) < e.KMax {
				return nil, errors.New("jobs: a training fold is smaller than k_max")
			}
			for w, weights := range e.Weights {
				for k := e.KMin; k <= e.KMax; k++ {
					v := knn.Classify(near[:k], weights, probs)
					conf[m][w][k-e.KMin][label[i]*nc+v.Class]++
				}
			}
			done++
			report(done, total)
		}
	}
	best := -1
	for m, metric := range e.Metrics {
		for w, weights := range e.Weights {
			for k := range nk {
				c := conf[m][w][k]
				r := settingResult{K: e.KMin + k, Metric: metric.String(), Weights: weights.String(), Total: n, Confusion: make([][]int, nc)}
				for a := range nc {
					r.Confusion[a] = c[a*nc : (a+1)*nc]
					r.Correct += c[a*nc+a]
				}
				r.Accuracy = float64(r.Correct) / float64(n)
				res.Results = append(res.Results, r)
				// The best: highest accuracy; among equals the smallest k,
				// then the earlier metric, then the earlier weighting.
				if best < 0 || better(r, res.Results[best]) {
					best = len(res.Results) - 1
				}
			}
		}
	}
	res.Best = res.Results[best]
	return res, nil
}

// better reports whether a beats b: a higher accuracy, or an equal one with
// a smaller k. Results are produced metric by metric, weighting by
// weighting, so an equal earlier result keeps its place.
func better(a, b settingResult) bool {
	if a.Correct != b.Correct {
		return a.Correct > b.Correct
	}
	return a.K < b.K
}
