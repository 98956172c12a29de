package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/jobs"
	"github.com/irisknn/irisknn/internal/jobs/jobstest"
	"github.com/irisknn/irisknn/internal/knn"
)

type evalResult struct {
	Samples    int    `json:"samples"`
	Validation string `json:"validation"`
	Results    []struct {
		K         int     `json:"k"`
		Metric    string  `json:"metric"`
		Weights   string  `json:"weights"`
		Accuracy  float64 `json:"accuracy"`
		Correct   int     `json:"correct"`
		Confusion [][]int `json:"confusion"`
	} `json:"results"`
	Best struct {
		K       int    `json:"k"`
		Metric  string `json:"metric"`
		Weights string `json:"weights"`
		Correct int    `json:"correct"`
	} `json:"best"`
}

type fixed struct{ snap *dataset.Snapshot }

func (f fixed) Snapshot() *dataset.Snapshot { return f.snap }

// tiny is a set checkable by hand: class a at x=0 and x=1, class b at x=10
// and x=11.
func tiny(t *testing.T) fixed {
	snap, err := dataset.NewSnapshot(dataset.IrisSchema(), []dataset.Sample{
		{ID: 1, Features: []float64{0, 0, 0, 0}, Label: "a"},
		{ID: 2, Features: []float64{1, 0, 0, 0}, Label: "a"},
		{ID: 3, Features: []float64{10, 0, 0, 0}, Label: "b"},
		{ID: 4, Features: []float64{11, 0, 0, 0}, Label: "b"},
	}, dataset.ScaleNone)
	require.NoError(t, err)
	return fixed{snap}
}

func irisData(t *testing.T) fixed {
	s, err := dataset.ParseCSV(bytes.NewReader(data.IrisCSV), "")
	require.NoError(t, err)
	snap, err := dataset.NewSnapshot(s.Schema, s.Samples, dataset.ScaleNone)
	require.NoError(t, err)
	return fixed{snap}
}

func TestEvaluateByHand(t *testing.T) {
	r := &jobs.Runner{Data: tiny(t)}
	e := jobs.Evaluate{KMin: 1, KMax: 3, Metrics: []knn.Metric{knn.Euclidean}, Weights: []knn.Weights{knn.Uniform, knn.Distance}}
	b, err := r.Run(context.Background(), jobs.Spec{Type: jobs.TypeEvaluate, Evaluate: &e}, func(float64) {})
	require.NoError(t, err)
	var res evalResult
	require.NoError(t, json.Unmarshal(evalJSON(t, b), &res))
	require.Len(t, res.Results, 6)
	want := []struct {
		k         int
		weights   string
		correct   int
		confusion [][]int
	}{
		// Leave-one-out, k=1: the nearest other point is of the same class.
		{1, "uniform", 4, [][]int{{2, 0}, {0, 2}}},
		// k=2 uniform: one vote each; the tie goes to the lower class, a.
		{2, "uniform", 2, [][]int{{2, 0}, {2, 0}}},
		// k=3 uniform: two votes from the other class.
		{3, "uniform", 0, [][]int{{0, 2}, {2, 0}}},
		{1, "distance", 4, [][]int{{2, 0}, {0, 2}}},
		// k=2 distance: the nearer neighbour (1 away vs 9 or 10) wins.
		{2, "distance", 4, [][]int{{2, 0}, {0, 2}}},
		// k=3 distance: 1/1 beats 1/9+1/10 (or 1/10+1/11).
		{3, "distance", 4, [][]int{{2, 0}, {0, 2}}},
	}
	for i, w := range want {
		got := res.Results[i]
		assert.Equal(t, w.k, got.K, "result %d", i)
		assert.Equal(t, w.weights, got.Weights, "result %d", i)
		assert.Equal(t, w.correct, got.Correct, "k=%d %s", w.k, w.weights)
		assert.Equal(t, w.confusion, got.Confusion, "k=%d %s", w.k, w.weights)
		assert.InDelta(t, float64(w.correct)/4, got.Accuracy, 1e-12)
	}
	assert.Equal(t, 1, res.Best.K)
	assert.Equal(t, "uniform", res.Best.Weights)
	assert.Equal(t, "leave-one-out", res.Validation)

	// 2-fold: folds {1,3} and {2,4}: each point is classified from the
	// other fold, whose nearest point is of the same class.
	e = jobs.Evaluate{KMin: 1, KMax: 1, Metrics: []knn.Metric{knn.Manhattan}, Weights: []knn.Weights{knn.Uniform}, Folds: 2}
	b, err = r.Run(context.Background(), jobs.Spec{Type: jobs.TypeEvaluate, Evaluate: &e}, func(float64) {})
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(evalJSON(t, b), &res))
	assert.Equal(t, 4, res.Results[0].Correct)
	assert.Equal(t, "2-fold", res.Validation)
}

