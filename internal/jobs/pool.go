package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/irisknn/irisknn/internal/dataset"
)

// Pool is a Queue that runs jobs in this process with a fixed number of
// workers. Jobs are lost when the process stops; the PostgreSQL queue
// (package riverjobs) keeps them across restarts.
//
// The pool holds at most Limits.Backlog jobs and Limits.BacklogRows rows
// waiting or running, and at most Limits.ResultBytes of results: a new
// result evicts the oldest finished jobs first.
type Pool struct {
	runner    *Runner
	retention time.Duration
	limits    Limits
	workers   int

	mu          sync.Mutex
	jobs        map[string]*poolJob
	seq         uint64        // order of submission, for List
	active      int           // jobs queued or running
	activeRows  int           // their rows
	resultBytes int64         // bytes of results kept
	pending     []*poolJob    // queued jobs, oldest first
	wake        chan struct{} // a job was queued

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type poolJob struct {
	job    Job // guarded by Pool.mu
	seq    uint64
	trace  traceCarrier
	spec   Spec
	rows   int
	cancel context.CancelFunc // set while running
}

var _ Queue = (*Pool)(nil)

// PoolOptions configures a Pool.
type PoolOptions struct {
	Workers   int           // jobs run at once (default 1)
	Retention time.Duration // how long a finished job is kept (default 24h)
}

// NewPool starts a pool of workers running jobs with runner, bounded by
// runner.Limits.
func NewPool(runner *Runner, opt PoolOptions) *Pool {
	if opt.Workers <= 0 {
		opt.Workers = 1
	}
	if opt.Retention <= 0 {
		opt.Retention = 24 * time.Hour
	}
	lim := runner.Limits
	lim.Fill()
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pool{runner: runner, retention: opt.Retention, limits: lim, workers: opt.Workers, jobs: map[string]*poolJob{},
		wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
	for range opt.Workers {
		p.wg.Go(p.work)
	}
	return p
}

// Submit implements Queue.
func (p *Pool) Submit(ctx context.Context, spec Spec) (Job, error) {
	if err := p.limits.Admit(&spec, p.runner.Data.Snapshot()); err != nil {
		return Job{}, err
	}
	j := &poolJob{spec: spec, rows: spec.Rows(), trace: carryTrace(ctx), job: Job{ID: NewID(), Type: spec.Type, Status: StatusQueued, CreatedAt: time.Now().UTC()}}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expire()
	if !p.limits.Fits(p.active, p.activeRows, j.rows) {
		return Job{}, p.limits.Full(p.active, p.activeRows)
	}
	p.pending = append(p.pending, j)
	p.signal()
	p.seq++
	j.seq = p.seq
	p.active++
	p.activeRows += j.rows
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
		return Job{}, NotFound(id)
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
		out.Notice = NoticeBusy(busy, ahead, fmt.Sprintf("-job-workers %d", p.workers))
	}
	return out
}

// Cancel implements Queue.
func (p *Pool) Cancel(ctx context.Context, id string) (Job, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	j, ok := p.jobs[id]
	if !ok {
		return Job{}, NotFound(id)
	}
	if j.job.Status.Final() {
		return j.job, Finished(j.job)
	}
	if j.cancel != nil {
		j.cancel()
	}
	if i := slices.Index(p.pending, j); i >= 0 {
		p.pending = slices.Delete(p.pending, i, i+1)
	}
	p.finish(j, StatusCancelled, nil, "cancelled by a client")
	return j.job, nil
}

// List implements Queue. The cursor is the submission number of the last
// job of the previous page.
func (p *Pool) List(ctx context.Context, lp ListParams) (Page, error) {
	before := uint64(0)
	if lp.Cursor != "" {
		n, err := strconv.ParseUint(lp.Cursor, 10, 64)
		if err != nil || n == 0 {
			return Page{}, badCursor(lp.Cursor)
		}
		before = n
	}
	p.mu.Lock()
	p.expire()
	all := make([]*poolJob, 0, len(p.jobs))
	for _, j := range p.jobs {
		if before == 0 || j.seq < before {
			all = append(all, j)
		}
	}
	slices.SortFunc(all, func(a, b *poolJob) int { return -compareSeq(a.seq, b.seq) })
	page := Page{Jobs: []Job{}}
	for _, j := range all[:min(len(all), max(lp.Limit, 1))] {
		v := j.job
		v.Result = nil
		page.Jobs = append(page.Jobs, v)
	}
	if len(all) > len(page.Jobs) {
		page.NextCursor = strconv.FormatUint(all[len(page.Jobs)-1].seq, 10)
	}
	p.mu.Unlock()
	return page, nil
}

func compareSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
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
			p.forget(id, j)
		}
	}
}

