package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/irisknn/irisknn/internal/buildinfo"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/httpapi"
	"github.com/irisknn/irisknn/internal/jobs"
	"github.com/irisknn/irisknn/internal/predcache"
	"github.com/irisknn/irisknn/internal/redisstore"
	"github.com/irisknn/irisknn/internal/riverjobs"
)

// backend is what the API runs on: the store, the job queue and the
// prediction cache, in memory or shared: the training set and the cache
// through Redis (-redis), the jobs through PostgreSQL (-postgres).
type backend struct {
	store dataset.Store
	jobs  jobs.Queue
	ui    http.Handler // River's UI, with -postgres
	wrap  func(httpapi.Predictor) httpapi.Predictor
	close []func() error
}

// Close releases the backend in reverse order of opening.
func (b *backend) Close() error {
	var errs []error
	for i := len(b.close) - 1; i >= 0; i-- {
		errs = append(errs, b.close[i]())
	}
	return errors.Join(errs...)
}

// apiConfig adds the backend's cache and queue to c.
func (b *backend) apiConfig(c httpapi.Config) httpapi.Config {
	c.WrapPredictor = b.wrap
	c.Jobs = b.jobs
	c.JobsUI = b.ui
	return c
}

// openRedis connects to -redis and checks that it answers.
func openRedis(ctx context.Context, cfg *config) (*redis.Client, error) {
	opt, err := redis.ParseURL(cfg.Redis)
	if err != nil {
		return nil, fmt.Errorf("-redis: %w", err)
	}
	rdb := redis.NewClient(opt)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("-redis %s: %w", opt.Addr, err)
	}
	return rdb, nil
}

// openBackend returns the in-memory backend, or the shared one: with -redis
// the training set in Redis (seeded with samples when empty) and a shared
// cache layer; with -postgres jobs queued for `irisd worker` processes.
func openBackend(ctx context.Context, cfg *config, snap *dataset.Snapshot, journal dataset.Journal, history []dataset.Change, log *slog.Logger) (*backend, error) {
	b := &backend{}
	cache := predcache.Options{MaxBytes: cfg.CacheBytes, MinWork: cfg.CacheMinWork,
		RedisMinWork: cfg.RedisCacheMinWork, RedisTTL: cfg.RedisCacheTTL, Prefix: cfg.RedisPrefix + "cache:", Logger: log}
	if cfg.Redis == "" {
		b.store = dataset.NewMemoryWith(snap, journal, dataset.MemoryOptions{Keep: cfg.KeepVersions, ChangeWindow: cfg.ChangeWindow, Recovered: history})
	} else {
		rdb, err := openRedis(ctx, cfg)
		if err != nil {
			return nil, err
		}
		b.close = append(b.close, rdb.Close)
		st, err := redisstore.Open(ctx, rdb, snap.Schema(), snap.Initial(), redisstore.Options{Prefix: cfg.RedisPrefix, Logger: log, Scale: cfg.scale(), KeepVersions: cfg.KeepVersions})
		if err != nil {
			b.Close()
			return nil, err
		}
		b.store = st
		b.close = append(b.close, st.Close)
		cache.Redis = rdb
		log.Info("shared training set in redis", "prefix", cfg.RedisPrefix, "dataset_version", st.Snapshot().Version(), "samples", st.Snapshot().Len())
	}
	if err := b.openJobs(ctx, cfg, log); err != nil {
		b.Close()
		return nil, err
	}
	if cfg.CacheBytes > 0 {
		b.wrap = predcache.Wrap(cache)
	}
	return b, nil
}