func TestEvaluateIrisDefaults(t *testing.T) {
	r := &jobs.Runner{Data: irisData(t)}
	e := jobs.DefaultEvaluate()
	var last float64
	b, err := r.Run(context.Background(), jobs.Spec{Type: jobs.TypeEvaluate, Evaluate: &e}, func(f float64) {
		assert.GreaterOrEqual(t, f, last, "progress never goes back")
		last = f
	})
	require.NoError(t, err)
	assert.Equal(t, 1.0, last)
	var res evalResult
	require.NoError(t, json.Unmarshal(evalJSON(t, b), &res))
	assert.Len(t, res.Results, 30*2*2)
	assert.Equal(t, 150, res.Samples)
	// Leave-one-out accuracy of k-NN on Iris is well known to be 0.93..0.98.
	for _, r := range res.Results {
		sum := 0
		for _, row := range r.Confusion {
			for _, c := range row {
				sum += c
			}
		}
		assert.Equal(t, 150, sum)
		assert.Greater(t, r.Accuracy, 0.9, "k=%d %s %s", r.K, r.Metric, r.Weights)
	}
	assert.GreaterOrEqual(t, res.Best.Correct, 145)
}

func TestSpecCheck(t *testing.T) {
	snap := tiny(t).snap
	tests := []struct {
		name  string
		spec  jobs.Spec
		field string
	}{
		{"unknown type", jobs.Spec{Type: "sleep"}, "type"},
		{"empty batch", jobs.Spec{Type: jobs.TypeBatchPredict, Batch: &jobs.BatchPredict{Query: knn.Query{K: 1}}}, "instances"},
		{"k too large", jobs.Spec{Type: jobs.TypeBatchPredict, Batch: &jobs.BatchPredict{Instances: [][]float64{{}}, Query: knn.Query{K: 5}}}, "k"},
		{"k_max above the training set", jobs.Spec{Type: jobs.TypeEvaluate, Evaluate: &jobs.Evaluate{KMin: 1, KMax: 4, Metrics: []knn.Metric{0}, Weights: []knn.Weights{0}}}, "k_max"},
		{"k_min above k_max", jobs.Spec{Type: jobs.TypeEvaluate, Evaluate: &jobs.Evaluate{KMin: 3, KMax: 2, Metrics: []knn.Metric{0}, Weights: []knn.Weights{0}}}, "k_min"},
		{"one fold", jobs.Spec{Type: jobs.TypeEvaluate, Evaluate: &jobs.Evaluate{KMin: 1, KMax: 1, Metrics: []knn.Metric{0}, Weights: []knn.Weights{0}, Folds: 1}}, "folds"},
		{"no metrics", jobs.Spec{Type: jobs.TypeEvaluate, Evaluate: &jobs.Evaluate{KMin: 1, KMax: 1, Weights: []knn.Weights{0}}}, "metrics"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.Check(snap)
			require.Error(t, err)
			e, ok := err.(*dataset.Error)
			require.True(t, ok)
			assert.Equal(t, dataset.KindInvalid, e.Kind)
			assert.Equal(t, tt.field, e.Fields[0].Field)
		})
	}
}

