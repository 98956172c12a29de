package jobs

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/irisknn/irisknn/internal/dataset"
)

// Pool is a Queue that runs jobs in this process with a fixed number of
// workers. Jobs are lost when the process stops; use Asynq for jobs that
// must survive a restart.
type Pool struct {
	runner    *Runner
	retention time.Duration
	workers   int

	seq   atomic.Uint64
	mu    sync.Mutex
	jobs  map[string]*poolJob
	queue chan *poolJob

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type poolJob struct {
	seq    uint64 // submission order
	job    Job    // guarded by Pool.mu
	spec   Spec
	cancel context.CancelFunc // set while running
}

var _ Queue = (*Pool)(nil)

// PoolOptions configures a Pool.
type PoolOptions struct {
	Workers   int           // jobs run at once (default 1)
	Backlog   int           // jobs waiting at most (default 1000); more are refused
	Retention time.Duration // how long a finished job is kept (default 24h)
}

// NewPool starts a pool of workers running jobs with runner.
func NewPool(runner *Runner, opt PoolOptions) *Pool {
	if opt.Workers <= 0 {
		opt.Workers = 1
	}
	if opt.Backlog <= 0 {
		opt.Backlog = 1000
	}
	if opt.Retention <= 0 {
		opt.Retention = 24 * time.Hour
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pool{runner: runner, retention: opt.Retention, workers: opt.Workers, jobs: map[string]*poolJob{},
		queue: make(chan *poolJob, opt.Backlog), ctx: ctx, cancel: cancel}
	for range opt.Workers {
		p.wg.Go(p.work)
	}
	return p
}

// Submit implements Queue.
func (p *Pool) Submit(ctx context.Context, spec Spec) (Job, error) {
	if err := spec.Check(p.runner.Data.Snapshot()); err != nil {
		return Job{}, err
	}
	j := &poolJob{seq: p.seq.Add(1), spec: spec, job: Job{ID: newID(), Type: spec.Type, Status: StatusQueued, CreatedAt: time.Now().UTC()}}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expire()
	select {
	case p.queue <- j:
	default:
		return Job{}, dataset.Unavailable("too many jobs are waiting; retry later", nil)
	}
	p.jobs[j.job.ID] = j
	return p.report(j), nil
}

// Get implements Queue.
func (p *Pool) Get(ctx context.Context, id string) (Job, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expire()
	j, ok := p.jobs[id]
	if !ok {
		return Job{}, notFound(id)
	}
	return p.report(j), nil
}

// report is what a client sees of j: its state and, while it waits, how
// many jobs run and wait before it; p.mu held.
func (p *Pool) report(j *poolJob) Job {
	out := j.job
	if out.Status != StatusQueued {
		return out
	}
	busy, ahead := 0, 0
	for _, o := range p.jobs {
		switch {
		case o.job.Status == StatusRunning:
			busy++
		case o.job.Status == StatusQueued && o.seq < j.seq:
			ahead++
		}
	}
	if busy+ahead > 0 {
		out.Notice = noticeBusy(busy, ahead, fmt.Sprintf("-job-workers %d", p.workers))
	}
	return out
}

// Cancel implements Queue.
func (p *Pool) Cancel(ctx context.Context, id string) (Job, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	j, ok := p.jobs[id]
	if !ok {
		return Job{}, notFound(id)
	}
	if j.job.Status.Final() {
		return j.job, finished(j.job)
	}
	if j.cancel != nil {
		j.cancel()
	}
	p.finish(j, StatusCancelled, nil, "cancelled by a client")
	return j.job, nil
}

// Close stops the workers, cancelling running jobs, and waits for them.
func (p *Pool) Close() error {
	p.cancel()
	p.wg.Wait()
	return nil
}

// expire forgets jobs finished longer ago than the retention; p.mu held.
func (p *Pool) expire() {
	cutoff := time.Now().Add(-p.retention)
	for id, j := range p.jobs {
		if f := j.job.FinishedAt; f != nil && f.Before(cutoff) {
			delete(p.jobs, id)
		}
	}
}

// finish records a final status; p.mu held.
func (p *Pool) finish(j *poolJob, st Status, result []byte, msg string) {
	now := time.Now().UTC()
	j.job.Status, j.job.FinishedAt, j.job.Result, j.job.Error = st, &now, result, msg
	if st == StatusSucceeded {
		j.job.Progress = 1
	}
}

func (p *Pool) work() {
	for {
		var j *poolJob
		select {
		case <-p.ctx.Done():
			return
		case j = <-p.queue:
		}
		p.run(j)
	}
}

func (p *Pool) run(j *poolJob) {
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	p.mu.Lock()
	if j.job.Status != StatusQueued { // cancelled while waiting
		p.mu.Unlock()
		return
	}
	now := time.Now().UTC()
	j.job.Status, j.job.StartedAt, j.cancel = StatusRunning, &now, cancel
	p.mu.Unlock()

	res, err := p.runner.Run(ctx, j.spec, func(f float64) {
		p.mu.Lock()
		if j.job.Status == StatusRunning {
			j.job.Progress = f
		}
		p.mu.Unlock()
	})

	p.mu.Lock()
	defer p.mu.Unlock()
	j.cancel = nil
	switch {
	case j.job.Status != StatusRunning: // cancelled meanwhile
	case err != nil && p.ctx.Err() != nil:
		p.finish(j, StatusFailed, nil, "the server shut down while the job ran")
	case err != nil:
		p.finish(j, StatusFailed, nil, errorMessage(err))
	default:
		p.finish(j, StatusSucceeded, res, "")
	}
}

// errorMessage is the client's message for a job's error.
func errorMessage(err error) string {
	if e, ok := err.(*dataset.Error); ok && e.Kind != dataset.KindInternal {
		return e.Message
	}
	return "the job failed: " + err.Error()
}
