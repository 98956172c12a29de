package predcache_test

import (
	"bytes"
	"context"
	"fmt"
	"github.com/irisknn/irisknn/internal/datasettest"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/httpapi"
	"github.com/irisknn/irisknn/internal/predcache"
	"github.com/irisknn/irisknn/internal/redistest"
)

func newStore(t testing.TB) *dataset.Memory {
	s, err := dataset.ParseCSV(bytes.NewReader(data.IrisCSV), "")
	require.NoError(t, err)
	snap, err := dataset.NewSnapshot(s.Schema, s.Samples, dataset.ScaleNone)
	require.NoError(t, err)
	return dataset.NewMemory(snap, nil)
}

func server(store dataset.Store, wrap func(httpapi.Predictor) httpapi.Predictor) *httpapi.Server {
	return httpapi.NewServer(httpapi.Config{WrapPredictor: wrap}, store)
}

func batchBody(rows int, k int) string {
	var b strings.Builder
	b.WriteString(`{"instances":[`)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "[%g,%g,%g,%g]", 4+float64(i%40)/10, 2+float64(i%20)/10, 1+float64(i%60)/10, float64(i%25)/10)
	}
	fmt.Fprintf(&b, `],"k":%d}`, k)
	return b.String()
}

func post(h http.Handler, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/predict", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestLocalCache(t *testing.T) {
	store := newStore(t)
	plain := server(store, nil)
	cached := server(store, predcache.Wrap(predcache.Options{}))
	body := batchBody(200, 5) // 200 x 150 = 30,000: above MinWork

	want := post(plain, body)
	require.Equal(t, http.StatusOK, want.Code, want.Body.String())
	first := post(cached, body)
	assert.Equal(t, predcache.Miss, first.Header().Get("X-Cache"))
	second := post(cached, body)
	assert.Equal(t, predcache.Hit, second.Header().Get("X-Cache"))
	assert.Equal(t, want.Body.String(), first.Body.String(), "cached answers equal computed ones")
	assert.Equal(t, want.Body.String(), second.Body.String())
	assert.Equal(t, "1", second.Header().Get("X-Dataset-Version"))

	// Another k is another request.
	assert.Equal(t, predcache.Miss, post(cached, batchBody(200, 7)).Header().Get("X-Cache"))
	// The same rows in the named form are the same canonical request.
	named := strings.Replace(body, "[4,2,1,0]", `{"sepal_length":4,"sepal_width":2,"petal_length":1,"petal_width":0}`, 1)
	require.NotEqual(t, body, named)
	assert.Equal(t, predcache.Hit, post(cached, named).Header().Get("X-Cache"))

	// A write makes old entries unreachable.
	_, _, err := store.Create(context.Background(), valid(t, store, 0, []float64{5, 3, 1, 0.2}, "setosa"))
	require.NoError(t, err)
	third := post(cached, body)
	assert.Equal(t, predcache.Miss, third.Header().Get("X-Cache"))
	assert.Equal(t, "2", third.Header().Get("X-Dataset-Version"))
	assert.Equal(t, post(plain, body).Body.String(), third.Body.String())
}

func TestSmallRequestsBypassTheCache(t *testing.T) {
	cached := server(newStore(t), predcache.Wrap(predcache.Options{}))
	for range 2 {
		w := post(cached, `{"features":[5.1,3.5,1.4,0.2]}`)
		require.Equal(t, http.StatusOK, w.Code)
		assert.Empty(t, w.Header().Get("X-Cache"), "a single prediction on 150 samples is not cached")
	}
	w := post(cached, batchBody(30, 5)) // 30 x 150 = 4,500 < 5,000
	assert.Empty(t, w.Header().Get("X-Cache"))
	// Errors are not cached.
	w = post(cached, batchBody(200, 151))
	assert.Equal(t, http.StatusUnprocessableEntity, w.Code)
}

func TestRedisLayerIsShared(t *testing.T) {
	srv := redistest.Start(t)
	store := newStore(t)
	opt := predcache.Options{Redis: srv.Client(t), RedisMinWork: 20000}
	a := server(store, predcache.Wrap(opt))
	b := server(store, predcache.Wrap(opt))
	body := batchBody(200, 5)
	first := post(a, body)
	assert.Equal(t, predcache.Miss, first.Header().Get("X-Cache"))
	second := post(b, body)
	assert.Equal(t, predcache.HitRedis, second.Header().Get("X-Cache"), "another replica finds it in Redis")
	assert.Equal(t, first.Body.String(), second.Body.String())
	assert.Equal(t, predcache.Hit, post(b, body).Header().Get("X-Cache"), "then in its own LRU")
}

