package riverjobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/jobs"
)

// WorkerOptions configures a Worker beyond the queue's Options.
type WorkerOptions struct {
	Options
	Concurrency int // jobs run at once (default 1)
	// JobTimeout is the longest one run of a job may take (default 20s);
	// RescueAfter is how long a job may stay running before River takes its
	// worker for dead and runs it again elsewhere (default 25s; it must be
	// longer than JobTimeout). A killed worker's job runs again within
	// RescueAfter plus River's rescuer interval (30s) and a few seconds.
	JobTimeout  time.Duration
	RescueAfter time.Duration
	// Heartbeat is how often the worker says it is alive (default 5s).
	Heartbeat time.Duration
}

func (o *WorkerOptions) fill() {
	o.Options.fill()
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.JobTimeout <= 0 {
		o.JobTimeout = 20 * time.Second
	}
	if o.RescueAfter <= 0 {
		o.RescueAfter = 25 * time.Second
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 5 * time.Second
	}
}

// Worker runs queued jobs: the body of `irisd worker`.
type Worker struct {
	opt    WorkerOptions
	pool   *pgxpool.Pool
	runner *jobs.Runner
	client *river.Client[pgx.Tx]
	log    *slog.Logger
}

// NewWorker returns a worker running jobs with runner (whose Limits should
// be the queue's).
func NewWorker(pool *pgxpool.Pool, runner *jobs.Runner, opt WorkerOptions) (*Worker, error) {
	opt.fill()
	if opt.RescueAfter <= opt.JobTimeout {
		return nil, fmt.Errorf("riverjobs: the rescue delay (%v) must be longer than the job timeout (%v)", opt.RescueAfter, opt.JobTimeout)
	}
	w := &Worker{opt: opt, pool: pool, runner: runner, log: opt.Logger}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &riverWorker{w: w}); err != nil {
		return nil, fmt.Errorf("riverjobs: %w", err)
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:                      map[string]river.QueueConfig{opt.Queue: {MaxWorkers: opt.Concurrency}},
		Workers:                     workers,
		JobTimeout:                  opt.JobTimeout,
		RescueStuckJobsAfter:        opt.RescueAfter,
		MaxAttempts:                 opt.MaxAttempts,
		CompletedJobRetentionPeriod: opt.Retention,
		CancelledJobRetentionPeriod: opt.Retention,
		DiscardedJobRetentionPeriod: opt.Retention,
		RetryPolicy:                 retrySoon{},
		// River fetches at most once per cooldown (100ms by default), which
		// would cap a worker at ten short jobs a second.
		FetchCooldown:   10 * time.Millisecond,
		SoftStopTimeout: 10 * time.Second,
		Logger:          opt.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("riverjobs: %w", err)
	}
	w.client = client
	return w, nil
}

// retrySoon retries a failed run after one second per attempt, not after
// River's default of attempt⁴ seconds: a rescued job should run again soon.
type retrySoon struct{}

func (retrySoon) NextRetry(j *rivertype.JobRow) time.Time {
	return time.Now().Add(time.Duration(j.Attempt) * time.Second)
}

// Run works jobs until ctx is done, then stops: running jobs get River's
// soft-stop timeout to finish, then are cancelled and run again elsewhere.
func (w *Worker) Run(ctx context.Context) error {
	id := w.client.ID()
	if err := w.beat(ctx, id); err != nil {
		return err
	}
	if err := w.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("riverjobs: start worker: %w", err)
	}
	w.log.Info("worker started", "id", id, "queue", w.opt.Queue, "concurrency", w.opt.Concurrency,
		"job_timeout", w.opt.JobTimeout.String(), "rescue_after", w.opt.RescueAfter.String())
	beat := time.NewTicker(w.opt.Heartbeat)
	defer beat.Stop()
	clean := time.NewTicker(time.Minute)
	defer clean.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-w.client.Stopped():
			return errors.New("riverjobs: the River client stopped")
		case <-beat.C:
			if err := w.beat(ctx, id); err != nil && ctx.Err() == nil {
				w.log.Warn("worker heartbeat failed", "error", err.Error())
			}
		case <-clean.C:
			if err := w.clean(ctx); err != nil && ctx.Err() == nil {
				w.log.Warn("job cleanup failed", "error", err.Error())
			}
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := w.client.Stop(sctx)
	if _, derr := w.pool.Exec(sctx, `DELETE FROM irisknn_job_workers WHERE id = $1`, id); derr != nil {
		w.log.Warn("could not remove the worker's heartbeat", "error", derr.Error())
	}
	return err
}

// beat records that this worker is alive.
func (w *Worker) beat(ctx context.Context, id string) error {
	_, err := w.pool.Exec(ctx, `INSERT INTO irisknn_job_workers (id, seen_at, queue, concurrency) VALUES ($1, now(), $2, $3)
		ON CONFLICT (id) DO UPDATE SET seen_at = now()`, id, w.opt.Queue, w.opt.Concurrency)
	return err
}

