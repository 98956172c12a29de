package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/irisknn/irisknn/internal/dataset"
)

// taskType is the asynq task type of every job; the job's own type is in
// its payload.
const taskType = "irisknn:job"

// AsynqOptions configures the asynq queue and worker.
type AsynqOptions struct {
	Queue     string        // asynq queue name (default "irisknn")
	Prefix    string        // prefix of this package's own keys (default "irisknn:")
	Retention time.Duration // how long a finished job is kept (default 24h)
	MaxRetry  int           // runs after a failure or a worker crash (default 5)
	Timeout   time.Duration // the longest a run may take (default 1h)
}

func (o *AsynqOptions) fill() {
	if o.Queue == "" {
		o.Queue = "irisknn"
	}
	if o.Prefix == "" {
		o.Prefix = "irisknn:"
	}
	if o.Retention <= 0 {
		o.Retention = 24 * time.Hour
	}
	if o.MaxRetry <= 0 {
		o.MaxRetry = 5
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Hour
	}
}

// payload is a job's asynq payload.
type payload struct {
	Spec      Spec      `json:"spec"`
	CreatedAt time.Time `json:"created_at"`
}

// record is what a running job writes as its asynq result: its progress
// while it runs, then its final state and result. asynq keeps the last
// record written for the retention time.
type record struct {
	Status     Status          `json:"status"`
	Progress   float64         `json:"progress"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"`
}

// Asynq is a Queue that enqueues jobs in Redis with asynq; `irisd worker`
// processes (a Worker) run them. Any replica can report on any job.
type Asynq struct {
	opt     AsynqOptions
	data    Snapshots
	rdb     redis.UniversalClient
	client  *asynq.Client
	inspect *asynq.Inspector
}

var _ Queue = (*Asynq)(nil)

// NewAsynq returns a queue over rdb. data validates submitted jobs.
func NewAsynq(rdb redis.UniversalClient, data Snapshots, opt AsynqOptions) *Asynq {
	opt.fill()
	return &Asynq{opt: opt, data: data, rdb: rdb,
		client: asynq.NewClientFromRedisClient(rdb), inspect: asynq.NewInspectorFromRedisClient(rdb)}
}

func (q *Asynq) cancelKey(id string) string { return q.opt.Prefix + "jobs:cancelled:" + id }

// Submit implements Queue.
func (q *Asynq) Submit(ctx context.Context, spec Spec) (Job, error) {
	if err := spec.Check(q.data.Snapshot()); err != nil {
		return Job{}, err
	}
	p := payload{Spec: spec, CreatedAt: time.Now().UTC()}
	b, err := json.Marshal(p)
	if err != nil {
		return Job{}, err
	}
	id := newID()
	_, err = q.client.EnqueueContext(ctx, asynq.NewTask(taskType, b),
		asynq.TaskID(id), asynq.Queue(q.opt.Queue), asynq.Retention(q.opt.Retention),
		asynq.MaxRetry(q.opt.MaxRetry), asynq.Timeout(q.opt.Timeout))
	if err != nil {
		return Job{}, dataset.Unavailable("could not queue the job in Redis; retry later", err)
	}
	j := Job{ID: id, Type: spec.Type, Status: StatusQueued, CreatedAt: p.CreatedAt}
	q.explain(&j)
	return j, nil
}

// explain gives a queued job its notice when no worker serves the queue
// (asynq's server heartbeats, which expire within about 30 s of a
// worker's end) or every worker is busy.
func (q *Asynq) explain(j *Job) {
	if j.Status != StatusQueued {
		return
	}
	servers, err := q.inspect.Servers()
	if err != nil {
		return // the job's state is what matters; a notice is a courtesy
	}
	slots, busy := 0, 0
	for _, s := range servers {
		if s.Status == "active" && s.Queues[q.opt.Queue] > 0 {
			slots += s.Concurrency
			busy += len(s.ActiveWorkers)
		}
	}
	switch {
	case slots == 0:
		j.Notice = NoticeNoWorker
	case busy >= slots:
		ahead := 0
		if info, err := q.inspect.GetQueueInfo(q.opt.Queue); err == nil {
			ahead = max(info.Pending-1, 0)
		}
		j.Notice = noticeBusy(busy, ahead, fmt.Sprintf("%d irisd worker slots", slots))
	}
}

// Get implements Queue.
func (q *Asynq) Get(ctx context.Context, id string) (Job, error) {
	info, err := q.inspect.GetTaskInfo(q.opt.Queue, id)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return Job{}, notFound(id)
	}
	if err != nil {
		return Job{}, dataset.Unavailable("could not read the job from Redis; retry later", err)
	}
	cancelled, err := q.rdb.Exists(ctx, q.cancelKey(id)).Result()
	if err != nil {
		return Job{}, dataset.Unavailable("could not read the job from Redis; retry later", err)
	}
	j := toJob(info, cancelled == 1)
	q.explain(&j)
	return j, nil
}

