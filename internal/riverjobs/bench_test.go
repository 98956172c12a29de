package riverjobs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/jobs"
	"github.com/irisknn/irisknn/internal/jobs/jobstest"
	"github.com/irisknn/irisknn/internal/riverjobs"
)

// BenchmarkJobs measures jobs/s end to end (submit, run, poll until final)
// for small batch jobs (10 rows), on River through a real PostgreSQL with
// one worker, and on the in-process pool as the reference, in the same run.
// Each op is a wave of 50 jobs submitted at once and waited for.
func BenchmarkJobs(b *testing.B) {
	const wave = 50
	data := jobstest.Iris(b)
	spec := jobstest.BatchSpec(10, 5)
	run := func(b *testing.B, q jobs.Queue) {
		ctx := context.Background()
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			ids := make([]string, 0, wave)
			for range wave {
				j, err := q.Submit(ctx, spec)
				require.NoError(b, err)
				ids = append(ids, j.ID)
			}
			for _, id := range ids {
				for {
					j, err := q.Get(ctx, id)
					require.NoError(b, err)
					if j.Status.Final() {
						require.Equal(b, jobs.StatusSucceeded, j.Status, j.Error)
						break
					}
					time.Sleep(time.Millisecond)
				}
			}
		}
		b.ReportMetric(float64(b.N*wave)/time.Since(start).Seconds(), "jobs/s")
	}
	b.Run("pool", func(b *testing.B) {
		p := jobs.NewPool(&jobs.Runner{Data: data}, jobs.PoolOptions{Workers: 1})
		defer p.Close()
		run(b, p)
	})
	pool := database(b)
	for _, conc := range []int{1, 4} {
		b.Run(fmt.Sprintf("river/workers=%d", conc), func(b *testing.B) {
			opt := riverjobs.Options{Queue: fmt.Sprintf("bench%d", queues.Add(1)), Retention: time.Hour}
			q, err := riverjobs.NewQueue(pool, data, opt)
			require.NoError(b, err)
			startWorker(b, pool, riverjobs.WorkerOptions{Options: opt, Concurrency: conc}, data)
			run(b, q)
		})
	}
}
