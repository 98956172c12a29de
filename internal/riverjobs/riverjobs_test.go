package riverjobs_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/jobs"
	"github.com/irisknn/irisknn/internal/jobs/jobstest"
	"github.com/irisknn/irisknn/internal/pgtest"
	"github.com/irisknn/irisknn/internal/riverjobs"
)

// database starts a PostgreSQL of the test's own with the job schema.
func database(t testing.TB) *pgxpool.Pool {
	t.Helper()
	srv := pgtest.Start(t)
	pool, err := pgxpool.New(context.Background(), srv.URL())
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, riverjobs.Migrate(context.Background(), pool))
	return pool
}

var queues atomic.Int64

// startWorker runs a worker on queue until the test ends.
func startWorker(t testing.TB, pool *pgxpool.Pool, opt riverjobs.WorkerOptions, data jobs.Snapshots) {
	t.Helper()
	w, err := riverjobs.NewWorker(pool, &jobs.Runner{Data: data, Limits: opt.Limits, ProgressEvery: time.Millisecond}, opt)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
}

// TestQueue runs the behaviour of every Queue against River on a real
// PostgreSQL, with a real worker; each queue of the suite is a River queue
// of its own in the one database.
func TestQueue(t *testing.T) {
	pool := database(t)
	data := jobstest.Iris(t)
	jobstest.Run(t, func(t *testing.T, lim jobs.Limits) jobs.Queue {
		opt := riverjobs.Options{Queue: fmt.Sprintf("q%d", queues.Add(1)), Limits: lim, Retention: time.Hour}
		q, err := riverjobs.NewQueue(pool, data, opt)
		require.NoError(t, err)
		startWorker(t, pool, riverjobs.WorkerOptions{Options: opt}, data)
		return q
	}, 2*time.Minute)
}

// TestSeenThroughEveryReplica: a job submitted through one replica's queue
// is read, listed and cancelled through another's.
func TestSeenThroughEveryReplica(t *testing.T) {
	pool := database(t)
	other, err := pgxpool.New(context.Background(), pool.Config().ConnString())
	require.NoError(t, err)
	defer other.Close()
	data := jobstest.Iris(t)
	opt := riverjobs.Options{Queue: "shared"}
	a, err := riverjobs.NewQueue(pool, data, opt)
	require.NoError(t, err)
	b, err := riverjobs.NewQueue(other, data, opt)
	require.NoError(t, err)
	ctx := context.Background()

	j, err := a.Submit(ctx, jobstest.BatchSpec(10, 3))
	require.NoError(t, err)
	got, err := b.Get(ctx, j.ID)
	require.NoError(t, err)
	assert.Equal(t, jobs.StatusQueued, got.Status)
	assert.Contains(t, got.Notice, "no irisd worker is running", "a job no worker can pick up says so")
	page, err := b.List(ctx, jobs.ListParams{Limit: 10})
	require.NoError(t, err)
	require.Len(t, page.Jobs, 1)
	assert.Equal(t, j.ID, page.Jobs[0].ID)
	assert.Contains(t, page.Jobs[0].Notice, "no irisd worker is running", "the listing says so too")

	startWorker(t, pool, riverjobs.WorkerOptions{Options: opt}, data)
	got, _ = jobstest.WaitFinal(t, b, j.ID, time.Minute)
	assert.Equal(t, jobs.StatusSucceeded, got.Status, got.Error)
	assert.Empty(t, got.Notice)

	// Every worker slot busy: a queued job says how many run and wait.
	long, err := a.Submit(ctx, jobstest.BatchSpec(100_000, 1))
	require.NoError(t, err)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		got, err := b.Get(ctx, long.ID)
		require.NoError(t, err)
		if got.Status == jobs.StatusRunning {
			break
		}
		require.True(t, time.Now().Before(deadline), "the long job never ran")
	}
	next, err := a.Submit(ctx, jobstest.BatchSpec(10, 1))
	require.NoError(t, err)
	got, err = b.Get(ctx, next.ID)
	require.NoError(t, err)
	if got.Status == jobs.StatusQueued { // (the long job may just have finished)
		assert.Equal(t, "waiting for a free worker: 1 busy (1 irisd worker slots), 0 queued before this job", got.Notice)
	}
	jobstest.WaitFinal(t, b, next.ID, time.Minute)

	// The secret half of the id matters: River's id alone reads nothing.
	_, err = b.Get(ctx, j.ID[:len(j.ID)-1]+"0")
	if j.ID[len(j.ID)-1] == '0' {
		_, err = b.Get(ctx, j.ID[:len(j.ID)-1]+"1")
	}
	assert.Error(t, err)
}
