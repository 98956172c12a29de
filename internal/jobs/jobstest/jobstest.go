// Package jobstest is the behaviour every jobs.Queue must have, as one suite
// that each implementation runs against its real backing (the in-process
// pool, River on a real PostgreSQL).
package jobstest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/jobs"
	"github.com/irisknn/irisknn/internal/knn"
)

// Fixed is a jobs.Snapshots that always gives one snapshot.
type Fixed struct{ Snap *dataset.Snapshot }

// Snapshot implements jobs.Snapshots.
func (f Fixed) Snapshot() *dataset.Snapshot { return f.Snap }

// Iris returns the embedded Iris set.
func Iris(t testing.TB) Fixed {
	s, err := dataset.ParseCSV(bytes.NewReader(data.IrisCSV), "")
	require.NoError(t, err)
	snap, err := dataset.NewSnapshot(s.Schema, s.Samples, dataset.ScaleNone)
	require.NoError(t, err)
	return Fixed{snap}
}

// BatchSpec is a batch_predict job of n rows at k.
func BatchSpec(n, k int) jobs.Spec {
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = []float64{4 + float64(i%40)/10, 3, 1 + float64(i%60)/10, float64(i%25) / 10}
	}
	return jobs.Spec{Type: jobs.TypeBatchPredict, Batch: &jobs.BatchPredict{Instances: rows, Query: knn.Query{K: k}}}
}

