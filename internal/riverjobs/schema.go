// Package riverjobs is the jobs.Queue on PostgreSQL: jobs are River jobs
// (github.com/riverqueue/river, pgx v5 driver) in the same database as the
// training set, run by `irisd worker` processes ([Worker]); every replica
// ([Queue]) can submit, read, list and cancel every job.
//
// River keeps the queue: fetching with SKIP LOCKED, retries, cancellation,
// retention, and the rescue of jobs whose worker died. This package keeps,
// in its own table irisknn_jobs, what a job needs beside that: the spec (so
// that River's row stays small and is cheap to poll), the secret half of the
// job's id, progress, and the result, counted in bytes so that kept results
// stay within jobs.Limits.ResultBytes. Workers record a heartbeat in
// irisknn_job_workers (with their queue and concurrency), so that a queued
// job says why it waits: no worker, or every worker busy.
package riverjobs

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// The advisory lock keys of this package (pg_advisory_xact_lock).
const (
	lockMigrate int64 = 0x69726973_00000001 // "iris" 1: schema migration
	lockSubmit  int64 = 0x69726973_00000002 // the backlog count and insert
	lockResults int64 = 0x69726973_00000003 // the result budget
)

const schemaSQL = `
CREATE TABLE IF NOT EXISTS irisknn_jobs (
	job_id       bigint PRIMARY KEY,
	token        text NOT NULL,
	type         text NOT NULL,
	rows         integer NOT NULL,
	spec         bytea,
	progress     double precision NOT NULL DEFAULT 0,
	status       text,
	error        text,
	result       bytea,
	result_bytes bigint NOT NULL DEFAULT 0,
	finished_at  timestamptz
);
CREATE INDEX IF NOT EXISTS irisknn_jobs_results ON irisknn_jobs (finished_at DESC, job_id DESC) WHERE result_bytes > 0;
CREATE TABLE IF NOT EXISTS irisknn_job_workers (
	id          text PRIMARY KEY,
	seen_at     timestamptz NOT NULL,
	queue       text NOT NULL DEFAULT '',
	concurrency integer NOT NULL DEFAULT 1
);
ALTER TABLE irisknn_job_workers ADD COLUMN IF NOT EXISTS queue text NOT NULL DEFAULT '';
ALTER TABLE irisknn_job_workers ADD COLUMN IF NOT EXISTS concurrency integer NOT NULL DEFAULT 1;`

// Migrate brings River's schema and this package's tables up to date under
// a session advisory lock, so that replicas and workers starting at once do
// not race. (River's migrations cannot share one transaction: one adds an
// enum value that a later one uses.)
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return fmt.Errorf("riverjobs: migrator: %w", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("riverjobs: migration: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockMigrate); err != nil {
		return fmt.Errorf("riverjobs: migration lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockMigrate)
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("riverjobs: river migrations: %w", err)
	}
	if _, err := conn.Exec(ctx, schemaSQL); err != nil {
		return fmt.Errorf("riverjobs: tables: %w", err)
	}
	return nil
}
