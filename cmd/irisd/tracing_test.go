package main

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/irisknn/irisknn/internal/nginxtest"
	"github.com/irisknn/irisknn/internal/pgtest"
	"github.com/irisknn/irisknn/internal/redistest"
)

// otlpReceiver is an OTLP/HTTP trace receiver on loopback: it decodes each
// export request (protobuf, as the exporter sends it) and keeps its spans.
type otlpReceiver struct {
	url string
	mu  sync.Mutex
	// spans by service.name of the resource that sent them
	spans []receivedSpan
}

type receivedSpan struct {
	service string
	span    *tracepb.Span
}

func startOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	rc := &otlpReceiver{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
			http.Error(w, "not an OTLP trace export", http.StatusNotFound)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want an application/x-protobuf body", http.StatusUnsupportedMediaType)
			return
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		for _, rs := range req.ResourceSpans {
			service := ""
			for _, a := range rs.GetResource().GetAttributes() {
				if a.Key == "service.name" {
					service = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					rc.spans = append(rc.spans, receivedSpan{service, s})
				}
			}
		}
		rc.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	rc.url = "http://" + ln.Addr().String()
	return rc
}

// trace returns the spans received with trace id tid, by name.
func (rc *otlpReceiver) trace(tid string) map[string][]receivedSpan {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := map[string][]receivedSpan{}
	for _, s := range rc.spans {
		if hex.EncodeToString(s.span.TraceId) == tid {
			out[s.span.Name] = append(out[s.span.Name], s)
		}
	}
	return out
}

func (rc *otlpReceiver) names() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, s := range rc.spans {
		out = append(out, s.span.Name)
	}
	return out
}

// waitFor polls the receiver until the trace tid has every named span.
func (rc *otlpReceiver) waitFor(t *testing.T, tid string, names ...string) map[string][]receivedSpan {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got := rc.trace(tid)
		missing := false
		for _, n := range names {
			if len(got[n]) == 0 {
				missing = true
			}
		}
		if !missing {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s: want spans %q, received %q (all: %q)", tid, names, keys(got), rc.names())
		}
	}
}

func keys(m map[string][]receivedSpan) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func spanID(s receivedSpan) string   { return hex.EncodeToString(s.span.SpanId) }
func parentID(s receivedSpan) string { return hex.EncodeToString(s.span.ParentSpanId) }

func attr(s receivedSpan, key string) string {
	for _, a := range s.span.Attributes {
		if a.Key == key {
			v := a.GetValue()
			if v.GetStringValue() != "" {
				return v.GetStringValue()
			}
			return fmt.Sprint(v.GetIntValue())
		}
	}
	return ""
}

