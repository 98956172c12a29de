package jobs

import (
	"fmt"

	"github.com/irisknn/irisknn/internal/dataset"
)

// Limits bound what one job may ask for and what a queue holds, in every
// mode (the in-process pool and the PostgreSQL queue alike). Each limit is a
// setting of irisd, named in the error a client gets when over it. The zero
// value of a field means its default (see DefaultLimits).
type Limits struct {
	// MaxRows is the most rows of one batch_predict job (-job-max-rows).
	MaxRows int
	// MaxNeighbors is the most neighbours one job may find: rows × k for a
	// batch_predict job, samples × k_max × metrics for an evaluation
	// (-job-max-neighbors). It bounds the work and the size of the result.
	MaxNeighbors int
	// Backlog is the most jobs waiting or running at once (-job-backlog).
	Backlog int
	// BacklogRows is the most rows of batch_predict jobs waiting or running
	// at once (-job-backlog-rows): the memory the queue holds for them.
	BacklogRows int
	// ResultBytes bounds the bytes of kept results (-job-results-bytes):
	// when a new result would pass it, the oldest finished jobs are
	// forgotten first. A single result larger than it fails its job.
	ResultBytes int64
}

// DefaultLimits returns the defaults: jobs of up to 100,000 rows and
// 1,000,000 neighbours (100,000 rows at k=10), 1,000 jobs or 1,000,000 rows
// waiting, 256 MiB of kept results.
func DefaultLimits() Limits {
	return Limits{MaxRows: 100_000, MaxNeighbors: 1_000_000, Backlog: 1000, BacklogRows: 1_000_000, ResultBytes: 256 << 20}
}

// Fill replaces zero fields by their defaults.
func (l *Limits) Fill() {
	d := DefaultLimits()
	orDefault(&l.MaxRows, d.MaxRows)
	orDefault(&l.MaxNeighbors, d.MaxNeighbors)
	orDefault(&l.Backlog, d.Backlog)
	orDefault(&l.BacklogRows, d.BacklogRows)
	orDefault(&l.ResultBytes, d.ResultBytes)
}

// orDefault sets *v to d when *v is not positive (zero means the default).
func orDefault[T int | int64](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// Rows is the number of rows a job holds while it waits: a batch's rows,
// 0 for an evaluation (which reads the training set when it runs).
func (s *Spec) Rows() int {
	if s.Type == TypeBatchPredict && s.Batch != nil {
		return len(s.Batch.Instances)
	}
	return 0
}

// neighbors is the number of neighbours the job finds on snap.
func (s *Spec) neighbors(snap *dataset.Snapshot) int64 {
	switch {
	case s.Type == TypeBatchPredict && s.Batch != nil:
		return int64(len(s.Batch.Instances)) * int64(s.Batch.Query.K)
	case s.Type == TypeEvaluate && s.Evaluate != nil:
		return int64(snap.Len()) * int64(s.Evaluate.KMax) * int64(len(s.Evaluate.Metrics))
	}
	return 0
}

// Admit checks spec against snap (Check) and against the per-job limits:
// the one rule for what a queue accepts, applied by every Queue's Submit
// and again by the Runner when the job runs.
func (l Limits) Admit(spec *Spec, snap *dataset.Snapshot) error {
	l.Fill()
	if n := spec.Rows(); n > l.MaxRows {
		return dataset.Invalidf("instances", "a job may have at most %d rows (the server's -job-max-rows), got %d; split it into several jobs", l.MaxRows, n)
	}
	if err := spec.Check(snap); err != nil {
		return err
	}
	if n := spec.neighbors(snap); n > int64(l.MaxNeighbors) {
		field, what := "k", fmt.Sprintf("%d rows × k %d", spec.Rows(), kOf(spec))
		if spec.Type == TypeEvaluate {
			field, what = "k_max", fmt.Sprintf("%d samples × k_max %d × %d metrics", snap.Len(), spec.Evaluate.KMax, len(spec.Evaluate.Metrics))
		}
		return dataset.Invalidf(field, "a job may find at most %d neighbours (rows × k, the server's -job-max-neighbors); this one asks for %s = %d: lower k or split the rows", l.MaxNeighbors, what, n)
	}
	return nil
}

func kOf(s *Spec) int {
	if s.Batch != nil {
		return s.Batch.Query.K
	}
	return 0
}

// Full is the error for a submission beyond the backlog: retry later.
func (l Limits) Full(jobs, rows int) error {
	return dataset.Unavailable(fmt.Sprintf("the job queue is full (%d jobs, %d rows waiting; limits -job-backlog %d, -job-backlog-rows %d): retry after the time in Retry-After",
		jobs, rows, l.Backlog, l.BacklogRows), nil)
}

// Fits reports whether a job of rows more rows fits beside jobs jobs and
// queued rows rows waiting.
func (l Limits) Fits(jobs, queued, rows int) bool {
	return jobs+1 <= l.Backlog && queued+rows <= l.BacklogRows
}