func TestLRUEvicts(t *testing.T) {
	c := predcache.New(httpapi.PredictorFunc(func(ctx context.Context, req httpapi.PredictRequest) (httpapi.PredictAnswer, error) {
		return httpapi.PredictAnswer{Body: make([]byte, 992)}, nil // 1,000 bytes cached, with the class counts
	}), predcache.Options{MaxBytes: 10000, MinWork: 1})
	snap := newStore(t).Snapshot()
	req := func(i int) httpapi.PredictRequest {
		return httpapi.PredictRequest{Snapshot: snap, Features: []float64{float64(i)}}
	}
	for i := range 50 {
		_, err := c.Predict(context.Background(), req(i))
		require.NoError(t, err)
	}
	// 10,000 bytes hold the last 10 answers, and no more.
	for i := 49; i >= 40; i-- {
		a, _ := c.Predict(context.Background(), req(i))
		assert.Equal(t, predcache.Hit, a.Cache, "answer %d", i)
	}
	a, _ := c.Predict(context.Background(), req(39))
	assert.Equal(t, predcache.Miss, a.Cache)
}

func TestEntriesOfAnotherIdentityAreNeverServed(t *testing.T) {
	srv := redistest.Start(t)
	store := newStore(t)
	opt := predcache.Options{Redis: srv.Client(t), RedisMinWork: 20000, Identity: "dataset-a"}
	a := server(store, predcache.Wrap(opt))
	opt.Identity = "dataset-b" // the same version number of another lifetime
	b := server(store, predcache.Wrap(opt))
	body := batchBody(200, 5)
	assert.Equal(t, predcache.Miss, post(a, body).Header().Get("X-Cache"))
	assert.Equal(t, predcache.Miss, post(b, body).Header().Get("X-Cache"), "same version, other identity: no hit")
}

func TestRedisPausedOrFlushedChangesLatencyOnly(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	store := newStore(t)
	plain := server(store, nil)
	opt := predcache.Options{Redis: rdb, RedisMinWork: 20000, MaxBytes: 1, RedisTimeout: 50 * time.Millisecond}
	cached := server(store, predcache.Wrap(opt)) // MaxBytes 1: no LRU, only Redis
	body := batchBody(200, 5)
	want := post(plain, body).Body.String()
	require.Equal(t, want, post(cached, body).Body.String())
	assert.Equal(t, predcache.HitRedis, post(cached, body).Header().Get("X-Cache"))

	require.NoError(t, srv.Pause())
	var slowest time.Duration
	for range 20 {
		start := time.Now()
		w := post(cached, body)
		slowest = max(slowest, time.Since(start))
		assert.Equal(t, want, w.Body.String(), "a paused Redis changes no answer")
	}
	assert.Less(t, slowest, 2*time.Second, "a paused Redis costs at most its timeout")
	require.NoError(t, srv.Resume())

	require.NoError(t, rdb.FlushAll(context.Background()).Err())
	time.Sleep(1100 * time.Millisecond) // past the back-off
	w := post(cached, body)
	assert.Equal(t, predcache.Miss, w.Header().Get("X-Cache"), "flushed: computed again")
	assert.Equal(t, want, w.Body.String())
}

// TestCacheHitsAreCounted checks that the prediction metrics count every
// answer, from the cache too: two identical batches of 200 rows count 400.
func TestCacheHitsAreCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := httpapi.NewServer(httpapi.Config{WrapPredictor: predcache.Wrap(predcache.Options{}), Metrics: reg}, newStore(t))
	body := batchBody(200, 5)
	assert.Equal(t, predcache.Miss, post(h, body).Header().Get("X-Cache"))
	assert.Equal(t, predcache.Hit, post(h, body).Header().Get("X-Cache"))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	total, batches := 0.0, uint64(0)
	for _, mf := range mfs {
		switch mf.GetName() {
		case "irisknn_predictions_total":
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		case "irisknn_predict_batch_size":
			batches = mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	assert.Equal(t, 400.0, total)
	assert.Equal(t, uint64(2), batches)
}

// valid checks a new sample for a store's set (the shared helper).
var valid = datasettest.Valid
