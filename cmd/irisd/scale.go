package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/irisknn/irisknn/internal/buildinfo"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/httpapi"
	"github.com/irisknn/irisknn/internal/jobs"
	"github.com/irisknn/irisknn/internal/predcache"
	"github.com/irisknn/irisknn/internal/riverjobs"
)

// backend is what the API runs on: the store, the job queue and the
// prediction cache: in memory, or shared through PostgreSQL (-postgres:
// the training set and the jobs), with a shared cache layer in Redis
// (-redis).
type backend struct {
	store dataset.Store
	jobs  jobs.Queue
	ui    http.Handler // River's UI, with -postgres
	wrap  func(httpapi.Predictor) httpapi.Predictor
	deps  []httpapi.Dependency // for /readyz
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
	c.Dependencies = b.deps
	c.JobsUI = b.ui
	return c
}

// openRedis connects to -redis and checks that it answers. Its calls obey
// their contexts' deadlines (-redis-timeout on the request path) and never
// retry: Redis is a cache, and a slow answer is worth less than a computed
// one.
func openRedis(ctx context.Context, cfg *config) (*redis.Client, error) {
	opt, err := redis.ParseURL(cfg.Redis)
	if err != nil {
		return nil, fmt.Errorf("-redis: %w", err)
	}
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = -1
	opt.DialTimeout = max(cfg.RedisTimeout, 200*time.Millisecond)
	opt.PoolTimeout = max(cfg.RedisTimeout, 200*time.Millisecond)
	rdb := redis.NewClient(opt)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("-redis %s: %w", opt.Addr, err)
	}
	return rdb, nil
}

// openBackend returns the backend: the training set (openSet: in memory,
// durable with -data-dir, or shared through PostgreSQL with -postgres), the
// job queue (River in the same database with -postgres, else an in-process
// pool), and the prediction cache, with a shared layer in Redis when -redis
// is given. history is what the journal recovered, for the change feed.
func openBackend(ctx context.Context, cfg *config, snap *dataset.Snapshot, journal dataset.Journal, history []dataset.Change, log *slog.Logger) (*backend, error) {
	b := &backend{}
	set, closeSet, err := openSet(ctx, cfg, snap, journal, history, log)
	if err != nil {
		return nil, err
	}
	b.close = append(b.close, closeSet)
	b.store, b.deps = set.store, set.deps
	if err := b.openJobs(ctx, cfg, set, log); err != nil {
		b.Close()
		return nil, err
	}
	cache := predcache.Options{MaxBytes: cfg.CacheBytes, MinWork: cfg.CacheMinWork, Identity: set.identity,
		RedisMinWork: cfg.RedisCacheMinWork, RedisTTL: cfg.RedisCacheTTL, RedisTimeout: cfg.RedisTimeout,
		Prefix: cfg.RedisPrefix + "cache:", Logger: log}
	if cfg.Redis != "" {
		rdb, err := openRedis(ctx, cfg)
		if err != nil {
			b.Close()
			return nil, err
		}
		b.close = append(b.close, rdb.Close)
		cache.Redis = rdb
	}
	if cfg.CacheBytes > 0 {
		b.wrap = predcache.Wrap(cache)
		if cache.Redis != nil {
			h := &cacheHealth{}
			wctx, stop := context.WithCancel(context.Background())
			go h.watch(wctx, cache.Redis, max(cfg.RedisTimeout, 200*time.Millisecond))
			b.close = append(b.close, func() error { stop(); return nil })
			b.deps = append(b.deps, httpapi.Dependency{Name: "redis", Affects: []string{"shared cache"}, Check: h.check})
			b.wrap = func(p httpapi.Predictor) httpapi.Predictor {
				c := predcache.New(p, cache)
				h.cache.Store(c)
				return c
			}
		}
	}
	return b, nil
}

// openJobs sets up the job queue: River in the shared set's database with
// -postgres (one pool for both), else the in-process pool. Both are bounded
// by the -job-* limits.
func (b *backend) openJobs(ctx context.Context, cfg *config, set *sharedSet, log *slog.Logger) error {
	lim := cfg.jobLimits()
	if set.pg == nil {
		pool := jobs.NewPool(&jobs.Runner{Data: b.store, Limits: lim, Novelty: cfg.tracker()}, jobs.PoolOptions{Workers: cfg.JobWorkers, Retention: cfg.JobRetention})
		b.jobs = pool
		b.close = append(b.close, pool.Close)
		return nil
	}
	db := set.pg.Pool()
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

// cacheHealth reports the Redis layer of the prediction cache for
// readiness: down when a ping every second fails, or when the cache's own
// last call failed.
type cacheHealth struct {
	cache atomic.Pointer[predcache.Cache]
	ping  atomic.Pointer[error]
}

func (h *cacheHealth) check() error {
	if p := h.ping.Load(); p != nil {
		return *p
	}
	if c := h.cache.Load(); c != nil {
		return c.RedisHealth()
	}
	return nil
}

// watch pings Redis every second until ctx is done.
func (h *cacheHealth) watch(ctx context.Context, rdb redis.UniversalClient, timeout time.Duration) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := rdb.Ping(pctx).Err()
		cancel()
		if err != nil {
			err = fmt.Errorf("redis does not answer (%w): predictions are computed locally", err)
			h.ping.Store(&err)
		} else {
			h.ping.Store(nil)
		}
	}
}

// runWorker is `irisd worker`: it runs the jobs queued in PostgreSQL (it
// needs -postgres) and serves no HTTP API. It follows the shared training
// set in the same database like a replica, so a job sees every
// acknowledged write.
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
		return errors.New("irisd worker needs -postgres (or IRIS_POSTGRES_URL): the shared training set, where jobs are queued")
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
	snap, err := dataset.NewSnapshot(table.Schema, table.Samples, cfg.scale())
	if err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	set, closeSet, err := openSet(ctx, cfg, snap, nil, nil, log)
	if err != nil {
		return err
	}
	defer closeSet()
	db := set.pg.Pool()
	if err := riverjobs.Migrate(ctx, db); err != nil {
		return err
	}
	w, err := riverjobs.NewWorker(db, &jobs.Runner{Data: set.store, Limits: cfg.jobLimits(), Novelty: cfg.tracker()}, riverjobs.WorkerOptions{
		Options: cfg.riverOptions(log), Concurrency: cfg.JobWorkers, JobTimeout: cfg.JobTimeout, RescueAfter: cfg.JobRescueAfter})
	if err != nil {
		return err
	}
	log.Info("worker started", "concurrency", max(cfg.JobWorkers, 1), "dataset", set.identity, "samples", set.store.Snapshot().Len(), "dataset_version", set.store.Snapshot().Version())
	err = w.Run(ctx)
	log.Info("worker stopped")
	return err
}
