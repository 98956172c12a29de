package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/jobs"
	"github.com/irisknn/irisknn/internal/redistest"
)

// TestAsynq runs the Queue behaviour against a real redis-server with a
// real asynq worker.
func TestAsynq(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	data := irisData(t)
	opt := jobs.AsynqOptions{Retention: time.Hour}
	q := jobs.NewAsynq(rdb, data, opt)
	defer q.Close()
	w := jobs.NewWorker(srv.Client(t), &jobs.Runner{Data: data, ProgressEvery: time.Millisecond}, 1, nil, opt)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	testQueue(t, q, 2*time.Minute)
}

// TestAsynqSurvivesWorkerShutdown: a job whose worker stops mid-run goes
// back to the queue and a new worker finishes it.
func TestAsynqSurvivesWorkerShutdown(t *testing.T) {
	srv := redistest.Start(t)
	data := irisData(t)
	opt := jobs.AsynqOptions{Retention: time.Hour}
	q := jobs.NewAsynq(srv.Client(t), data, opt)
	defer q.Close()
	// A slow job: the worker's progress writes are throttled to 1ms, and
	// 100k rows take a while.
	j, err := q.Submit(context.Background(), batchSpec(100000))
	require.NoError(t, err)

	startWorker := func() (stop func()) {
		w := jobs.NewWorker(srv.Client(t), &jobs.Runner{Data: data, ProgressEvery: time.Millisecond}, 1, nil, opt)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		return func() { cancel(); <-done }
	}
	stop := startWorker()
	deadline := time.Now().Add(time.Minute)
	for {
		got, err := q.Get(context.Background(), j.ID)
		require.NoError(t, err)
		if got.Status == jobs.StatusRunning && got.Progress > 0 {
			break
		}
		require.False(t, got.Status.Final(), "finished before the worker could be stopped: %+v", got.Status)
		require.True(t, time.Now().Before(deadline))
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	stop = startWorker()
	defer stop()
	got, _ := waitFinal(t, q, j.ID, 2*time.Minute)
	require.Equal(t, jobs.StatusSucceeded, got.Status, got.Error)
	assert.GreaterOrEqual(t, got.Attempts, 0)
	t.Logf("finished after %d retries", got.Attempts)
}

// TestAsynqSaysWhenNoWorkerRuns: a job submitted while no irisd worker
// serves the queue says so, at submission and while it waits, and runs
// once a worker starts.
func TestAsynqSaysWhenNoWorkerRuns(t *testing.T) {
	srv := redistest.Start(t)
	data := irisData(t)
	opt := jobs.AsynqOptions{Retention: time.Hour}
	q := jobs.NewAsynq(srv.Client(t), data, opt)
	defer q.Close()
	j, err := q.Submit(context.Background(), batchSpec(10))
	require.NoError(t, err)
	assert.Equal(t, jobs.StatusQueued, j.Status)
	assert.Equal(t, jobs.NoticeNoWorker, j.Notice)
	got, err := q.Get(context.Background(), j.ID)
	require.NoError(t, err)
	assert.Equal(t, jobs.StatusQueued, got.Status)
	assert.Equal(t, jobs.NoticeNoWorker, got.Notice)

	w := jobs.NewWorker(srv.Client(t), &jobs.Runner{Data: data}, 1, nil, opt)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	got, _ = waitFinal(t, q, j.ID, time.Minute)
	assert.Equal(t, jobs.StatusSucceeded, got.Status)
	assert.Empty(t, got.Notice, "a finished job has no notice")
}
