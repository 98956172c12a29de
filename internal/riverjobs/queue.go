package riverjobs

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/jobs"
)

// jobArgs is a job's River arguments: small, since the spec is in
// irisknn_jobs.
type jobArgs struct {
	Type jobs.Type `json:"type"`
	Rows int       `json:"rows"`
	// Trace is the submitting request's trace context (W3C headers);
	// empty with tracing off.
	Trace jobs.TraceCarrier `json:"trace,omitempty"`
}

// Kind implements river.JobArgs.
func (jobArgs) Kind() string { return "irisknn_job" }

// Options configures a Queue and a Worker. The zero value of a field means
// its default.
type Options struct {
	// Queue is the River queue (default "irisknn"). The limits count the
	// jobs and results of this queue; List lists its jobs.
	Queue       string
	Limits      jobs.Limits   // per job, backlog and kept results
	MaxAttempts int           // runs of a job, counting retries after a failure or a dead worker (default 3)
	Retention   time.Duration // how long a finished job is kept (default 24h)
	// WorkerGone is how long after a worker's last heartbeat a queued job
	// says that no worker is running (default 15s; workers beat every 5s).
	WorkerGone time.Duration
	Logger     *slog.Logger
}

func (o *Options) fill() {
	if o.Queue == "" {
		o.Queue = "irisknn"
	}
	o.Limits.Fill()
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	if o.Retention <= 0 {
		o.Retention = 24 * time.Hour
	}
	if o.WorkerGone <= 0 {
		o.WorkerGone = 15 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Queue is the jobs.Queue of a replica: it inserts River jobs and reads
// their state; it runs none (that is the Worker's part).
type Queue struct {
	opt    Options
	pool   *pgxpool.Pool
	client *river.Client[pgx.Tx] // insert-only
	data   jobs.Snapshots
}

var _ jobs.Queue = (*Queue)(nil)

// NewQueue returns the queue over pool (whose schema Migrate has set up).
// data is the training set submitted jobs are checked against.
func NewQueue(pool *pgxpool.Pool, data jobs.Snapshots, opt Options) (*Queue, error) {
	opt.fill()
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Logger:              opt.Logger,
		MaxAttempts:         opt.MaxAttempts,
		SkipUnknownJobCheck: true, // the workers are other processes
	})
	if err != nil {
		return nil, fmt.Errorf("riverjobs: %w", err)
	}
	return &Queue{opt: opt, pool: pool, client: client, data: data}, nil
}

// unavailable wraps a database failure for the client.
func unavailable(err error) error {
	return dataset.Unavailable("the job queue (PostgreSQL) did not answer; retry later", err)
}

// publicID is a job's id as clients see it: River's id, then a secret
// token, so that ids cannot be guessed from each other.
func publicID(id int64, token string) string { return strconv.FormatInt(id, 10) + "-" + token }

// parseID splits a public id; ok is false for one this queue never made.
func parseID(s string) (id int64, token string, ok bool) {
	a, token, found := strings.Cut(s, "-")
	id, err := strconv.ParseInt(a, 10, 64)
	if !found || err != nil || id <= 0 || len(token) != 32 {
		return 0, "", false
	}
	return id, token, true
}

// activeStates are River's states of a job that is not finished.
var activeStates = []string{string(rivertype.JobStateAvailable), string(rivertype.JobStatePending),
	string(rivertype.JobStateScheduled), string(rivertype.JobStateRetryable), string(rivertype.JobStateRunning)}

