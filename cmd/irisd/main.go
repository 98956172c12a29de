// Command irisd serves k-nearest-neighbour predictions on the Iris dataset
// (or any CSV with the same columns) over a REST API.
//
// Run irisd -h for its flags; every flag has an IRIS_* environment fallback.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/buildinfo"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/httpapi"
	"github.com/irisknn/irisknn/internal/oip"
	"github.com/irisknn/irisknn/internal/telemetry"
	"github.com/irisknn/irisknn/internal/wal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "irisd:", err)
		}
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 1
}

// run is the whole program: parse the settings, load the data, serve until
// ctx is done, then shut down gracefully. Logs go to stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "worker" {
		return runWorker(ctx, args[1:], getenv, stdout, stderr)
	}
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.PrintVersion {
		fmt.Fprintln(stdout, buildinfo.Get())
		return nil
	}
	if cfg.HealthcheckOnly {
		return healthcheck(ctx, cfg.healthcheckAddr())
	}
	logw := newGroupWriter(stdout) // batches log writes under load
	defer logw.Close()
	log := cfg.logger(logw)

	start := time.Now()
	table, source, err := loadTable(cfg.DataPath, cfg.Label)
	if err != nil {
		return err
	}
	snap, err := dataset.NewSnapshot(table.Schema, table.Samples, cfg.scale())
	if err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	var (
		journal dataset.Journal
		wlog    *wal.Log
		history []dataset.Change
	)
	if cfg.DataDir != "" {
		wlog, snap, err = wal.Open(cfg.DataDir, snap, wal.Options{Logger: log, ChangeWindow: cfg.ChangeWindow})
		if err != nil {
			return fmt.Errorf("-data-dir: %w", err)
		}
		defer wlog.Close()
		journal, history = wlog, wlog.RecoveredChanges()
		if !cfg.GroupCommit {
			journal = serialJournal{wlog}
		}
	}
	// The parsed rows are garbage now that the index holds the set: give
	// their memory back before serving (a 1M-row file: ~150 MB down to ~70).
	debug.FreeOSMemory()
	bi := buildinfo.Get()
	log.Info("irisd starting", "version", bi.Version, "commit", bi.Commit, "build_date", bi.Date, "go_version", bi.GoVersion)
	log.Info("training set loaded", "source", source, "samples", snap.Len(), "features", snap.Schema().Features(), "label", snap.Schema().Label(), "scale", snap.Scaler().Kind.String(), "classes", snap.Classes(), "version", snap.Version(), "data_dir", cfg.DataDir, "group_commit", cfg.DataDir != "" && cfg.GroupCommit, "duration", time.Since(start))
	be, err := openBackend(ctx, cfg, snap, journal, history, log)
	if err != nil {
		return err
	}
	defer be.Close()
	// Tracing (off unless the OTEL_* environment turns it on): spans for
	// requests, store writes, searches and cache lookups.
	stopTracing, tracing, err := startTracing(ctx, getenv, log)
	if err != nil {
		return err
	}
	defer stopTracing()
	store := be.store
	if tracing {
		store = telemetry.Store(store)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildInfoMetric(buildinfo.Get()))
	if wlog != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "irisknn_wal_fsyncs_total",
			Help: "fsyncs of the write-ahead log by commits (with group commit, fewer than the writes acknowledged)",
		}, func() float64 { return float64(wlog.Syncs()) }))
	}
	acfg := be.apiConfig(cfg.apiConfig(log))
	acfg.Metrics = reg
	if tracing {
		acfg.Tracing = true
		cache := acfg.WrapPredictor
		acfg.WrapPredictor = func(p httpapi.Predictor) httpapi.Predictor {
			p = telemetry.Predictor(p) // inside the cache: a span per search that runs
			if cache != nil {
				p = cache(p)
			}
			return p
		}
	}
	var api *httpapi.Server
	model := &oip.Model{
		Name: cfg.modelName(), Store: store, MaxBatch: cfg.MaxBatch,
		ServerName: "irisknn", ServerVersion: buildinfo.Get().Version,
		Ready:   func() bool { return api.Ready() },
		Novelty: cfg.tracker(), // the same numbers as POST /predict's novelty
	}
	acfg.V2 = oip.Handler(model, oip.RESTOptions{MaxBodyBytes: cfg.MaxBody, Logger: log})
	api = httpapi.NewServer(acfg, store)
	model.Rules = api.QueryRules()
	cfg.tracker().Prime(store.Snapshot()) // the first query need not wait for it
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: cfg.ReadHeaderTO,
		ReadTimeout:       cfg.ReadTO,
		WriteTimeout:      cfg.WriteTO,
		IdleTimeout:       cfg.IdleTO,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if cfg.AddrFile != "" {
		if err := writeAddrFile(cfg.AddrFile, ln.Addr().String()); err != nil {
			log.Warn("could not write -addr-file: -healthcheck will use -addr", "error", err.Error())
		} else {
			defer os.Remove(cfg.AddrFile)
		}
	}

	log.Info("listening", "addr", ln.Addr().String(), "url", browseURL(ln.Addr()), "cors_origins", cfg.origins(),
		"k", cfg.K, "metric", cfg.Metric, "weights", cfg.Weights, "max_batch", cfg.MaxBatch, "max_neighbors", cfg.MaxNeighbors, "max_body", cfg.MaxBody,
		"api_key_set", cfg.APIKey != "", "named_api_keys", len(cfg.APIKeys), "change_window", cfg.ChangeWindow, "rate_limit", cfg.RateLimit, "rate_window", cfg.RateWindow, "max_inflight_batch", cfg.MaxHeavy)

	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	var grpcSrv *oip.GRPC
	if cfg.grpcEnabled() {
		gln, err := net.Listen("tcp", cfg.GRPCAddr)
		if err != nil {
			srv.Close()
			return fmt.Errorf("listen -grpc-addr: %w", err)
		}
		grpcSrv = oip.NewGRPC(model, oip.GRPCOptions{MaxMessageBytes: int(min(cfg.MaxBody, 1<<30)), Logger: log})
		go func() { errc <- grpcSrv.Server.Serve(gln) }()
		log.Info("grpc listening", "grpc_addr", gln.Addr().String(), "model", model.Name, "keep_versions", cfg.KeepVersions)
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down", "timeout", cfg.ShutdownTO)
	api.SetReady(false)
	if grpcSrv != nil {
		grpcSrv.SetServing(false)
	}
	if cfg.DrainDelay > 0 {
		log.Info("draining: /readyz reports 503", "drain_delay", cfg.DrainDelay)
		time.Sleep(cfg.DrainDelay)
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTO)
	defer cancel()
	if grpcSrv != nil {
		go func() { <-sctx.Done(); grpcSrv.Server.Stop() }() // past the timeout, cut in-flight calls
		grpcSrv.Stop()
	}
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// serialJournal hides a journal's group commit (-group-commit=false): each
// write then waits for its own fsync, one at a time.
type serialJournal struct{ j dataset.Journal }

func (s serialJournal) Record(ctx context.Context, c dataset.Change) error { return s.j.Record(ctx, c) }

// loadTable reads the training set from path, or the embedded Iris data
// when path is empty; label names its label column ("" for the default).
func loadTable(path, label string) (dataset.Table, string, error) {
	if path == "" {
		t, err := dataset.ParseCSV(bytes.NewReader(data.IrisCSV), label)
		return t, "embedded iris.csv", err
	}
	f, err := os.Open(path)
	if err != nil {
		return dataset.Table{}, path, fmt.Errorf("-data: %w", err)
	}
	defer f.Close()
	t, err := dataset.ParseCSV(f, label)
	if err != nil {
		return dataset.Table{}, path, fmt.Errorf("-data %s: %w", path, err)
	}
	return t, path, nil
}

// startTracing sets up OpenTelemetry tracing as the OTEL_* environment
// says (internal/telemetry) and returns a function that flushes the spans
// still buffered, within 5 seconds. The SDK reads its settings from the
// process environment; getenv decides whether tracing is on at all.
func startTracing(ctx context.Context, getenv func(string) string, log *slog.Logger) (stop func(), enabled bool, err error) {
	shutdown, enabled, err := telemetry.Setup(ctx, getenv, buildinfo.Get().Version)
	if err != nil {
		return nil, false, fmt.Errorf("tracing: %w", err)
	}
	if enabled {
		log.Info("tracing on", "otlp_endpoint", firstNonEmpty(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), getenv("OTEL_EXPORTER_OTLP_ENDPOINT")),
			"protocol", firstNonEmpty(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), getenv("OTEL_EXPORTER_OTLP_PROTOCOL"), "http/protobuf"),
			"sampler", firstNonEmpty(getenv("OTEL_TRACES_SAMPLER"), "parentbased_always_on"))
	}
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdown(sctx); err != nil {
			log.Warn("tracing: could not flush the last spans", "error", err.Error())
		}
	}, enabled, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// browseURL is the URL to open for a server listening on addr: localhost
