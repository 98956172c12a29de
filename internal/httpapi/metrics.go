package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/novelty"
)

// metrics are the service's Prometheus metrics. They live in the registry
// given in Config.Metrics (never the global one). A nil *metrics records
// nothing.
type metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	predictions  *prometheus.CounterVec
	batchSize    prometheus.Histogram
	novelty      prometheus.Histogram
	rejected     *prometheus.CounterVec
	cache        sync.Map // seriesKey -> *requestSeries
	speciesCache sync.Map // species name -> prometheus.Counter
}

// newMetrics creates the metrics and registers them, with gauges that read
// the store's current snapshot at scrape time.
func newMetrics(reg *prometheus.Registry, store dataset.Store) *metrics {
	snap := store.Snapshot()
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "irisknn_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "irisknn_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route pattern, method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "status"}),
		predictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "irisknn_predictions_total",
			Help: "Predictions made (single and batch rows), by predicted class.",
		}, []string{classLabel(snap.Schema())}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "irisknn_predict_batch_size",
			Help:    "Rows in each batch prediction.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8), // 1 .. 16384
		}),
		novelty: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "irisknn_prediction_novelty_percentile",
			Help:    "How unusual each query was: its nearest training distance as a percentile of the training set's nearest-neighbour distances (above -novelty-percentile it is flagged unusual).",
			Buckets: []float64{10, 25, 50, 75, 90, 95, 99, 99.9, 100},
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "irisknn_rejected_requests_total",
			Help: "Requests turned away before their work ran: rate_limited (429), overloaded (503, too many batches in flight), unauthorized (401), too_large (413 on Content-Length, before the body is read), cross_origin (403, a write from another origin).",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.requests, m.latency, m.predictions, m.batchSize, m.novelty, m.rejected,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "irisknn_dataset_samples",
			Help: "Samples in the current training set.",
		}, func() float64 { return float64(store.Snapshot().Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "irisknn_dataset_version",
			Help: "Version of the current training set.",
		}, func() float64 { return float64(store.Snapshot().Version()) }),
	)
	// Export zeros, so that rates work from the start.
	for _, reason := range []string{"rate_limited", "overloaded", "unauthorized"} {
		m.rejected.WithLabelValues(reason)
	}
	for _, class := range snap.Classes() {
		m.species(class)
	}
	return m
}

// classLabel is the name of the predictions' class label: the schema's
// label name (species for Iris) when Prometheus allows it as a label name,
// else "class".
func classLabel(schema *dataset.Schema) string {
	name := schema.Label()
	ok := !strings.HasPrefix(name, "__")
	for i, c := range name {
		ok = ok && (c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9')
	}
	if !ok {
		return "class"
	}
	return name
}

// observeRequest counts a request and its duration, labelled with chi's
// route pattern (never the raw path, which would let clients create
// series), using the series of a (route, method, status) once looked up.
func (m *metrics) observeRequest(r *http.Request, status int, d time.Duration) {
	route := "unmatched"
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" {
			route = p
		}
	}
	method := r.Method
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions:
	default:
		method = "other" // bounded label values
	}
	s := m.series(route, method, status)
	s.requests.Inc()
	s.latency.Observe(d.Seconds())
}

// seriesKey identifies the request series of one route, method and status.
type seriesKey struct {
	route, method string
	status        int
}

// requestSeries are the request counter and latency histogram of one
// seriesKey.
type requestSeries struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

// series returns the request series for the labels, looked up in the
// vectors once and then cached (the label values are bounded: route
// patterns, six methods and "other", status codes).
func (m *metrics) series(route, method string, status int) *requestSeries {
	k := seriesKey{route, method, status}
	if s, ok := m.cache.Load(k); ok {
		return s.(*requestSeries)
	}
	code := strconv.Itoa(status)
	s := &requestSeries{
		requests: m.requests.WithLabelValues(route, method, code),
		latency:  m.latency.WithLabelValues(route, method, code),
	}
	v, _ := m.cache.LoadOrStore(k, s)
	return v.(*requestSeries)
}

// handler serves the registry in the Prometheus text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// reject counts a request turned away for reason.
func (m *metrics) reject(reason string) {
	if m == nil {
		return
	}
	m.rejected.WithLabelValues(reason).Inc()
}

// observeAnswer counts an answer's rows by predicted class, and a batch's
// size: where the answer is made, so answers from a cache count too.
func (m *metrics) observeAnswer(classes []string, batch bool, a *PredictAnswer) {
	if m == nil {
		return
	}
	if !batch {
		m.species(classes[a.Class]).Inc()
		return
	}
	rows := 0
	for c, n := range a.Counts {
		if n > 0 {
			m.species(classes[c]).Add(float64(n))
			rows += n
		}
	}
	m.batchSize.Observe(float64(rows))
}

// species returns the prediction counter of one species, looked up in the
// vector once and then cached (species are the training set's classes).
func (m *metrics) species(name string) prometheus.Counter {
	if c, ok := m.speciesCache.Load(name); ok {
		return c.(prometheus.Counter)
	}
	c, _ := m.speciesCache.LoadOrStore(name, m.predictions.WithLabelValues(name))
	return c.(prometheus.Counter)
}

// observeNovelty records how unusual one query was, so that drift shows on
// a dashboard.
func (m *metrics) observeNovelty(a novelty.Assessment) {
	if m == nil {
		return
	}
	m.novelty.Observe(a.Percentile)
}