// clean forgets what River has deleted (after the retention), drops the
// specs of jobs River finished without a worker's word (cancelled,
// discarded), and heartbeats of workers gone for an hour.
func (w *Worker) clean(ctx context.Context) error {
	_, err := w.pool.Exec(ctx, `
		DELETE FROM irisknn_jobs j WHERE NOT EXISTS (SELECT 1 FROM river_job r WHERE r.id = j.job_id);
		UPDATE irisknn_jobs j SET spec = NULL FROM river_job r
			WHERE r.id = j.job_id AND j.spec IS NOT NULL AND r.state IN ('cancelled', 'discarded');
		DELETE FROM irisknn_job_workers WHERE seen_at < now() - interval '1 hour';`)
	return err
}

// riverWorker is the River worker of every job.
type riverWorker struct {
	river.WorkerDefaults[jobArgs]
	w *Worker
}

// Work runs one attempt of a job. A job whose input is no longer valid (the
// set changed under it) fails for good; a cancelled, timed-out or
// otherwise failed run returns its error to River, which cancels or retries
// it.
func (rw *riverWorker) Work(ctx context.Context, job *river.Job[jobArgs]) error {
	w := rw.w
	var b []byte
	err := w.pool.QueryRow(ctx, `SELECT spec FROM irisknn_jobs WHERE job_id = $1`, job.ID).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && b == nil) {
		return river.JobCancel(errors.New("the job's input is gone"))
	}
	if err != nil {
		return err
	}
	var spec jobs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return w.finish(ctx, job, jobs.StatusFailed, nil, "the job's stored input is unreadable: "+err.Error())
	}
	start := time.Now()
	w.log.Info("job started", "job", job.ID, "type", spec.Type, "attempt", job.Attempt)
	runCtx, end := jobs.StartRunSpan(ctx, job.Args.Trace, strconv.FormatInt(job.ID, 10), spec.Type)
	res, err := w.runner.Run(runCtx, spec, func(f float64) {
		if f < 1 { // finish records the end
			w.progress(ctx, job.ID, f)
		}
	})
	end(err)
	switch {
	case err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		w.log.Warn("job timed out", "job", job.ID, "attempt", job.Attempt, "job_timeout", w.opt.JobTimeout.String())
		return fmt.Errorf("the run took longer than the job timeout (-job-timeout %v): %w", w.opt.JobTimeout, err)
	case err != nil && ctx.Err() != nil:
		w.log.Info("job stopped", "job", job.ID, "cause", context.Cause(ctx).Error())
		return err
	case err != nil && dataset.ErrorKind(err) == dataset.KindInvalid:
		w.log.Info("job failed", "job", job.ID, "error", err.Error())
		return w.finish(ctx, job, jobs.StatusFailed, nil, jobs.ErrorMessage(err))
	case err != nil:
		w.log.Warn("job run failed", "job", job.ID, "attempt", job.Attempt, "error", err.Error())
		return err
	}
	if err := w.finish(ctx, job, jobs.StatusSucceeded, res, ""); err != nil {
		return err
	}
	w.log.Info("job succeeded", "job", job.ID, "type", spec.Type, "bytes", len(res), "duration", time.Since(start).String())
	return nil
}

// progress records how far a job has got. Progress is not worth an fsync:
// it is committed without waiting for the disk (synchronous_commit off for
// this transaction), so that reporting it never slows the job down; a crash
// may lose the last report, never a result.
func (w *Worker) progress(ctx context.Context, id int64, f float64) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	err := pgx.BeginFunc(pctx, w.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(pctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return err
		}
		_, err := tx.Exec(pctx, `UPDATE irisknn_jobs SET progress = $2 WHERE job_id = $1`, id, f)
		return err
	})
	if err != nil {
		w.log.Warn("could not record progress", "job", id, "error", err.Error())
	}
}

// finish records a job's outcome and completes it in River, in one
// transaction: a result first makes room in the budget of kept results by
// forgetting the oldest finished jobs.
func (w *Worker) finish(ctx context.Context, job *river.Job[jobArgs], st jobs.Status, result []byte, msg string) error {
	budget := w.opt.Limits.ResultBytes
	return pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		if len(result) > 0 {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockResults); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `SELECT job_id FROM (
				SELECT j.job_id, sum(j.result_bytes) OVER (ORDER BY j.finished_at DESC, j.job_id DESC) AS kept
				FROM irisknn_jobs j JOIN river_job r ON r.id = j.job_id
				WHERE j.result_bytes > 0 AND r.queue = $2) k WHERE kept > $1`, budget-int64(len(result)), w.opt.Queue)
			if err != nil {
				return err
			}
			evict, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return err
			}
			if len(evict) > 0 {
				if _, err := tx.Exec(ctx, `DELETE FROM irisknn_jobs WHERE job_id = ANY($1)`, evict); err != nil {
					return err
				}
				for _, id := range evict {
					if _, err := w.client.JobDeleteTx(ctx, tx, id); err != nil && !errors.Is(err, river.ErrNotFound) {
						return err
					}
				}
				w.log.Info("evicted old job results", "jobs", len(evict), "budget_bytes", budget)
			}
		}
		var errMsg *string
		if msg != "" {
			errMsg = &msg
		}
		if _, err := tx.Exec(ctx, `UPDATE irisknn_jobs SET status = $2, error = $3, result = $4, result_bytes = $5,
			progress = CASE WHEN $2 = 'succeeded' THEN 1 ELSE progress END, finished_at = now(), spec = NULL WHERE job_id = $1`,
			job.ID, string(st), errMsg, result, int64(len(result))); err != nil {
			return err
		}
		_, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job)
		return err
	})
}
