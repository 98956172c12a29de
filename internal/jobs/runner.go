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

// Result is what a job produced, as domain values. The queues keep it as
// its JSON (EncodeResult; DecodeResult reads it back), and the API formats
// it with the encoding of every prediction, so that a job's predictions
// read exactly like POST /predict's.
type Result struct {
	Batch    *BatchResult    `json:"batch,omitempty"`
	Evaluate *EvaluateResult `json:"evaluate,omitempty"`
}

// BatchResult is the outcome of a batch prediction: a prediction and its
// novelty per row, in input order, with the query and the set that made
// them, and the rows themselves (for the CSV form).
type BatchResult struct {
	Predictions    []knn.Prediction     `json:"predictions"`
	Novelty        []novelty.Assessment `json:"novelty"` // Novelty[i] is Predictions[i]'s
	Query          knn.Query            `json:"query"`
	DatasetVersion uint64               `json:"dataset_version"`
	Label          string               `json:"label"`    // the schema's label name
	Classes        []string             `json:"classes"`  // what the predictions' classes index
	Features       []string             `json:"features"` // the schema's feature names
	Instances      [][]float64          `json:"instances"`
	// Labels are the label column's cells, when the batch had one, and
	// AgainstLabels scores the predictions against them.
	Labels        []string    `json:"labels,omitempty"`
	AgainstLabels *LabelScore `json:"against_labels,omitempty"`
}

// DecodeResult reads a result that a queue kept; nil for none.
func DecodeResult(b json.RawMessage) (*Result, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("jobs: decode a result: %w", err)
	}
	return &r, nil
}

// Run does spec's work and returns its result, encoded for the queue to
// keep (DecodeResult reads it). progress is called with the share done
// (0..1) as the work goes on. A cancelled ctx stops it.
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
		res Result
		err error
	)
	switch spec.Type {
	case TypeBatchPredict:
		res.Batch, err = batchPredict(ctx, snap, spec.Batch, r.tracker(), report)
	case TypeEvaluate:
		res.Evaluate, err = evaluate(ctx, snap, spec.Evaluate, report)
	}
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(&res)
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

// batchChunk is the number of rows classified between progress reports and
// cancellation checks.
const batchChunk = 1024

func batchPredict(ctx context.Context, snap *dataset.Snapshot, b *BatchPredict, nov *novelty.Tracker, report func(done, total int)) (*BatchResult, error) {
	n := len(b.Instances)
	res := &BatchResult{Predictions: make([]knn.Prediction, n), Novelty: make([]novelty.Assessment, n),
		Query: b.Query, DatasetVersion: snap.Version(), Label: snap.Schema().Label(), Classes: snap.Classes(),
		Features: snap.Schema().Features(), Instances: b.Instances, Labels: b.Labels}
	for lo := 0; lo < n; lo += batchChunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+batchChunk, n)
		if err := snap.PredictBatch(ctx, res.Predictions[lo:hi], b.Instances[lo:hi], b.Query); err != nil {
			return nil, err
		}
		for i := lo; i < hi; i++ {
			res.Novelty[i] = nov.Assess(snap, b.Query.Metric, res.Predictions[i].Neighbors[0].Distance)
		}
		report(hi, n)
	}
	if b.Labels != nil {
		predicted := make([]int, n)
		for i := range res.Predictions {
			predicted[i] = res.Predictions[i].Class
		}
		res.AgainstLabels = scoreLabels(res.Label, res.Classes, b.Labels, predicted)
	}
	return res, nil
}

// The result of an evaluation: JSON as the API answers it.
type (
	// EvaluateResult is the accuracy of every setting, and the best.
	EvaluateResult struct {
		DatasetVersion uint64          `json:"dataset_version"`
		Samples        int             `json:"samples"`
		Classes        []string        `json:"classes"`
		Validation     string          `json:"validation"` // "leave-one-out" or "N-fold"
		Folds          int             `json:"folds"`
		Results        []SettingResult `json:"results"`
		Best           SettingResult   `json:"best"`
	}
	// SettingResult is the accuracy of one k, metric and weighting.
	SettingResult struct {
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
func evaluate(ctx context.Context, snap *dataset.Snapshot, e *Evaluate, report func(done, total int)) (*EvaluateResult, error) {
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
	res := &EvaluateResult{DatasetVersion: snap.Version(), Samples: n, Classes: classes, Folds: e.Folds, Validation: "leave-one-out"}
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
				r := SettingResult{K: e.KMin + k, Metric: metric.String(), Weights: weights.String(), Total: n, Confusion: make([][]int, nc)}
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
func better(a, b SettingResult) bool {
	if a.Correct != b.Correct {
		return a.Correct > b.Correct
	}
	return a.K < b.K
}
