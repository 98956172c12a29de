// Package httpapi is the REST API of the service: routing (chi), CORS,
// request decoding and validation, response encoding, and the mapping of
// domain errors to RFC 9457 problem responses. It is the only package that
// knows about HTTP.
//
// routes.go lists every route and its middleware; each handler is a small
// function over explicit dependencies.
package httpapi

import (
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/irisknn/irisknn/api"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/jobs"
	"github.com/irisknn/irisknn/internal/knn"
	"github.com/irisknn/irisknn/internal/novelty"
)

// Config holds the API's settings. The zero value of a field means its
// default (see DefaultConfig), so Config{} is the documented defaults.
type Config struct {
	DefaultK       int          // k when a request gives none
	DefaultMetric  knn.Metric   // metric when a request gives none
	DefaultWeights knn.Weights  // weights when a request gives none
	MaxK           int          // the largest k a request may ask for
	MaxBatch       int          // the most rows in one batch prediction
	MaxNeighbors   int          // the most neighbours (rows × k) one prediction request may find
	MaxBodyBytes   int64        // the largest request body
	CORSOrigins    []string     // allowed origins; empty or "*" for any
	Logger         *slog.Logger // access and error log; nil discards
	// WrapPredictor, when set, decorates the computation of predictions
	// (with a cache, say); nil computes every answer.
	WrapPredictor func(Predictor) Predictor
	// Jobs runs asynchronous jobs (/jobs); nil answers those routes 503.
	Jobs jobs.Queue
	// Dependencies are the outside services /readyz and the metrics report
	// on; none for a server that runs all in memory.
	Dependencies []Dependency
	// JobsUI, when set, is River's web UI for operators, mounted at
	// /riverui behind the API key.
	JobsUI http.Handler

	// APIKey, when set, is required as "Authorization: Bearer <key>" on
	// every write to the training set; the change feed names its writes
	// by a digest of it.
	APIKey string
	// APIKeys are further keys that may write, each recorded in the
	// change feed under its name.
	APIKeys []APIKey
	// MaxImportBytes bounds the body of POST /dataset/import.
	MaxImportBytes int64
	// RateLimit is the number of requests a client (IP address) may make
	// per RateWindow; 0 turns rate limiting off.
	RateLimit  int
	RateWindow time.Duration
	// MaxHeavy is the most batch predictions in flight at once. A batch that
	// finds every slot taken waits up to HeavyWait for one, then is answered
	// 503 with Retry-After. HeavyWait 0 is the default (250 ms), NoWait
	// does not wait.
	MaxHeavy  int
	HeavyWait time.Duration
	// V2, when set, serves every route under /v2 (the Open Inference
	// Protocol, package oip), behind the same middleware as the rest.
	V2 http.Handler
	// Tracing puts a server span around every request but the probes and
	// the metrics scrape (OpenTelemetry's global tracer provider and
	// propagator, which internal/telemetry installs) and trace_id and
	// span_id in the access log. Off, the request path has no tracing code.
	Tracing bool
	// Metrics is the registry the API's metrics go into, served at
	// GET /metrics; nil makes a private one.
	Metrics *prometheus.Registry
	// Novelty assesses how unusual each query is (the "novelty" of every
	// prediction); nil makes one with the default threshold (the 99th
	// percentile). Share it with the job runner so both agree.
	Novelty *novelty.Tracker
}

// NoWait is the HeavyWait of a server whose batches never wait for a slot.
const NoWait time.Duration = -1

// DefaultConfig returns the defaults: k=5, euclidean, uniform, k <= 1000,
// batches of up to 10,000 rows, 100,000 neighbours (rows × k) a request, bodies up to 8 MiB, any origin, no API key,
// no rate limit (window one second when set), 16 batches in flight (a
// 17th waits up to 250 ms for a slot).
func DefaultConfig() Config {
	return Config{
		DefaultK:       5,
		DefaultMetric:  knn.Euclidean,
		DefaultWeights: knn.Uniform,
		MaxK:           1000,
		MaxBatch:       10000,
		MaxNeighbors:   100_000,
		MaxBodyBytes:   8 << 20,
		MaxImportBytes: DefaultMaxImportBytes,
		CORSOrigins:    []string{"*"},
		RateWindow:     time.Second,
		MaxHeavy:       16,
		HeavyWait:      250 * time.Millisecond,
	}
}

