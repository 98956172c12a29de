package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/apitest"
	"github.com/irisknn/irisknn/internal/httpapi"
)

// relDo sends a request through the spec-checking client: h is sent as it
// is (no Content-Type unless h has one).
func relDo(a *apitest.Server, method, path string, h http.Header, body []byte) (*apitest.Response, []byte) {
	pairs := []string{"Content-Type", h.Get("Content-Type")}
	for k := range h {
		pairs = append(pairs, k, h.Get(k))
	}
	r := a.Do(method, path, string(body), pairs...)
	return r, r.Body
}

func jsonHeader(kv ...string) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

const sampleBody = `{"features":[5.1,3.5,1.4,0.2],"species":"setosa"}`

func TestAPIKeyProtectsWritesOnly(t *testing.T) {
	cfg := httpapi.DefaultConfig()
	cfg.APIKey = "s3cret-key"
	a := apitest.Start(t, cfg, nil)
	store := a.Store

	writes := []struct{ method, path, body string }{
		{"POST", "/samples", sampleBody},
		{"PUT", "/samples/3", sampleBody},
		{"DELETE", "/samples/4", ""},
		{"POST", "/dataset/reset", ""},
	}
	for _, w := range writes {
		for _, auth := range []string{"", "Bearer", "Bearer wrong", "Bearer s3cret-key2", "Bearer s3cret-ke", "Basic czNjcmV0LWtleQ==", "s3cret-key"} {
			h := jsonHeader()
			if auth != "" {
				h.Set("Authorization", auth)
			}
			v := store.Snapshot().Version()
			resp, b := relDo(a, w.method, w.path, h, []byte(w.body))
			assert.Equal(t, http.StatusUnauthorized, resp.Status, "%s %s with %q: %s", w.method, w.path, auth, b)
			assert.True(t, strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm="irisknn"`))
			assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
			assert.Equal(t, v, store.Snapshot().Version())
		}
		for j, auth := range []string{"Bearer s3cret-key", "bearer s3cret-key", "Bearer   s3cret-key "} {
			v := store.Snapshot().Version()
			path := w.path
			if w.method == http.MethodDelete {
				path = "/samples/" + strconv.Itoa(10+j) // a new victim each time
			}
			resp, b := relDo(a, w.method, path, jsonHeader("Authorization", auth), []byte(w.body))
			assert.Less(t, resp.Status, 300, "%s %s with %q: %s", w.method, w.path, auth, b)
			assert.Equal(t, v+1, store.Snapshot().Version())
		}
	}
	// Reads and predictions stay open.
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/samples", ""}, {"GET", "/samples/1", ""}, {"GET", "/dataset", ""},
		{"POST", "/predict", `{"features":[5.1,3.5,1.4,0.2]}`}, {"GET", "/healthz", ""}, {"GET", "/metrics", ""},
	} {
		resp, b := relDo(a, r.method, r.path, jsonHeader(), []byte(r.body))
		assert.Equal(t, http.StatusOK, resp.Status, "%s %s: %s", r.method, r.path, b)
	}
}

func TestCORSPreflightAllowsAuthorization(t *testing.T) {
	cfg := httpapi.DefaultConfig()
	cfg.APIKey = "k"
	cfg.CORSOrigins = []string{"https://app.example"}
	a := apitest.Start(t, cfg, nil)
	h := http.Header{
		"Origin":                         {"https://app.example"},
		"Access-Control-Request-Method":  {"DELETE"},
		"Access-Control-Request-Headers": {"authorization,content-type"},
	}
	resp, _ := relDo(a, "OPTIONS", "/samples/1", h, nil)
	assert.Less(t, resp.Status, 300)
	assert.Equal(t, "https://app.example", resp.Header.Get("Access-Control-Allow-Origin"))
	assert.Contains(t, strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "authorization")
	assert.Contains(t, resp.Header.Get("Access-Control-Allow-Methods"), "DELETE")

	h.Set("Origin", "https://evil.example")
	resp, _ = relDo(a, "OPTIONS", "/samples/1", h, nil)
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
}

func TestRateLimit(t *testing.T) {
	cfg := httpapi.DefaultConfig()
	cfg.RateLimit = 5
	cfg.RateWindow = time.Hour // nothing refills during the test
	a := apitest.Start(t, cfg, nil)
	for i := range 5 {
		resp, b := relDo(a, "GET", "/dataset", nil, nil)
		require.Equal(t, http.StatusOK, resp.Status, "request %d: %s", i, b)
	}
	resp, b := relDo(a, "POST", "/predict", jsonHeader(), []byte(`{"features":[1,2,3,4]}`))
	assert.Equal(t, http.StatusTooManyRequests, resp.Status, "%s", b)
	assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	assert.Equal(t, "3600", resp.Header.Get("Retry-After"))
	assert.Contains(t, string(b), "rate limit")
	// Probes and scrapes are exempt.
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, _ := relDo(a, "GET", p, nil, nil)
		assert.Equal(t, http.StatusOK, resp.Status, p)
	}
	_, b = relDo(a, "GET", "/metrics", nil, nil)
	assert.Contains(t, string(b), `irisknn_rejected_requests_total{reason="rate_limited"} 1`)
}

func TestRateLimitOffByDefault(t *testing.T) {
	a := apitest.Start(t, httpapi.DefaultConfig(), nil)
	for i := range 200 {
		resp, _ := relDo(a, "GET", "/dataset", nil, nil)
		require.Equal(t, http.StatusOK, resp.Status, "request %d", i)
	}
}

// slowBody is a request body that sends its first part, then blocks until
// released.
type slowBody struct {
	first   []byte
	rest    []byte
	release chan struct{}
	started chan struct{}
	once    sync.Once
	stage   int
}

func (b *slowBody) Read(p []byte) (int, error) {
	switch b.stage {
	case 0:
		b.stage++
		b.once.Do(func() { close(b.started) })
		return copy(p, b.first), nil
	case 1:
		<-b.release
		b.stage++
		return copy(p, b.rest), nil
	}
	return 0, io.EOF
}

// TestBatchesInFlightAreCapped: batches being computed are capped at
// MaxHeavy (503 with Retry-After beyond), single predictions are not, and
// the slots are given back.
func TestBatchesInFlightAreCapped(t *testing.T) {
	cfg := httpapi.DefaultConfig()
	cfg.MaxHeavy = 2
	cfg.HeavyWait = httpapi.NoWait
	// Batches block in the predictor until released: they hold their slots.
	wrap, inside, release := holdBatches(2)
	cfg.WrapPredictor = wrap
	a := apitest.Start(t, cfg, nil)
	batch := `{"instances":[` + strings.Repeat(`[5.1,3.5,1.4,0.2],`, 99) + `[6,3,5,2]]}`
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i := range 2 {
		wg.Go(func() {
			resp, err := http.Post(a.URL+"/predict", "application/json", strings.NewReader(batch))
			if assert.NoError(t, err) {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses[i] = resp.StatusCode
			}
		})
	}
	inside.Wait()
	resp, b := relDo(a, "POST", "/predict", jsonHeader(), []byte(batch))
	assert.Equal(t, http.StatusServiceUnavailable, resp.Status, "%s", b)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	assert.Contains(t, string(b), "busy")
	// Single predictions are not heavy: they still go through.
	resp, b = relDo(a, "POST", "/predict", jsonHeader(), []byte(`{"features":[5.1,3.5,1.4,0.2]}`))
	assert.Equal(t, http.StatusOK, resp.Status, "%s", b)

	close(release)
	wg.Wait()
	assert.Equal(t, []int{200, 200}, statuses)
	// Slots are given back.
	resp, b = relDo(a, "POST", "/predict", jsonHeader(), []byte(batch))
	assert.Equal(t, http.StatusOK, resp.Status, "%s", b)
}

// TestSlowBodiesHoldNoBatchSlot: batches whose bodies trickle in hold no
// slot while they are read, so every slot's worth of them leaves batches
// with complete bodies answered at once.
func TestSlowBodiesHoldNoBatchSlot(t *testing.T) {
	cfg := httpapi.DefaultConfig()
	cfg.MaxHeavy = 2
	cfg.HeavyWait = httpapi.NoWait
	a := apitest.Start(t, cfg, nil)
	batch := `{"instances":[` + strings.Repeat(`[5.1,3.5,1.4,0.2],`, 99) + `[6,3,5,2]]}`
	release := make(chan struct{})
	var wg sync.WaitGroup
	statuses := make([]int, 4)
	for i := range 4 { // twice as many slow bodies as slots
		body := &slowBody{first: []byte(batch[:100]), rest: []byte(batch[100:]), release: release, started: make(chan struct{})}
		req, err := http.NewRequest("POST", a.URL+"/predict", body)
		require.NoError(t, err)
		req.ContentLength = int64(len(batch))
		req.Header.Set("Content-Type", "application/json")
		wg.Go(func() {
			resp, err := http.DefaultClient.Do(req)
			if assert.NoError(t, err) {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses[i] = resp.StatusCode
			}
		})
		<-body.started
	}
	for range 5 {
		resp, b := relDo(a, "POST", "/predict", jsonHeader(), []byte(batch))
		require.Equal(t, http.StatusOK, resp.Status, "a complete batch while 4 bodies trickle: %s", b)
	}
	close(release)
	wg.Wait()
	assert.Equal(t, []int{200, 200, 200, 200}, statuses, "the slow batches are answered once their bodies arrive")
}

// TestAContentLengthOverTheLimitIs413AtOnce: a declared body above the
// limit is refused before a byte of it is sent (the server does not wait
// for it), on every route, in the route's limit.
func TestAContentLengthOverTheLimitIs413AtOnce(t *testing.T) {
	cfg := httpapi.DefaultConfig()
	cfg.MaxBodyBytes = 1 << 10
	cfg.MaxImportBytes = 1 << 12
	a := apitest.Start(t, cfg, nil)
	for _, c := range []struct {
		path string
		n    int64
		want int
		msg  string
	}{
		{"/predict", 1<<10 + 1, http.StatusRequestEntityTooLarge, "-max-body"},
		{"/samples", 5_000_000, http.StatusRequestEntityTooLarge, "-max-body"},
		{"/jobs", 5_000_000, http.StatusRequestEntityTooLarge, "-max-body"},
		{"/dataset/import", 1<<12 + 1, http.StatusRequestEntityTooLarge, "-max-import"},
	} {
		t.Run(c.path, func(t *testing.T) {
			// Headers and the start of a body that never comes: only an
			// answer before the body ends the wait.
			conn, err := net.Dial("tcp", strings.TrimPrefix(a.URL, "http://"))
			require.NoError(t, err)
			defer conn.Close()
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"in", c.path, c.n)
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			require.NoError(t, err, "answered without the body")
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			assert.Equal(t, c.want, resp.StatusCode, "%s", b)
			assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
			assert.Contains(t, string(b), c.msg)
			assert.Contains(t, string(b), strconv.FormatInt(c.n, 10))
		})
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := httpapi.DefaultConfig()
	cfg.Metrics = reg
	cfg.APIKey = "k"
	a := apitest.Start(t, cfg, nil)

	relDo(a, "GET", "/samples/1", nil, nil)
	relDo(a, "GET", "/samples/2", nil, nil)
	relDo(a, "GET", "/samples/999", nil, nil)
	relDo(a, "GET", "/no/such/path", nil, nil)
	relDo(a, "POST", "/predict", jsonHeader(), []byte(`{"features":[5.1,3.5,1.4,0.2]}`))
	relDo(a, "POST", "/predict", jsonHeader(), []byte(`{"instances":[[5.1,3.5,1.4,0.2],[6.7,3.0,5.2,2.3],[6.8,3.0,5.5,2.1]]}`))
	relDo(a, "POST", "/samples", jsonHeader(), []byte(sampleBody)) // no key: 401
	resp, _ := relDo(a, "DELETE", "/samples/5", jsonHeader("Authorization", "Bearer k"), nil)
	require.Equal(t, http.StatusNoContent, resp.Status)

	resp, b := relDo(a, "GET", "/metrics", nil, nil)
	require.Equal(t, http.StatusOK, resp.Status)
	assert.Contains(t, resp.Header.Get("Content-Type"), "text/plain")
	text := string(b)
	for _, want := range []string{
		`irisknn_http_requests_total{method="GET",route="/samples/{id}",status="200"} 2`,
		`irisknn_http_requests_total{method="GET",route="/samples/{id}",status="404"} 1`,
		`irisknn_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`irisknn_http_requests_total{method="POST",route="/samples",status="401"} 1`,
		`irisknn_http_requests_total{method="DELETE",route="/samples/{id}",status="204"} 1`,
		`irisknn_http_request_duration_seconds_count{method="POST",route="/predict",status="200"} 2`,
		`irisknn_predictions_total{species="setosa"} 2`,
		`irisknn_predictions_total{species="virginica"} 2`,
		`irisknn_predict_batch_size_count 1`,
		`irisknn_predict_batch_size_sum 3`,
		`irisknn_rejected_requests_total{reason="unauthorized"} 1`,
		`irisknn_rejected_requests_total{reason="overloaded"} 0`,
		`irisknn_dataset_samples 149`,
		`irisknn_dataset_version 2`,
	} {
		assert.Contains(t, text, want)
	}
	assert.NotContains(t, text, "/samples/1\"", "raw paths must not become labels")
	n, err := testutil.GatherAndCount(reg, "irisknn_http_requests_total")
	require.NoError(t, err)
	assert.Positive(t, n)
}

// TestZeroConfigIsTheDefaults checks that Config{} behaves as
// DefaultConfig: a batch that finds the only slot taken waits for it (the
// default 250 ms) rather than failing at once, and NoWait fails at once.
func TestZeroConfigIsTheDefaults(t *testing.T) {
	for _, tc := range []struct {
		wait time.Duration
		want int
	}{{0, http.StatusOK}, {httpapi.NoWait, http.StatusServiceUnavailable}} {
		wrap, inside, release := holdBatches(1)
		a := apitest.Start(t, httpapi.Config{MaxHeavy: 1, HeavyWait: tc.wait, WrapPredictor: wrap}, nil)
		batch := `{"instances":[` + strings.Repeat(`[5.1,3.5,1.4,0.2],`, 99) + `[6,3,5,2]]}`
		done := make(chan struct{})
		go func() {
			defer close(done)
			if resp, err := http.Post(a.URL+"/predict", "application/json", strings.NewReader(batch)); err == nil {
				resp.Body.Close()
			}
		}()
		inside.Wait() // the first batch holds the slot
		go func() { time.Sleep(50 * time.Millisecond); close(release) }()
		r := a.Do("POST", "/predict", batch)
		assert.Equal(t, tc.want, r.Status, "HeavyWait %v", tc.wait)
		<-done
	}
}

// holdBatches returns a WrapPredictor under which the first n batches
// block, holding their slots, until release is closed; inside is done once
// all n are blocked.
func holdBatches(n int) (wrap func(httpapi.Predictor) httpapi.Predictor, inside *sync.WaitGroup, release chan struct{}) {
	inside, release = new(sync.WaitGroup), make(chan struct{})
	inside.Add(n)
	var held atomic.Int64
	wrap = func(next httpapi.Predictor) httpapi.Predictor {
		return httpapi.PredictorFunc(func(ctx context.Context, req httpapi.PredictRequest) (httpapi.PredictAnswer, error) {
			if req.Batch && held.Add(1) <= int64(n) {
				inside.Done()
				<-release
			}
			return next.Predict(ctx, req)
		})
	}
	return wrap, inside, release
}