// forget drops a finished job; p.mu held.
func (p *Pool) forget(id string, j *poolJob) {
	p.resultBytes -= int64(len(j.job.Result))
	delete(p.jobs, id)
}

// evict forgets the oldest finished jobs until n more bytes of results fit
// in the budget; p.mu held.
func (p *Pool) evict(n int64) {
	if p.resultBytes+n <= p.limits.ResultBytes {
		return
	}
	var done []*poolJob
	for _, j := range p.jobs {
		if j.job.Status.Final() && len(j.job.Result) > 0 {
			done = append(done, j)
		}
	}
	slices.SortFunc(done, func(a, b *poolJob) int { return a.job.FinishedAt.Compare(*b.job.FinishedAt) })
	for _, j := range done {
		if p.resultBytes+n <= p.limits.ResultBytes {
			return
		}
		p.forget(j.job.ID, j)
	}
}

// finish records a final status; p.mu held.
func (p *Pool) finish(j *poolJob, st Status, result json.RawMessage, msg string) {
	now := time.Now().UTC()
	p.active--
	p.activeRows -= j.rows
	j.spec = Spec{} // the rows are no longer needed
	if len(result) > 0 {
		p.evict(int64(len(result)))
		p.resultBytes += int64(len(result))
	}
	j.job.Status, j.job.FinishedAt, j.job.Result, j.job.Error = st, &now, result, msg
	if st == StatusSucceeded {
		j.job.Progress = 1
	}
}

// signal wakes a worker; p.mu held.
func (p *Pool) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// next takes the oldest queued job, or nil.
func (p *Pool) next() *poolJob {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) == 0 {
		return nil
	}
	j := p.pending[0]
	p.pending = slices.Delete(p.pending, 0, 1)
	if len(p.pending) > 0 {
		p.signal() // another worker may take the next
	}
	return j
}

func (p *Pool) work() {
	for {
		if j := p.next(); j != nil {
			p.run(j)
			continue
		}
		select {
		case <-p.ctx.Done():
			return
		case <-p.wake:
		}
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
	spec := j.spec
	p.mu.Unlock()

	ctx, end := startRunSpan(ctx, j.trace, j.job.ID, spec.Type)
	res, err := p.runner.Run(ctx, spec, func(f float64) {
		p.mu.Lock()
		if j.job.Status == StatusRunning {
			j.job.Progress = f
		}
		p.mu.Unlock()
	})

	end(err)

	p.mu.Lock()
	defer p.mu.Unlock()
	j.cancel = nil
	switch {
	case j.job.Status != StatusRunning: // cancelled meanwhile
	case err != nil && p.ctx.Err() != nil:
		p.finish(j, StatusFailed, nil, "the server shut down while the job ran")
	case err != nil:
		p.finish(j, StatusFailed, nil, ErrorMessage(err))
	default:
		p.finish(j, StatusSucceeded, res, "")
	}
}

// ErrorMessage is the client's message for a job's error.
func ErrorMessage(err error) string {
	if e, ok := errors.AsType[*dataset.Error](err); ok && e.Kind != dataset.KindInternal {
		return e.Message
	}
	return "the job failed: " + err.Error()
}