// Submit implements jobs.Queue. The backlog is counted and the job inserted
// in one transaction under an advisory lock, so that replicas submitting at
// once cannot together pass the limits.
func (q *Queue) Submit(ctx context.Context, spec jobs.Spec) (jobs.Job, error) {
	lim := q.opt.Limits
	if err := lim.Admit(&spec, q.data.Snapshot()); err != nil {
		return jobs.Job{}, err
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return jobs.Job{}, err
	}
	token := jobs.NewID()
	var j jobs.Job
	err = pgx.BeginFunc(ctx, q.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockSubmit); err != nil {
			return unavailable(err)
		}
		var n, rows int
		err := tx.QueryRow(ctx, `SELECT count(*), coalesce(sum(j.rows), 0) FROM irisknn_jobs j JOIN river_job r ON r.id = j.job_id
			WHERE r.state = ANY($1::river_job_state[]) AND r.queue = $2`, activeStates, q.opt.Queue).Scan(&n, &rows)
		if err != nil {
			return unavailable(err)
		}
		if !lim.Fits(n, rows, spec.Rows()) {
			return lim.Full(n, rows)
		}
		res, err := q.client.InsertTx(ctx, tx, jobArgs{Type: spec.Type, Rows: spec.Rows(), Trace: jobs.CarryTrace(ctx)},
			&river.InsertOpts{Queue: q.opt.Queue, MaxAttempts: q.opt.MaxAttempts})
		if err != nil {
			return unavailable(err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO irisknn_jobs (job_id, token, type, rows, spec) VALUES ($1, $2, $3, $4, $5)`,
			res.Job.ID, token, string(spec.Type), spec.Rows(), b); err != nil {
			return unavailable(err)
		}
		j = jobs.Job{ID: publicID(res.Job.ID, token), Type: spec.Type, Status: jobs.StatusQueued, CreatedAt: res.Job.CreatedAt.UTC()}
		return nil
	})
	if err != nil && dataset.ErrorKind(err) == dataset.KindInternal {
		err = unavailable(err)
	}
	return j, err
}

// row is what Get and List read of a job.
type row struct {
	id          int64
	state       rivertype.JobState
	attempt     int
	createdAt   time.Time
	attemptedAt *time.Time
	finalizedAt *time.Time
	lastError   *string
	token, typ  string
	progress    float64
	status      *string
	errMsg      *string
	result      []byte
	finishedAt  *time.Time
}

// selectJob reads River's row and ours; withResult adds the result.
func selectJob(withResult bool) string {
	result := "NULL::bytea"
	if withResult {
		result = "j.result"
	}
	return `SELECT r.id, r.state, r.attempt, r.created_at, r.attempted_at, r.finalized_at,
		r.errors[array_length(r.errors, 1)]->>'error',
		j.token, j.type, j.progress, j.status, j.error, ` + result + `, j.finished_at
		FROM river_job r JOIN irisknn_jobs j ON j.job_id = r.id`
}

func scanRow(s interface{ Scan(...any) error }) (row, error) {
	var r row
	var state string
	err := s.Scan(&r.id, &state, &r.attempt, &r.createdAt, &r.attemptedAt, &r.finalizedAt, &r.lastError,
		&r.token, &r.typ, &r.progress, &r.status, &r.errMsg, &r.result, &r.finishedAt)
	r.state = rivertype.JobState(state)
	return r, err
}

// toJob converts a row: River's state, refined by what the worker recorded.
func toJob(r row) jobs.Job {
	j := jobs.Job{ID: publicID(r.id, r.token), Type: jobs.Type(r.typ), Progress: r.progress,
		CreatedAt: r.createdAt.UTC(), StartedAt: utc(r.attemptedAt), Attempts: max(r.attempt-1, 0)}
	switch r.state {
	case rivertype.JobStateRunning:
		j.Status = jobs.StatusRunning
	case rivertype.JobStateCompleted:
		j.FinishedAt = utc(r.finishedAt)
		if j.FinishedAt == nil {
			j.FinishedAt = utc(r.finalizedAt)
		}
		j.Status = jobs.StatusSucceeded
		if r.status != nil && *r.status == string(jobs.StatusFailed) {
			j.Status, j.Error = jobs.StatusFailed, deref(r.errMsg)
		} else {
			j.Result = r.result
		}
	case rivertype.JobStateCancelled:
		j.Status, j.Error, j.FinishedAt = jobs.StatusCancelled, "cancelled by a client", utc(r.finalizedAt)
	case rivertype.JobStateDiscarded:
		j.Status, j.FinishedAt = jobs.StatusFailed, utc(r.finalizedAt)
		j.Error = fmt.Sprintf("the job failed in each of its %d runs; the last: %s", r.attempt, deref(r.lastError))
	default: // available, pending, scheduled, retryable
		j.Status = jobs.StatusQueued
		if r.lastError != nil {
			j.Error = "the last run failed and the job will run again: " + *r.lastError
		}
	}
	if j.Status == jobs.StatusSucceeded {
		j.Progress = 1
	}
	return j
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// get reads the job named by a public id.
func (q *Queue) get(ctx context.Context, public string, withResult bool) (row, error) {
	id, token, ok := parseID(public)
	if !ok {
		return row{}, jobs.NotFound(public)
	}
	r, err := scanRow(q.pool.QueryRow(ctx, selectJob(withResult)+` WHERE r.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return row{}, jobs.NotFound(public)
	}
	if err != nil {
		return row{}, unavailable(err)
	}
	if subtle.ConstantTimeCompare([]byte(r.token), []byte(token)) != 1 {
		return row{}, jobs.NotFound(public)
	}
	return r, nil
}

// Get implements jobs.Queue. A queued job says why it waits.
func (q *Queue) Get(ctx context.Context, id string) (jobs.Job, error) {
	r, err := q.get(ctx, id, true)
	if err != nil {
		return jobs.Job{}, err
	}
	j := toJob(r)
	if j.Status == jobs.StatusQueued {
		var w workers
		if w, err = q.workers(ctx); err == nil {
			err = w.explain(ctx, q, &j, r.id)
		}
	}
	return j, err
}

// workers is what the heartbeats say of the queue's workers.
type workers struct {
	slots, busy int // worker slots alive, jobs running
}

// workers reads the live workers' slots (heartbeats younger than
// WorkerGone) and the jobs running on the queue.
func (q *Queue) workers(ctx context.Context) (workers, error) {
	var w workers
	err := q.pool.QueryRow(ctx, `SELECT
		(SELECT coalesce(sum(concurrency), 0) FROM irisknn_job_workers WHERE queue = $1 AND seen_at > now() - make_interval(secs => $2)),
		(SELECT count(*) FROM river_job WHERE queue = $1 AND state = 'running')`,
		q.opt.Queue, q.opt.WorkerGone.Seconds()).Scan(&w.slots, &w.busy)
	if err != nil {
		return w, unavailable(err)
	}
	return w, nil
}

// explain gives a queued job (River id rid) its notice: no worker runs, or
// every worker slot is busy (with the jobs waiting before it).
func (w workers) explain(ctx context.Context, q *Queue, j *jobs.Job, rid int64) error {
	switch {
	case j.Status != jobs.StatusQueued:
	case w.slots == 0:
		j.Notice = jobs.NoticeNoWorker
	case w.busy >= w.slots:
		var ahead int
		err := q.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE queue = $1 AND id < $2
			AND state IN ('available', 'scheduled', 'retryable', 'pending')`, q.opt.Queue, rid).Scan(&ahead)
		if err != nil {
			return unavailable(err)
		}
		j.Notice = jobs.NoticeBusy(w.busy, ahead, fmt.Sprintf("%d irisd worker slots", w.slots))
	}
	return nil
}

// Cancel implements jobs.Queue. A queued job is cancelled at once; a running
// one is told to stop and reads "cancelled" once its worker has stopped it
// (normally within milliseconds).
func (q *Queue) Cancel(ctx context.Context, id string) (jobs.Job, error) {
	r, err := q.get(ctx, id, false)
	if err != nil {
		return jobs.Job{}, err
	}
	if j := toJob(r); j.Status.Final() {
		return j, jobs.Finished(j)
	}
	jr, err := q.client.JobCancel(ctx, r.id)
	if err != nil {
		return jobs.Job{}, unavailable(err)
	}
	r, err = q.get(ctx, id, false)
	if err != nil {
		return jobs.Job{}, err
	}
	j := toJob(r)
	if jr.State == rivertype.JobStateCompleted {
		return j, jobs.Finished(j) // it finished before the cancel arrived
	}
	return j, nil
}

// List implements jobs.Queue: newest first; the cursor is the River id of
// the last job of the previous page.
func (q *Queue) List(ctx context.Context, p jobs.ListParams) (jobs.Page, error) {
	var before int64
	if p.Cursor != "" {
		n, err := strconv.ParseInt(p.Cursor, 10, 64)
		if err != nil || n <= 0 {
			return jobs.Page{}, jobs.BadCursor(p.Cursor)
		}
		before = n
	}
	limit := max(p.Limit, 1)
	rows, err := q.pool.Query(ctx, selectJob(false)+` WHERE ($1 = 0 OR j.job_id < $1) AND r.queue = $3 ORDER BY j.job_id DESC LIMIT $2`, before, limit+1, q.opt.Queue)
	if err != nil {
		return jobs.Page{}, unavailable(err)
	}
	defer rows.Close()
	page := jobs.Page{Jobs: []jobs.Job{}}
	var last int64
	more := false
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return jobs.Page{}, unavailable(err)
		}
		if len(page.Jobs) == limit {
			more = true
			break
		}
		page.Jobs = append(page.Jobs, toJob(r))
		last = r.id
	}
	if err := rows.Err(); err != nil {
		return jobs.Page{}, unavailable(err)
	}
	rows.Close()
	if err := q.explainPage(ctx, page.Jobs); err != nil {
		return jobs.Page{}, err
	}
	if more {
		page.NextCursor = strconv.FormatInt(last, 10)
	}
	return page, nil
}

// explainPage gives the queued jobs of a page (newest first) their notices
// with two queries, whatever the page's length.
func (q *Queue) explainPage(ctx context.Context, page []jobs.Job) error {
	oldest := int64(0) // River id of the oldest queued job on the page
	for _, j := range page {
		if j.Status == jobs.StatusQueued {
			oldest, _, _ = parseID(j.ID)
		}
	}
	if oldest == 0 {
		return nil
	}
	w, err := q.workers(ctx)
	if err != nil || w.slots == 0 || w.busy < w.slots {
		if err == nil {
			for i := range page {
				w.explain(ctx, q, &page[i], 0) // no worker, or a free slot: no query
			}
		}
		return err
	}
	var ahead int
	if err := q.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE queue = $1 AND id < $2
		AND state IN ('available', 'scheduled', 'retryable', 'pending')`, q.opt.Queue, oldest).Scan(&ahead); err != nil {
		return unavailable(err)
	}
	for i := len(page) - 1; i >= 0; i-- { // oldest first
		if page[i].Status == jobs.StatusQueued {
			page[i].Notice = jobs.NoticeBusy(w.busy, ahead, fmt.Sprintf("%d irisd worker slots", w.slots))
			ahead++
		}
	}
	return nil
}

// Close implements jobs.Queue. It does not close the pool.
func (q *Queue) Close() error { return nil }