func (c *Config) fill() {
	d := DefaultConfig()
	if c.DefaultK <= 0 {
		c.DefaultK = d.DefaultK
	}
	if c.MaxK <= 0 {
		c.MaxK = d.MaxK
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = d.MaxBatch
	}
	if c.MaxNeighbors <= 0 {
		c.MaxNeighbors = d.MaxNeighbors
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = d.MaxBodyBytes
	}
	if c.MaxImportBytes <= 0 {
		c.MaxImportBytes = d.MaxImportBytes
	}
	if len(c.CORSOrigins) == 0 {
		c.CORSOrigins = d.CORSOrigins
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.RateWindow <= 0 {
		c.RateWindow = d.RateWindow
	}
	if c.MaxHeavy <= 0 {
		c.MaxHeavy = d.MaxHeavy
	}
	switch {
	case c.HeavyWait == 0:
		c.HeavyWait = d.HeavyWait
	case c.HeavyWait < 0:
		c.HeavyWait = 0
	}
	if c.Metrics == nil {
		c.Metrics = prometheus.NewRegistry()
	}
	if c.Novelty == nil {
		c.Novelty = novelty.NewTracker(novelty.DefaultThreshold)
	}
}

// Server is the API as an http.Handler.
type Server struct {
	cfg     Config
	store   dataset.Store
	log     *slog.Logger
	ready   atomic.Bool
	handler http.Handler

	rules     dataset.QueryRules
	predictor Predictor
	jobs      jobs.Queue
	metrics   *metrics
	spec      []byte      // the OpenAPI document for the loaded schema
	keys      []keyDigest // the keys that may write (none: anyone may)
	heavy     *heavySlots // batch predictions being computed

	// shutdown is closed when the server stops being ready: long-lived
	// responses (change event streams) end, so that shutdown need not
	// wait for them.
	shutdown     chan struct{}
	shutdownOnce sync.Once
}

// NewServer returns the API over store. It starts ready.
func NewServer(cfg Config, store dataset.Store) *Server {
	cfg.fill()
	s := &Server{cfg: cfg, store: store, log: cfg.Logger, jobs: cfg.Jobs, shutdown: make(chan struct{}), keys: cfg.keys(),
		heavy: newHeavySlots(cfg.MaxHeavy, cfg.HeavyWait)}
	s.rules = dataset.QueryRules{DefaultK: cfg.DefaultK, DefaultMetric: cfg.DefaultMetric, DefaultWeights: cfg.DefaultWeights, MaxK: cfg.MaxK, MaxNeighbors: cfg.MaxNeighbors}
	s.predictor = computer{s}
	if cfg.WrapPredictor != nil {
		s.predictor = cfg.WrapPredictor(s.predictor)
	}
	s.metrics = newMetrics(cfg.Metrics, store)
	registerDependencies(cfg.Metrics, cfg.Dependencies)
	snap := store.Snapshot()
	spec, err := specFor(api.OpenAPIYAML, snap.Schema(), snap.Classes())
	if err != nil {
		// Only a broken api/openapi.yaml gets here (TestServedSpec...).
		s.log.Error("the OpenAPI document could not be generated for the loaded schema; serving the Iris one", "error", err)
		spec = api.OpenAPIYAML
	}
	s.spec = spec
	s.ready.Store(true)
	r := chi.NewRouter()
	s.routes(r)
	s.handler = r
	return s
}

// QueryRules returns the server's prediction settings (defaults filled in),
// for every protocol that resolves a request's k, metric and weights.
func (s *Server) QueryRules() dataset.QueryRules { return s.rules }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// SetReady sets what GET /readyz reports; a server about to shut down sets
// it false so that load balancers stop sending it traffic. Setting it false
// also ends every change event stream (clients reconnect elsewhere, with
// Last-Event-ID); it is for good.
func (s *Server) SetReady(ready bool) {
	s.ready.Store(ready)
	if !ready {
		s.shutdownOnce.Do(func() { close(s.shutdown) })
	}
}

// Ready reports what GET /readyz reports: whether the server takes traffic.
func (s *Server) Ready() bool { return s.ready.Load() }