// WaitFinal polls a job until it is final, returning it and the progress
// seen on the way.
func WaitFinal(t testing.TB, q jobs.Queue, id string, timeout time.Duration) (jobs.Job, []float64) {
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

// Open returns a queue bounded by lim whose jobs run, one at a time, on
// Iris (Iris(t)); it is closed by the test's cleanup.
type Open func(t *testing.T, lim jobs.Limits) jobs.Queue

// Run checks the behaviour every Queue must have.
func Run(t *testing.T, open Open, timeout time.Duration) {
	ctx := context.Background()
	q := open(t, jobs.Limits{})
	t.Run("batch", func(t *testing.T) {
		j, err := q.Submit(ctx, BatchSpec(3000, 5))
		require.NoError(t, err)
		assert.Equal(t, jobs.StatusQueued, j.Status)
		j, _ = WaitFinal(t, q, j.ID, timeout)
		require.Equal(t, jobs.StatusSucceeded, j.Status, j.Error)
		assert.Equal(t, 1.0, j.Progress)
		require.NotNil(t, j.StartedAt)
		require.NotNil(t, j.FinishedAt)
		res, err := jobs.DecodeResult(j.Result)
		require.NoError(t, err)
		require.NotNil(t, res.Batch)
		assert.Len(t, res.Batch.Predictions, 3000)
		assert.Len(t, res.Batch.Novelty, 3000)
		assert.Equal(t, 5, res.Batch.Query.K)
		assert.Equal(t, "species", res.Batch.Label)
	})
	t.Run("evaluate with progress", func(t *testing.T) {
		e := jobs.DefaultEvaluate()
		e.KMax = 100
		e.Metrics = []knn.Metric{knn.Euclidean, knn.Manhattan, knn.Chebyshev}
		j, err := q.Submit(ctx, jobs.Spec{Type: jobs.TypeEvaluate, Evaluate: &e})
		require.NoError(t, err)
		j, progress := WaitFinal(t, q, j.ID, timeout)
		require.Equal(t, jobs.StatusSucceeded, j.Status, j.Error)
		assert.Contains(t, string(j.Result), `"best"`)
		t.Logf("progress seen: %v", progress)
	})
	t.Run("cancel", func(t *testing.T) {
		var ids []string
		for range 3 { // the first runs, the others wait (one worker)
			j, err := q.Submit(ctx, BatchSpec(100_000, 1))
			require.NoError(t, err)
			ids = append(ids, j.ID)
		}
		for _, id := range ids {
			j, err := q.Cancel(ctx, id)
			require.NoError(t, err)
			assert.Contains(t, []jobs.Status{jobs.StatusCancelled, jobs.StatusRunning}, j.Status, "cancelled, or stopping")
		}
		for _, id := range ids {
			j, _ := WaitFinal(t, q, id, timeout)
			assert.Equal(t, jobs.StatusCancelled, j.Status)
			assert.Nil(t, j.Result)
			_, err := q.Cancel(ctx, id)
			assert.Equal(t, dataset.KindConflict, dataset.ErrorKind(err))
		}
	})
	t.Run("unknown", func(t *testing.T) {
		for _, id := range []string{"nope", "00000000000000000000000000000000", "1-00000000000000000000000000000000"} {
			_, err := q.Get(ctx, id)
			assert.Equal(t, dataset.KindNotFound, dataset.ErrorKind(err), id)
			_, err = q.Cancel(ctx, id)
			assert.Equal(t, dataset.KindNotFound, dataset.ErrorKind(err), id)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		_, err := q.Submit(ctx, jobs.Spec{Type: "nope"})
		assert.Equal(t, dataset.KindInvalid, dataset.ErrorKind(err))
	})
	t.Run("list pages newest first without results", func(t *testing.T) {
		var ids []string
		for range 5 {
			j, err := q.Submit(ctx, BatchSpec(10, 1))
			require.NoError(t, err)
			ids = append(ids, j.ID)
		}
		for _, id := range ids {
			WaitFinal(t, q, id, timeout)
		}
		var seen []string
		cursor := ""
		for range 3 {
			p, err := q.List(ctx, jobs.ListParams{Limit: 2, Cursor: cursor})
			require.NoError(t, err)
			require.Len(t, p.Jobs, 2)
			for _, j := range p.Jobs {
				assert.Nil(t, j.Result, "a listing carries no results")
				seen = append(seen, j.ID)
			}
			require.NotEmpty(t, p.NextCursor)
			cursor = p.NextCursor
		}
		// Newest first: the five just submitted, in reverse.
		assert.Equal(t, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}, seen[:5])
		assert.Equal(t, jobs.StatusSucceeded, mustGet(t, q, ids[0]).Status)
		_, err := q.List(ctx, jobs.ListParams{Limit: 2, Cursor: "not-a-cursor"})
		assert.Equal(t, dataset.KindInvalid, dataset.ErrorKind(err))
	})
	t.Run("per-job limits name their setting", func(t *testing.T) {
		q := open(t, jobs.Limits{MaxRows: 1000, MaxNeighbors: 5000})
		_, err := q.Submit(ctx, BatchSpec(1001, 1))
		require.Equal(t, dataset.KindInvalid, dataset.ErrorKind(err))
		assert.Contains(t, err.Error(), "-job-max-rows")
		_, err = q.Submit(ctx, BatchSpec(1000, 6))
		require.Equal(t, dataset.KindInvalid, dataset.ErrorKind(err))
		assert.Contains(t, err.Error(), "-job-max-neighbors")
		e := jobs.DefaultEvaluate() // 150 x 30 x 2 = 9000 neighbours
		_, err = q.Submit(ctx, jobs.Spec{Type: jobs.TypeEvaluate, Evaluate: &e})
		require.Equal(t, dataset.KindInvalid, dataset.ErrorKind(err))
		assert.Contains(t, err.Error(), "-job-max-neighbors")
		j, err := q.Submit(ctx, BatchSpec(1000, 5))
		require.NoError(t, err, "a job at the limit is admitted")
		j, _ = WaitFinal(t, q, j.ID, timeout)
		assert.Equal(t, jobs.StatusSucceeded, j.Status, j.Error)
	})
	t.Run("a full queue refuses with unavailable", func(t *testing.T) {
		q := open(t, jobs.Limits{Backlog: 2, BacklogRows: 150_000})
		a, err := q.Submit(ctx, BatchSpec(100_000, 1))
		require.NoError(t, err)
		_, err = q.Submit(ctx, BatchSpec(100_000, 1))
		require.Equal(t, dataset.KindUnavailable, dataset.ErrorKind(err), "rows beyond -job-backlog-rows")
		assert.Contains(t, err.Error(), "-job-backlog-rows")
		b, err := q.Submit(ctx, BatchSpec(10, 1))
		require.NoError(t, err)
		_, err = q.Submit(ctx, BatchSpec(10, 1))
		require.Equal(t, dataset.KindUnavailable, dataset.ErrorKind(err), "jobs beyond -job-backlog")
		for _, id := range []string{a.ID, b.ID} {
			q.Cancel(ctx, id)
			WaitFinal(t, q, id, timeout)
		}
		c, err := q.Submit(ctx, BatchSpec(100_000, 1))
		require.NoError(t, err, "room again once the others finished")
		q.Cancel(ctx, c.ID)
		WaitFinal(t, q, c.ID, timeout)
	})
	t.Run("kept results are bounded, the oldest evicted first", func(t *testing.T) {
		spec := BatchSpec(200, 3)
		one, err := (&jobs.Runner{Data: Iris(t)}).Run(ctx, spec, func(float64) {})
		require.NoError(t, err)
		size := int64(len(one))
		q := open(t, jobs.Limits{ResultBytes: size*5/2 + 100}) // room for two
		var ids []string
		for range 3 {
			j, err := q.Submit(ctx, spec)
			require.NoError(t, err)
			j, _ = WaitFinal(t, q, j.ID, timeout)
			require.Equal(t, jobs.StatusSucceeded, j.Status, j.Error)
			ids = append(ids, j.ID)
		}
		_, err = q.Get(ctx, ids[0])
		assert.Equal(t, dataset.KindNotFound, dataset.ErrorKind(err), "the oldest result was evicted")
		for _, id := range ids[1:] {
			j := mustGet(t, q, id)
			assert.Len(t, j.Result, int(size), "the newer results are kept whole")
		}
		big, err := q.Submit(ctx, BatchSpec(1000, 3))
		require.NoError(t, err)
		j, _ := WaitFinal(t, q, big.ID, timeout)
		assert.Equal(t, jobs.StatusFailed, j.Status, "a result larger than the whole budget fails its job")
		assert.Contains(t, j.Error, "-job-results-bytes")
	})
}

func mustGet(t *testing.T, q jobs.Queue, id string) jobs.Job {
	t.Helper()
	j, err := q.Get(context.Background(), id)
	require.NoError(t, err)
	return j
}