// openJobs sets up the job queue: River on -postgres, else the in-process
// pool. Both are bounded by the -job-* limits.
func (b *backend) openJobs(ctx context.Context, cfg *config, log *slog.Logger) error {
	lim := cfg.jobLimits()
	if cfg.Postgres == "" {
		pool := jobs.NewPool(&jobs.Runner{Data: b.store, Limits: lim, Novelty: cfg.tracker()}, jobs.PoolOptions{Workers: cfg.JobWorkers, Retention: cfg.JobRetention})
		b.jobs = pool
		b.close = append(b.close, pool.Close)
		return nil
	}
	db, err := openPostgres(ctx, cfg)
	if err != nil {
		return err
	}
	b.close = append(b.close, func() error { db.Close(); return nil })
	if err := riverjobs.Migrate(ctx, db); err != nil {
		return err
	}
	q, err := riverjobs.NewQueue(db, b.store, cfg.riverOptions(log))
	if err != nil {
		return err
	}
	b.jobs = q
	b.close = append(b.close, q.Close)
	uictx, stopUI := context.WithCancel(context.WithoutCancel(ctx))
	b.close = append(b.close, func() error { stopUI(); return nil })
	if b.ui, err = q.UI(uictx); err != nil {
		return err
	}
	log.Info("jobs queued in postgres for irisd worker", "river_ui", riverjobs.UIPrefix+"/", "backlog", lim.Backlog, "backlog_rows", lim.BacklogRows)
	return nil
}

// riverOptions converts the job settings for the PostgreSQL queue.
func (c *config) riverOptions(log *slog.Logger) riverjobs.Options {
	return riverjobs.Options{Limits: c.jobLimits(), MaxAttempts: c.JobAttempts, Retention: c.JobRetention, Logger: log}
}

// runWorker is `irisd worker`: it runs the jobs queued in PostgreSQL (it
// needs -postgres) and serves no HTTP API. With -redis it follows the
// shared training set like a replica; without, it runs jobs on the set it
// loads (-data, or the embedded Iris data), which must then be the
// replicas' set.
func runWorker(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.PrintVersion {
		fmt.Fprintln(stdout, buildinfo.Get())
		return nil
	}
	if cfg.Postgres == "" {
		return errors.New("irisd worker needs -postgres (or IRIS_POSTGRES_URL): jobs are queued in PostgreSQL")
	}
	log := cfg.logger(stdout)
	stopTracing, _, err := startTracing(ctx, getenv, log)
	if err != nil {
		return err
	}
	defer stopTracing()
	table, source, err := loadTable(cfg.DataPath, cfg.Label)
	if err != nil {
		return err
	}
	var data jobs.Snapshots
	if cfg.Redis != "" {
		rdb, err := openRedis(ctx, cfg)
		if err != nil {
			return err
		}
		defer rdb.Close()
		st, err := redisstore.Open(ctx, rdb, table.Schema, table.Samples, redisstore.Options{Prefix: cfg.RedisPrefix, Logger: log, Scale: cfg.scale(), KeepVersions: cfg.KeepVersions})
		if err != nil {
			return fmt.Errorf("%s: %w", source, err)
		}
		defer st.Close()
		data = st
	} else {
		snap, err := dataset.NewSnapshot(table.Schema, table.Samples, cfg.scale())
		if err != nil {
			return fmt.Errorf("%s: %w", source, err)
		}
		data = dataset.NewMemory(snap, nil)
	}
	db, err := openPostgres(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := riverjobs.Migrate(ctx, db); err != nil {
		return err
	}
	w, err := riverjobs.NewWorker(db, &jobs.Runner{Data: data, Limits: cfg.jobLimits(), Novelty: cfg.tracker()}, riverjobs.WorkerOptions{
		Options: cfg.riverOptions(log), Concurrency: cfg.JobWorkers, JobTimeout: cfg.JobTimeout, RescueAfter: cfg.JobRescueAfter})
	if err != nil {
		return err
	}
	log.Info("training set for jobs", "source", source, "shared", cfg.Redis != "", "samples", data.Snapshot().Len(), "dataset_version", data.Snapshot().Version())
	err = w.Run(ctx)
	log.Info("worker stopped")
	return err
}
