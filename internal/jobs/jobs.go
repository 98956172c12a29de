// Package jobs runs long work (a large batch prediction, an evaluation
// sweep over k, metrics and weightings) asynchronously: a client submits a
// job, polls its status and progress, reads its result, or cancels it.
//
// [Queue] is the interface; [Pool] runs jobs in this process (the default),
// and package riverjobs queues them in PostgreSQL (River) for `irisd worker`
// processes, so that jobs survive a worker's crash and any replica can report
// on any job. Both run jobs with a [Runner] and bound them with one set of
// [Limits].
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/knn"
)

// Type is the kind of a job.
type Type string

// The job types.
const (
	TypeBatchPredict Type = "batch_predict" // classify many rows
	TypeEvaluate     Type = "evaluate"      // cross-validate settings
)

// Status is where a job is in its life.
type Status string

// The statuses. Succeeded, failed and cancelled are final.
const (
	StatusQueued    Status = "queued"
	StatusRunning   Status = "running"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	StatusCancelled Status = "cancelled"
)

// Final reports whether s is a final status.
func (s Status) Final() bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusCancelled
}

// Job is the state of a job as clients see it.
type Job struct {
	ID         string          `json:"id,omitempty"` // empty only in a redacted listing
	Type       Type            `json:"type"`
	Status     Status          `json:"status"`
	Progress   float64         `json:"progress"` // 0..1
	CreatedAt  time.Time       `json:"created_at"`
	StartedAt  *time.Time      `json:"started_at,omitempty"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
	Attempts   int             `json:"attempts,omitempty"` // runs started after a failure (retries)
	Result     json.RawMessage `json:"result,omitempty"`
	Error      string          `json:"error,omitempty"`
	// Notice says why a queued job has not started, when the queue can
	// tell: no worker is running to pick it up, or every worker is busy.
	// A queue computes it when it reports the job; it is never stored.
	Notice string `json:"notice,omitempty"`
}

// Notices of queued jobs, shared by the queues.
const (
	// NoticeNoWorker: a shared queue with no worker process.
	NoticeNoWorker = "no irisd worker is running for this queue: the job waits until one starts (irisd worker, with the same -postgres as the server)"
)

// NoticeBusy is the notice of a job waiting while busy jobs run (on the
// workers that flag names) and ahead jobs wait before it.
func NoticeBusy(busy, ahead int, flag string) string {
	return fmt.Sprintf("waiting for a free worker: %d busy (%s), %d queued before this job", busy, flag, ahead)
}

// Spec is what a job must do: its type and the input of that type.
type Spec struct {
	Type     Type          `json:"type"`
	Batch    *BatchPredict `json:"batch,omitempty"`
	Evaluate *Evaluate     `json:"evaluate,omitempty"`
}

// BatchPredict classifies every row of Instances with one query.
type BatchPredict struct {
	Instances [][]float64 `json:"instances"`
	Query     knn.Query   `json:"query"`
	// Labels, when the batch carried a label column (a CSV with the
	// schema's label), are the rows' labels ("" for an empty cell); the
	// result then scores the predictions against them.
	Labels []string `json:"labels,omitempty"`
}

// Evaluate measures the accuracy of every combination of k in KMin..KMax,
// Metrics and Weights by cross-validation: leave-one-out when Folds is 0,
// else Folds-fold (sample i, in id order, is in fold i mod Folds).
type Evaluate struct {
	KMin    int           `json:"k_min"`
	KMax    int           `json:"k_max"`
	Metrics []knn.Metric  `json:"metrics"`
	Weights []knn.Weights `json:"weights"`
	Folds   int           `json:"folds"`
}

// DefaultEvaluate returns the default sweep: k 1..30, Euclidean and
// Manhattan, uniform and distance weights, leave-one-out.
func DefaultEvaluate() Evaluate {
	return Evaluate{KMin: 1, KMax: 30, Metrics: []knn.Metric{knn.Euclidean, knn.Manhattan}, Weights: []knn.Weights{knn.Uniform, knn.Distance}}
}

// Check validates spec against snap; errors are KindInvalid naming the
// field of the request.
func (s *Spec) Check(snap *dataset.Snapshot) error {
	switch s.Type {
	case TypeBatchPredict:
		b := s.Batch
		if b == nil || len(b.Instances) == 0 {
			return dataset.Invalidf("instances", "instances is empty: give at least one row")
		}
		if err := snap.CheckQuery(b.Query); err != nil {
			return err
		}
		if b.Labels != nil && len(b.Labels) != len(b.Instances) {
			return dataset.Invalidf(snap.Schema().Label(), "%d labels for %d rows", len(b.Labels), len(b.Instances))
		}
		for i, f := range b.Instances {
			if err := snap.Schema().CheckFeatures(fmt.Sprintf("instances[%d]", i), f); err != nil {
				return err
			}
		}
	case TypeEvaluate:
		e := s.Evaluate
		if e == nil {
			return dataset.Invalidf("type", "an evaluate job needs its settings")
		}
		n := snap.Len()
		train := n - 1 // leave-one-out trains on all but one
		switch {
		case e.Folds < 0 || e.Folds == 1:
			return dataset.Invalidf("folds", "folds must be 0 (leave-one-out) or at least 2, got %d", e.Folds)
		case e.Folds > n:
			return dataset.Invalidf("folds", "folds must be at most the number of samples (%d), got %d", n, e.Folds)
		case e.Folds > 0:
			train = n - (n+e.Folds-1)/e.Folds
		}
		if e.KMin < 1 || e.KMax < e.KMin {
			return dataset.Invalidf("k_min", "want 1 <= k_min <= k_max, got k_min %d, k_max %d", e.KMin, e.KMax)
		}
		if e.KMax > train {
			return dataset.Invalidf("k_max", "k_max must be at most %d (the smallest training fold), got %d", train, e.KMax)
		}
		if len(e.Metrics) == 0 || len(e.Weights) == 0 {
			return dataset.Invalidf("metrics", "give at least one metric and one weighting")
		}
		for _, m := range e.Metrics {
			if m > knn.Chebyshev {
				return dataset.Invalidf("metrics", "unknown metric %d", m)
			}
		}
		for _, w := range e.Weights {
			if w > knn.Distance {
				return dataset.Invalidf("weights", "unknown weights %d", w)
			}
		}
		if hasDup(e.Metrics) || hasDup(e.Weights) {
			return dataset.Invalidf("metrics", "metrics and weights must not repeat")
		}
	default:
		return dataset.Invalidf("type", "unknown job type %q: want %q or %q", s.Type, TypeBatchPredict, TypeEvaluate)
	}
	return nil
}

func hasDup[T comparable](xs []T) bool {
	for i := range xs {
		if slices.Contains(xs[:i], xs[i]) {
			return true
		}
	}
	return false
}

// Queue accepts jobs and reports on them. Submit returns a KindInvalid
// error for a spec that fails Check or the queue's Limits, and a
// KindUnavailable one when the queue is full. Get and Cancel return a
// KindNotFound error for an unknown (or expired, or evicted) id; Cancel of a
// finished job returns a KindConflict error. List pages through recent jobs,
// newest first, without their results.
type Queue interface {
	Submit(ctx context.Context, spec Spec) (Job, error)
	Get(ctx context.Context, id string) (Job, error)
	Cancel(ctx context.Context, id string) (Job, error)
	List(ctx context.Context, p ListParams) (Page, error)
	Close() error
}

// ListParams selects a page of recent jobs.
type ListParams struct {
	// Limit is the most jobs on the page (at least 1).
	Limit int
	// Cursor is a Page's NextCursor, to continue after it; empty starts at
	// the newest job. A cursor that the queue cannot read is a KindInvalid
	// error.
	Cursor string
}

// Page is one page of jobs, newest first.
type Page struct {
	Jobs []Job `json:"jobs"`
	// NextCursor continues the listing; empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// badCursor is the error for a cursor a queue did not hand out.
func badCursor(c string) error {
	return dataset.Invalidf("cursor", "cursor %q is not one this server handed out: pass next_cursor from the previous page", c)
}

// BadCursor is the error a Queue returns for a cursor it cannot read.
func BadCursor(c string) error { return badCursor(c) }

// NewID returns a random job id: 16 bytes of hex, unguessable, so that a job
// id is enough to read or cancel a job.
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NotFound is the error for a job id a queue does not know.
func NotFound(id string) error {
	return dataset.NotFoundf("no job %s (unknown, or its result has expired)", id)
}

// Finished is the error for cancelling a job that has finished.
func Finished(j Job) error {
	return &dataset.Error{Kind: dataset.KindConflict, Message: fmt.Sprintf("job %s has already finished (%s)", j.ID, j.Status)}
}