// TestTracesCrossNginxReplicaAndWorker: a real nginx (deploy/nginx.conf)
// in front of a replica sharing its set in a real PostgreSQL (and its cache
// in a real Redis), an irisd worker,
// both exporting over OTLP/HTTP to a receiver here that decodes the
// protobuf. A client's traceparent goes through nginx to the replica: one
// trace holds the client's (nginx-propagated) parent, the server spans
// named by route, the store span of the write and its database call, the
// search span of the
// prediction and the worker's run of a job submitted in it, each with the
// right parent. A request without traceparent gets one from nginx, whose
// trace id is the X-Request-Id. Probes and scrapes get no span, and the
// access log carries trace_id and span_id.
func TestTracesCrossNginxReplicaAndWorker(t *testing.T) {
	rc := startOTLPReceiver(t)
	rdb := redistest.Start(t)
	pg := pgtest.Start(t)
	otel := []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + rc.url,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_BSP_SCHEDULE_DELAY=50", // ms: export soon
		"OTEL_TRACES_SAMPLER=parentbased_always_on",
	}
	bin := buildIrisd(t)
	replica := startDaemonEnv(t, bin, append(otel, "OTEL_SERVICE_NAME=irisd-replica"), "-redis", rdb.URL(), "-postgres", pg.URL())
	worker := exec.Command(bin, "worker", "-redis", rdb.URL(), "-postgres", pg.URL())
	worker.Env = append(append(os.Environ(), otel...), "OTEL_SERVICE_NAME=irisd-worker")
	var workerLog syncBuffer
	worker.Stdout, worker.Stderr = &workerLog, &workerLog
	require.NoError(t, worker.Start())
	t.Cleanup(func() {
		worker.Process.Signal(os.Interrupt)
		worker.Wait()
		if t.Failed() {
			t.Logf("worker log:\n%s", tail(workerLog.String(), 4000))
		}
	})
	base := nginxtest.Start(t, []string{replica.addr})

	const tid, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	do := func(method, path, body string, traced bool) *http.Response {
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if traced {
			req.Header.Set("traceparent", "00-"+tid+"-"+parent+"-01")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	require.Equal(t, http.StatusCreated, do("POST", "/samples", `{"features":[5.0,3.4,1.5,0.2],"species":"setosa"}`, true).StatusCode)
	require.Equal(t, http.StatusOK, do("POST", "/predict", `{"features":[5.1,3.5,1.4,0.2]}`, true).StatusCode)
	require.Equal(t, http.StatusAccepted, do("POST", "/jobs", `{"type":"evaluate","k_max":3,"folds":5}`, true).StatusCode)
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		require.Equal(t, http.StatusOK, do("GET", p, "", true).StatusCode)
	}

	spans := rc.waitFor(t, tid, "POST /samples", "store.create", "postgres.record", "POST /predict", "knn.search", "POST /jobs", "job evaluate")
	one := func(name string) receivedSpan {
		require.Len(t, spans[name], 1, name)
		return spans[name][0]
	}
	write, store := one("POST /samples"), one("store.create")
	predict, search := one("POST /predict"), one("knn.search")
	submit, run := one("POST /jobs"), one("job evaluate")
	for _, s := range []receivedSpan{write, predict, submit} {
		assert.Equal(t, parent, parentID(s), "%s: the client's parent, through nginx", s.span.Name)
		assert.Equal(t, tracepb.Span_SPAN_KIND_SERVER, s.span.Kind, s.span.Name)
		assert.Equal(t, "irisd-replica", s.service)
	}
	assert.Equal(t, "/samples", attr(write, "http.route"))
	assert.Equal(t, spanID(write), parentID(store), "the store span is the write's child")
	assert.Equal(t, "*pgstore.Store", attr(store, "store.kind"))
	record := one("postgres.record")
	assert.Equal(t, spanID(store), parentID(record), "the database call is the store span's child")
	assert.Equal(t, tracepb.Span_SPAN_KIND_CLIENT, record.span.Kind)
	assert.Equal(t, "postgresql", attr(record, "db.system"))
	assert.Equal(t, spanID(predict), parentID(search), "the search span is the prediction's child")
	assert.Equal(t, "1", attr(search, "knn.rows"))
	assert.Equal(t, "5", attr(search, "knn.k"))
	assert.Equal(t, "euclidean", attr(search, "knn.metric"))
	assert.Equal(t, spanID(submit), parentID(run), "the worker's run is the submission's child")
	assert.Equal(t, "irisd-worker", run.service, "the job ran in the worker")
	for _, name := range []string{"GET /healthz", "GET /readyz", "GET /metrics", "GET"} {
		assert.Empty(t, spans[name], "no span for %s", name)
	}

	// No traceparent: nginx starts the trace, with X-Request-Id as its id.
	resp := do("POST", "/predict", `{"features":[6.7,3.0,5.2,2.3]}`, false)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	rid := resp.Header.Get("X-Request-Id")
	require.Len(t, rid, 32, "nginx's $request_id")
	got := rc.waitFor(t, rid, "POST /predict", "knn.search")["POST /predict"][0]
	assert.Equal(t, rid[:16], parentID(got), "nginx's parent id")

	// The access log names the trace and the span of each request.
	assert.Contains(t, replica.output(), `"trace_id":"`+tid+`","span_id":"`+spanID(write)+`"`)
}

// TestTracingOffExportsNothing: without OTEL_EXPORTER_OTLP_ENDPOINT (or
// with OTEL_TRACES_EXPORTER=none) irisd sends no span and logs no trace id.
func TestTracingOffExportsNothing(t *testing.T) {
	rc := startOTLPReceiver(t)
	bin := buildIrisd(t)
	d := startDaemonEnv(t, bin, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + rc.url, "OTEL_TRACES_EXPORTER=none", "OTEL_BSP_SCHEDULE_DELAY=50"})
	req, _ := http.NewRequest("POST", d.base+"/predict", bytes.NewReader([]byte(`{"features":[5.1,3.5,1.4,0.2]}`)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.NoError(t, d.cmd.Process.Signal(os.Interrupt))
	d.wait(30 * time.Second)
	assert.Empty(t, rc.names())
	assert.NotContains(t, d.output(), "trace_id")
	assert.NotContains(t, d.output(), "tracing on")
}
