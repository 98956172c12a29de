package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/irisknn/irisknn/internal/buildinfo"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/httpapi"
	"github.com/irisknn/irisknn/internal/jobs"
	"github.com/irisknn/irisknn/internal/predcache"
	"github.com/irisknn/irisknn/internal/redisstore"
)

// backend is what the API runs on: the store, the job queue and the
// prediction cache, in memory or shared through Redis (-redis).
type backend struct {
	store dataset.Store
	jobs  jobs.Queue
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

// openBackend returns the in-memory backend, or with -redis the shared one:
// the training set in Redis (seeded with samples when empty), jobs queued
// for `irisd worker` processes, and a shared cache layer.
func openBackend(ctx context.Context, cfg *config, snap *dataset.Snapshot, journal dataset.Journal, history []dataset.Change, log *slog.Logger) (*backend, error) {
	b := &backend{}
	cache := predcache.Options{MaxBytes: cfg.CacheBytes, MinWork: cfg.CacheMinWork,
		RedisMinWork: cfg.RedisCacheMinWork, RedisTTL: cfg.RedisCacheTTL, Prefix: cfg.RedisPrefix + "cache:", Logger: log}
	if cfg.Redis == "" {
		b.store = dataset.NewMemoryWith(snap, journal, dataset.MemoryOptions{Keep: cfg.KeepVersions, ChangeWindow: cfg.ChangeWindow, Recovered: history})
		pool := jobs.NewPool(&jobs.Runner{Data: b.store, Novelty: cfg.tracker()}, jobs.PoolOptions{Workers: cfg.JobWorkers, Retention: cfg.JobRetention})
		b.jobs = pool
		b.close = append(b.close, pool.Close)
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
		q := jobs.NewAsynq(rdb, st, jobs.AsynqOptions{Prefix: cfg.RedisPrefix, Retention: cfg.JobRetention})
		b.jobs = q
		b.close = append(b.close, q.Close)
		cache.Redis = rdb
		log.Info("shared training set in redis", "prefix", cfg.RedisPrefix, "dataset_version", st.Snapshot().Version(), "samples", st.Snapshot().Len())
	}
	if cfg.CacheBytes > 0 {
		b.wrap = predcache.Wrap(cache)
	}
	return b, nil
}

// runWorker is `irisd worker`: it runs queued jobs (it needs -redis) and
// serves no HTTP API. It follows the shared training set like a replica.
func runWorker(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.PrintVersion {
		fmt.Fprintln(stdout, buildinfo.Get())
		return nil
	}
	if cfg.Redis == "" {
		return errors.New("irisd worker needs -redis (or IRIS_REDIS_URL): jobs are queued in Redis")
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
	w := jobs.NewWorker(rdb, &jobs.Runner{Data: st, Novelty: cfg.tracker()}, cfg.JobWorkers, log, jobs.AsynqOptions{Prefix: cfg.RedisPrefix, Retention: cfg.JobRetention})
	log.Info("worker started", "concurrency", max(cfg.JobWorkers, 1), "dataset_version", st.Snapshot().Version())
	err = w.Run(ctx)
	log.Info("worker stopped")
	return err
}