// waitFinal polls a job until it is final.
func waitFinal(t *testing.T, q jobs.Queue, id string, timeout time.Duration) (jobs.Job, []float64) {
	t.Helper()
	var progress []float64
	deadline := time.Now().Add(timeout)
	for {
		j, err := q.Get(context.Background(), id)
		require.NoError(t, err)
		progress = append(progress, j.Progress)
		if j.Status.Final() {
			return j, progress
		}
		require.True(t, time.Now().Before(deadline), "job %s still %s after %v", id, j.Status, timeout)
		time.Sleep(20 * time.Millisecond)
	}
}

func batchSpec(n int) jobs.Spec {
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = []float64{4 + float64(i%40)/10, 3, 1 + float64(i%60)/10, float64(i%25) / 10}
	}
	return jobs.Spec{Type: jobs.TypeBatchPredict, Batch: &jobs.BatchPredict{Instances: rows, Query: knn.Query{K: 5}}}
}

func TestPool(t *testing.T) {
	jobstest.Run(t, func(t *testing.T, lim jobs.Limits) jobs.Queue {
		p := jobs.NewPool(&jobs.Runner{Data: jobstest.Iris(t), Limits: lim, ProgressEvery: time.Millisecond}, jobs.PoolOptions{Workers: 1})
		t.Cleanup(func() { p.Close() })
		return p
	}, time.Minute)
}

func TestPoolRetention(t *testing.T) {
	p := jobs.NewPool(&jobs.Runner{Data: irisData(t)}, jobs.PoolOptions{Retention: 50 * time.Millisecond})
	defer p.Close()
	j, err := p.Submit(context.Background(), jobstest.BatchSpec(10, 5))
	require.NoError(t, err)
	jobstest.WaitFinal(t, p, j.ID, time.Minute)
	time.Sleep(100 * time.Millisecond)
	_, err = p.Get(context.Background(), j.ID)
	assert.Equal(t, dataset.KindNotFound, dataset.ErrorKind(err))
}

// TestPoolSaysWhatAQueuedJobWaitsFor: with every worker busy, a queued job
// names how many run and wait before it.
func TestPoolSaysWhatAQueuedJobWaitsFor(t *testing.T) {
	lim := jobs.Limits{MaxRows: 200000, MaxNeighbors: 1_000_000} // the first job is larger than the defaults admit
	p := jobs.NewPool(&jobs.Runner{Data: irisData(t), Limits: lim, ProgressEvery: time.Millisecond}, jobs.PoolOptions{Workers: 1})
	defer p.Close()
	ctx := context.Background()
	first, err := p.Submit(ctx, batchSpec(200000)) // long enough to keep the one worker busy
	require.NoError(t, err)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		got, err := p.Get(ctx, first.ID)
		require.NoError(t, err)
		if got.Status == jobs.StatusRunning {
			assert.Empty(t, got.Notice, "a running job has no notice")
			break
		}
		require.True(t, time.Now().Before(deadline), "the first job never started")
	}
	second, err := p.Submit(ctx, batchSpec(10))
	require.NoError(t, err)
	third, err := p.Submit(ctx, batchSpec(10))
	require.NoError(t, err)
	assert.Equal(t, "waiting for a free worker: 1 busy (-job-workers 1), 0 queued before this job", second.Notice)
	got, err := p.Get(ctx, third.ID)
	require.NoError(t, err)
	assert.Equal(t, "waiting for a free worker: 1 busy (-job-workers 1), 1 queued before this job", got.Notice)

	_, err = p.Cancel(ctx, first.ID)
	require.NoError(t, err)
	got, _ = waitFinal(t, p, third.ID, time.Minute)
	assert.Equal(t, jobs.StatusSucceeded, got.Status)
	assert.Empty(t, got.Notice)
}

// evalJSON returns the evaluation in a result as the API encodes it.
func evalJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	res, err := jobs.DecodeResult(b)
	require.NoError(t, err)
	require.NotNil(t, res.Evaluate)
	out, err := json.Marshal(res.Evaluate)
	require.NoError(t, err)
	return out
}