// for a wildcard address.
func browseURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// writeAddrFile writes addr to path atomically (a temporary file renamed
// over it), so that a health check never reads half an address.
func writeAddrFile(path, addr string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(addr+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// healthcheckAddr is the address -healthcheck checks: -addr when given on
// the command line; else the address the server wrote to -addr-file; else
// -addr from the environment or its default.
func (c *config) healthcheckAddr() string {
	if c.AddrFile == "" || c.given["addr"] {
		return c.Addr
	}
	if b, err := os.ReadFile(c.AddrFile); err == nil {
		if a := strings.TrimSpace(string(b)); a != "" {
			return a
		}
	}
	return c.Addr
}

// healthcheck asks the server at addr for /healthz and fails unless it
// answers 200 within two seconds.
func healthcheck(ctx context.Context, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort(host, port) + "/healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", url, resp.Status)
	}
	return nil
}

// buildInfoMetric is irisknn_build_info: always 1, labelled with the build
// (the Prometheus convention for joining build details onto other series).
func buildInfoMetric(bi buildinfo.Info) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "irisknn_build_info",
		Help:        "The running build: version, commit, build date and Go version as labels; always 1.",
		ConstLabels: prometheus.Labels{"version": bi.Version, "commit": bi.Commit, "build_date": bi.Date, "go_version": bi.GoVersion},
	})
	g.Set(1)
	return g
}