// toJob converts asynq's view of a task.
func toJob(info *asynq.TaskInfo, cancelled bool) Job {
	var p payload
	_ = json.Unmarshal(info.Payload, &p)
	j := Job{ID: info.ID, Type: p.Spec.Type, CreatedAt: p.CreatedAt, Attempts: info.Retried}
	var rec record
	if len(info.Result) > 0 && json.Unmarshal(info.Result, &rec) == nil {
		j.Progress = rec.Progress
		if !rec.StartedAt.IsZero() {
			j.StartedAt = &rec.StartedAt
		}
		j.FinishedAt = rec.FinishedAt
	}
	switch info.State {
	case asynq.TaskStateActive:
		j.Status = StatusRunning
	case asynq.TaskStateCompleted:
		j.Status, j.Result, j.Progress = StatusSucceeded, rec.Result, 1
		if j.FinishedAt == nil && !info.CompletedAt.IsZero() {
			j.FinishedAt = &info.CompletedAt
		}
	case asynq.TaskStateArchived:
		j.Status, j.Error = StatusFailed, info.LastErr
		if !info.LastFailedAt.IsZero() {
			t := info.LastFailedAt.UTC()
			j.FinishedAt = &t
		}
	default: // pending, scheduled, retry, aggregating
		j.Status = StatusQueued
		if info.State == asynq.TaskStateRetry {
			j.Error = "the last run failed and the job will run again: " + info.LastErr
		}
	}
	if cancelled && j.Status != StatusSucceeded {
		j.Status, j.Error = StatusCancelled, "cancelled by a client"
	}
	return j
}

// Cancel implements Queue: it marks the job cancelled, removes it from the
// queue when it waits, and stops it when it runs.
func (q *Asynq) Cancel(ctx context.Context, id string) (Job, error) {
	j, err := q.Get(ctx, id)
	if err != nil {
		return j, err
	}
	if j.Status.Final() {
		return j, finished(j)
	}
	if err := q.rdb.Set(ctx, q.cancelKey(id), 1, q.opt.Retention).Err(); err != nil {
		return j, dataset.Unavailable("could not cancel the job; retry", err)
	}
	info, err := q.inspect.GetTaskInfo(q.opt.Queue, id)
	if err == nil {
		switch info.State {
		case asynq.TaskStateActive:
			err = q.inspect.CancelProcessing(id)
		case asynq.TaskStateCompleted, asynq.TaskStateArchived:
		default:
			err = q.inspect.ArchiveTask(q.opt.Queue, id)
		}
	}
	// A job that started meanwhile sees the mark when it checks it, and a
	// failure here leaves the mark in place: the worker honours it.
	if err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
		slog.Default().Debug("jobs: cancel", "id", id, "error", err)
	}
	return q.Get(ctx, id)
}

// Close implements Queue. It does not close the Redis client.
func (q *Asynq) Close() error {
	return errors.Join(q.client.Close(), q.inspect.Close())
}

// Worker runs queued jobs: the body of `irisd worker`.
type Worker struct {
	opt    AsynqOptions
	rdb    redis.UniversalClient
	runner *Runner
	srv    *asynq.Server
	log    *slog.Logger
}

// NewWorker returns a worker running up to concurrency jobs at once.
func NewWorker(rdb redis.UniversalClient, runner *Runner, concurrency int, log *slog.Logger, opt AsynqOptions) *Worker {
	opt.fill()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Worker{opt: opt, rdb: rdb, runner: runner, log: log}
	w.srv = asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: max(concurrency, 1),
		Queues:      map[string]int{opt.Queue: 1},
		// A crashed run is retried soon, not after asynq's minutes-long
		// default backoff.
		RetryDelayFunc:  func(n int, _ error, _ *asynq.Task) time.Duration { return time.Duration(n+1) * time.Second },
		ShutdownTimeout: 10 * time.Second,
		LogLevel:        asynq.WarnLevel,
	})
	return w
}

// Run processes jobs until ctx is done, then shuts down: running jobs get
// the shutdown timeout to finish, the others go back to the queue.
func (w *Worker) Run(ctx context.Context) error {
	mux := asynq.NewServeMux()
	mux.HandleFunc(taskType, w.process)
	if err := w.srv.Start(mux); err != nil {
		return fmt.Errorf("jobs: start worker: %w", err)
	}
	<-ctx.Done()
	w.srv.Shutdown()
	return nil
}

func (w *Worker) process(ctx context.Context, t *asynq.Task) error {
	id := t.ResultWriter().TaskID()
	if n, _ := w.rdb.Exists(ctx, w.opt.Prefix+"jobs:cancelled:"+id).Result(); n == 1 {
		return fmt.Errorf("cancelled by a client: %w", asynq.SkipRetry)
	}
	var p payload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("bad job payload: %v: %w", err, asynq.SkipRetry)
	}
	rec := record{Status: StatusRunning, StartedAt: time.Now().UTC()}
	write := func() {
		b, _ := json.Marshal(rec)
		if _, err := t.ResultWriter().Write(b); err != nil {
			w.log.Warn("jobs: could not record progress", "id", id, "error", err.Error())
		}
	}
	write()
	w.log.Info("job started", "id", id, "type", p.Spec.Type)
	res, err := w.runner.Run(ctx, p.Spec, func(f float64) {
		rec.Progress = f
		write()
	})
	if err != nil {
		if n, _ := w.rdb.Exists(context.Background(), w.opt.Prefix+"jobs:cancelled:"+id).Result(); n == 1 {
			w.log.Info("job cancelled", "id", id)
			return fmt.Errorf("cancelled by a client: %w", asynq.SkipRetry)
		}
		w.log.Warn("job failed", "id", id, "error", err.Error())
		if dataset.ErrorKind(err) == dataset.KindInvalid {
			// The set changed under the job (k now too large, say):
			// running it again cannot help.
			return fmt.Errorf("%s: %w", errorMessage(err), asynq.SkipRetry)
		}
		return err
	}
	now := time.Now().UTC()
	rec.Status, rec.Progress, rec.FinishedAt, rec.Result = StatusSucceeded, 1, &now, res
	b, _ := json.Marshal(rec)
	if _, err := t.ResultWriter().Write(b); err != nil {
		return fmt.Errorf("jobs: could not store the result: %w", err)
	}
	w.log.Info("job succeeded", "id", id, "type", p.Spec.Type, "duration", now.Sub(rec.StartedAt))
	return nil
}
