package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/apitest"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/httpapi"
)

// newAPI starts the API over the shipped Iris set; every answer is checked
// against the served OpenAPI document (internal/apitest).
func newAPI(t *testing.T, cfg httpapi.Config) *apitest.Server {
	t.Helper()
	return apitest.Start(t, cfg, nil)
}

func TestPredict(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	r := a.Do("POST", "/predict", `{"features":[5.1,3.5,1.4,0.2]}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	m := r.JSON(t)
	assert.Equal(t, "setosa", m["species"])
	assert.Equal(t, map[string]any{"setosa": 1.0, "versicolor": 0.0, "virginica": 0.0}, m["probabilities"])
	assert.EqualValues(t, 5, m["k"])
	assert.Equal(t, "euclidean", m["metric"])
	assert.Equal(t, "uniform", m["weights"])
	assert.EqualValues(t, 1, m["dataset_version"])
	assert.Equal(t, false, m["tie"])
	assert.Equal(t, "1", r.Header.Get("X-Dataset-Version"))
	nb := m["neighbors"].([]any)
	require.Len(t, nb, 5)
	assert.Equal(t, map[string]any{"id": 1.0, "species": "setosa", "distance": 0.0}, nb[0])

	// The named form, other settings; a vote split 2:3 between classes.
	r = a.Do("POST", "/predict", `{"features":{"sepal_length":6.0,"sepal_width":3.0,"petal_length":4.8,"petal_width":1.8},"k":5,"metric":"manhattan","weights":"uniform"}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	m = r.JSON(t)
	assert.Equal(t, "manhattan", m["metric"])
	probs := m["probabilities"].(map[string]any)
	assert.InDelta(t, 1.0, probs["setosa"].(float64)+probs["versicolor"].(float64)+probs["virginica"].(float64), 1e-12)
}

func TestPredictTieIsReported(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	// k=2 around a point between a versicolor and a virginica sample: one vote
	// each, so the tie rule picks versicolor (first in sorted order).
	r := a.Do("POST", "/predict", `{"features":[6.0,3.0,4.8,1.8],"k":2}`)
	require.Equal(t, http.StatusOK, r.Status)
	m := r.JSON(t)
	nb := m["neighbors"].([]any)
	if nb[0].(map[string]any)["species"] != nb[1].(map[string]any)["species"] {
		assert.Equal(t, true, m["tie"])
		assert.Equal(t, "versicolor", m["species"])
	} else {
		assert.Equal(t, false, m["tie"])
	}
}

func TestPredictBatch(t *testing.T) {
	a := newAPI(t, httpapi.Config{MaxBatch: 3})
	r := a.Do("POST", "/predict", `{"instances":[[5.1,3.5,1.4,0.2],{"sepal_length":6.7,"sepal_width":3.0,"petal_length":5.2,"petal_width":2.3},[5.9,2.8,4.3,1.3]],"k":3,"weights":"distance"}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	m := r.JSON(t)
	preds := m["predictions"].([]any)
	require.Len(t, preds, 3)
	var species []string
	for _, p := range preds {
		species = append(species, p.(map[string]any)["species"].(string))
		assert.Len(t, p.(map[string]any)["neighbors"], 3)
	}
	assert.Equal(t, []string{"setosa", "virginica", "versicolor"}, species, "in input order")
	assert.EqualValues(t, 3, m["k"])
	assert.Equal(t, "distance", m["weights"])
	assert.EqualValues(t, 1, m["dataset_version"])

	r = a.Do("POST", "/predict", `{"instances":[[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4]]}`)
	assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
	assert.Contains(t, string(r.Body), "at most 3 rows")
}

func TestPredictErrors(t *testing.T) {
	a := newAPI(t, httpapi.Config{MaxK: 100, MaxBodyBytes: 4096})
	for _, tc := range []struct {
		name, body string
		status     int
		field      string
	}{
		{"malformed", `{"features":[5.1,3.5,`, 400, ""},
		{"not JSON", `hello`, 400, ""},
		{"empty body", ``, 400, ""},
		{"NaN", `{"features":[NaN,1,1,1]}`, 400, ""},
		{"Infinity", `{"features":[1,Infinity,1,1]}`, 400, ""},
		{"overflow", `{"features":[1e400,1,1,1]}`, 400, "features"},
		{"string feature", `{"features":["5.1",1,1,1]}`, 400, "features"},
		{"k not integer", `{"features":[1,1,1,1],"k":2.5}`, 400, "k"},
		{"k string", `{"features":[1,1,1,1],"k":"3"}`, 400, "k"},
		{"unknown field", `{"features":[1,1,1,1],"kk":3}`, 400, "kk"},
		{"unknown measurement", `{"features":{"sepal_length":1,"sepal_width":1,"petal_length":1,"petal_width":1,"stem":2}}`, 400, "features"},
		{"duplicate key", `{"features":[1,1,1,1],"k":3,"k":4}`, 400, "k"},
		{"trailing data", `{"features":[1,1,1,1]} {}`, 400, ""},
		{"features not array", `{"features":5}`, 400, "features"},
		{"three features", `{"features":[1,1,1]}`, 422, "features"},
		{"five features", `{"features":[1,1,1,1,1]}`, 422, "features"},
		{"missing measurement", `{"features":{"sepal_length":1,"sepal_width":1,"petal_length":1}}`, 422, "features"},
		{"k zero", `{"features":[1,1,1,1],"k":0}`, 422, "k"},
		{"k negative", `{"features":[1,1,1,1],"k":-3}`, 422, "k"},
		{"k above samples", `{"features":[1,1,1,1],"k":151}`, 422, "k"},
		{"k above max", `{"features":[1,1,1,1],"k":101}`, 422, "k"},
		{"unknown metric", `{"features":[1,1,1,1],"metric":"cosine"}`, 422, "metric"},
		{"unknown weights", `{"features":[1,1,1,1],"weights":"gaussian"}`, 422, "weights"},
		{"both forms", `{"features":[1,1,1,1],"instances":[[1,1,1,1]]}`, 422, "instances"},
		{"neither", `{"k":3}`, 422, "features"},
		{"empty batch", `{"instances":[]}`, 422, "instances"},
		{"bad row", `{"instances":[[1,1,1,1],[1,1]]}`, 422, "instances[1]"},
		{"string in a row", `{"instances":[[1,1,1,1],[1,1,1,1],[1,"x",1,1]]}`, 400, "instances[2]"},
		{"wrong type in a named row", `{"instances":[{"sepal_length":1,"sepal_width":true,"petal_length":1,"petal_width":1}]}`, 400, "instances[0]"},
		{"unknown measurement in a row", `{"instances":[[1,1,1,1],{"sepal_length":1,"stem":1}]}`, 400, "instances[1]"},
		{"row not an array", `{"instances":[[1,1,1,1],7]}`, 400, "instances[1]"},
		{"instances not an array", `{"instances":{"a":1}}`, 400, "instances"},
		{"too large", `{"instances":[` + strings.Repeat(`[1,1,1,1],`, 500) + `[1,1,1,1]]}`, 413, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.Do("POST", "/predict", tc.body)
			assert.Equal(t, tc.status, r.Status, "%s", r.Body)
			if tc.field != "" {
				errs, _ := r.JSON(t)["errors"].([]any)
				require.NotEmpty(t, errs, "names the field: %s", r.Body)
				assert.Equal(t, tc.field, errs[0].(map[string]any)["field"])
			}
		})
	}
	r := a.Do("POST", "/predict", `{"features":[1,1,1,1]}`, "Content-Type", "text/plain")
	assert.Equal(t, http.StatusUnsupportedMediaType, r.Status)
	r = a.Do("POST", "/predict", `{"features":[1,1,1,1]}`, "Content-Type", "application/json; charset=utf-8")
	assert.Equal(t, http.StatusOK, r.Status)
	r = a.Do("POST", "/predict", "{\"features\":[1,1,1,1],\"metric\":\"\xff\"}")
	assert.Equal(t, http.StatusBadRequest, r.Status, "invalid UTF-8")
}

func TestSamplesCRUD(t *testing.T) {
	a := newAPI(t, httpapi.Config{})

	r := a.Do("GET", "/samples", "")
	require.Equal(t, http.StatusOK, r.Status)
	m := r.JSON(t)
	assert.EqualValues(t, 150, m["total"])
	assert.EqualValues(t, 50, m["limit"])
	assert.Len(t, m["samples"], 50)

	r = a.Do("GET", "/samples?species=virginica&limit=2&offset=48", "")
	require.Equal(t, http.StatusOK, r.Status)
	m = r.JSON(t)
	assert.EqualValues(t, 50, m["total"])
	assert.Equal(t, []any{
		map[string]any{"id": 149.0, "features": []any{6.2, 3.4, 5.4, 2.3}, "species": "virginica"},
		map[string]any{"id": 150.0, "features": []any{5.9, 3.0, 5.1, 1.8}, "species": "virginica"},
	}, m["samples"])

	r = a.Do("GET", "/samples/51", "")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "versicolor", r.JSON(t)["species"])
	etag := r.Header.Get("ETag")
	assert.NotEmpty(t, etag)

	// Create: 201 + Location, id 151, and the next prediction sees it.
	r = a.Do("POST", "/samples", `{"features":[1,1,1,1],"species":"virginica"}`)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	assert.Equal(t, "/samples/151", r.Header.Get("Location"))
	assert.Equal(t, "2", r.Header.Get("X-Dataset-Version"))
	r = a.Do("POST", "/predict", `{"features":[1,1,1,1],"k":1}`)
	assert.Equal(t, "virginica", r.JSON(t)["species"])
	assert.EqualValues(t, 2, r.JSON(t)["dataset_version"])

	// Put: replace (200), create with a chosen id (201), conditional (412).
	r = a.Do("PUT", "/samples/51", `{"features":{"sepal_length":7,"sepal_width":3.2,"petal_length":4.7,"petal_width":1.5},"species":"virginica"}`, "If-Match", etag)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.NotEqual(t, etag, r.Header.Get("ETag"))
	r = a.Do("PUT", "/samples/51", `{"features":[7,3.2,4.7,1.4],"species":"versicolor"}`, "If-Match", etag)
	assert.Equal(t, http.StatusPreconditionFailed, r.Status)
	r = a.Do("PUT", "/samples/1000", `{"id":1000,"features":[7,3.2,4.7,1.4],"species":"versicolor"}`)
	require.Equal(t, http.StatusCreated, r.Status)
	assert.Equal(t, "/samples/1000", r.Header.Get("Location"))
	r = a.Do("POST", "/samples", `{"features":[1,1,1,1],"species":"setosa"}`)
	assert.Equal(t, "/samples/1001", r.Header.Get("Location"), "POST moves past PUT's id")

	// Delete: 204, then 404.
	r = a.Do("DELETE", "/samples/1001", "")
	assert.Equal(t, http.StatusNoContent, r.Status)
	assert.Empty(t, r.Body)
	r = a.Do("DELETE", "/samples/1001", "")
	assert.Equal(t, http.StatusNotFound, r.Status)
	r = a.Do("GET", "/samples/1001", "")
	assert.Equal(t, http.StatusNotFound, r.Status)

	// Dataset and reset.
	r = a.Do("GET", "/dataset", "")
	m = r.JSON(t)
	assert.EqualValues(t, 152, m["total"])
	assert.EqualValues(t, 1002, m["next_id"])
	r = a.Do("POST", "/dataset/reset", "")
	require.Equal(t, http.StatusOK, r.Status)
	m = r.JSON(t)
	assert.EqualValues(t, 150, m["total"])
	assert.Equal(t, map[string]any{"setosa": 50.0, "versicolor": 50.0, "virginica": 50.0}, m["counts"])
	r = a.Do("GET", "/samples/51", "")
	assert.Equal(t, etag, r.Header.Get("ETag"), "reset restores the shipped row")
}

func TestSamplesErrors(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/samples/abc", "", 400},
		{"GET", "/samples/0", "", 400},
		{"GET", "/samples/-1", "", 400},
		{"GET", "/samples/1.5", "", 400},
		{"GET", "/samples/99999999999999999999", "", 400},
		{"GET", "/samples/..%2f..%2fetc%2fpasswd", "", 400},
		{"GET", "/samples/9999", "", 404},
		{"GET", "/samples?limit=0", "", 422},
		{"GET", "/samples?limit=1001", "", 422},
		{"GET", "/samples?limit=ten", "", 400},
		{"GET", "/samples?offset=-1", "", 422},
		{"GET", "/samples?species=rose", "", 422},
		{"GET", "/samples?specie=setosa", "", 400},
		{"POST", "/samples", `{"features":[1,1,1,1],"species":"rose"}`, 422},
		{"POST", "/samples", `{"features":[1,1,1,1]}`, 422},
		{"POST", "/samples", `{"species":"setosa"}`, 422},
		{"POST", "/samples", `{"id":7,"features":[1,1,1,1],"species":"setosa"}`, 422},
		{"POST", "/samples", `{"features":[1,1,1],"species":"setosa"}`, 422},
		{"POST", "/samples", `{"features":[1,1,1,1],"species":"setosa","color":"red"}`, 400},
		{"POST", "/samples", `[1,1,1,1]`, 400},
		{"PUT", "/samples/5", `{"id":6,"features":[1,1,1,1],"species":"setosa"}`, 422},
		{"PUT", "/samples/x", `{"features":[1,1,1,1],"species":"setosa"}`, 400},
		{"PUT", "/samples/5", `{"features":[1,1,1,1],"species":"setosa"}`, 412}, // with If-Match below
		{"DELETE", "/samples/abc", "", 400},
		{"DELETE", "/samples/9999", "", 404},
	} {
		t.Run(tc.method+" "+tc.path+" "+tc.body, func(t *testing.T) {
			var r *apitest.Response
			if tc.status == 412 {
				r = a.Do(tc.method, tc.path, tc.body, "If-Match", `"nope"`)
			} else {
				r = a.Do(tc.method, tc.path, tc.body)
			}
			assert.Equal(t, tc.status, r.Status, "%s", r.Body)
		})
	}
	assert.Equal(t, uint64(1), a.Store.Snapshot().Version(), "no failed request changed the set")
}

func TestRoutingErrors(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	r := a.Do("GET", "/nope", "")
	assert.Equal(t, http.StatusNotFound, r.Status)

	r = a.Do("PATCH", "/samples/3", `{}`)
	assert.Equal(t, http.StatusMethodNotAllowed, r.Status)
	assert.Equal(t, "GET, PUT, DELETE, HEAD, OPTIONS", r.Header.Get("Allow"))
	r = a.Do("GET", "/predict", "")
	assert.Equal(t, http.StatusMethodNotAllowed, r.Status)
	assert.Equal(t, "POST, OPTIONS", r.Header.Get("Allow"))
	r = a.Do("DELETE", "/samples", "")
	assert.Equal(t, "GET, POST, HEAD, OPTIONS", r.Header.Get("Allow"))
}

func TestOps(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	r := a.Do("GET", "/healthz", "")
	assert.Equal(t, http.StatusOK, r.Status)
	r = a.Do("HEAD", "/healthz", "")
	assert.Equal(t, http.StatusOK, r.Status)
	r = a.Do("GET", "/openapi.yaml", "")
	assert.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, string(r.Body), "openapi: 3")

	r = a.Do("GET", "/metrics", "")
	assert.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, string(r.Body), "irisknn_http_requests_total")

	r = a.Do("GET", "/readyz", "")
	assert.Equal(t, http.StatusOK, r.Status)
	a.API.SetReady(false)
	r = a.Do("GET", "/readyz", "")
	assert.Equal(t, http.StatusServiceUnavailable, r.Status)
	r = a.Do("GET", "/healthz", "")
	assert.Equal(t, http.StatusOK, r.Status, "alive while not ready")

	// Request ids: echoed when sane, generated otherwise.
	r = a.Do("GET", "/healthz", "", "X-Request-Id", "abc-123")
	assert.Equal(t, "abc-123", r.Header.Get("X-Request-Id"))
	r = a.Do("GET", "/healthz", "", "X-Request-Id", "bad id\twith junk")
	assert.Len(t, r.Header.Get("X-Request-Id"), 16)
}

func TestCORS(t *testing.T) {
	t.Run("any origin by default", func(t *testing.T) {
		a := newAPI(t, httpapi.Config{})
		r := a.Do("OPTIONS", "/predict", "",
			"Origin", "http://page.example",
			"Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "content-type")
		assert.Less(t, r.Status, 300)
		assert.Equal(t, "*", r.Header.Get("Access-Control-Allow-Origin"))
		assert.Contains(t, r.Header.Get("Access-Control-Allow-Methods"), "POST")
		assert.Contains(t, strings.ToLower(r.Header.Get("Access-Control-Allow-Headers")), "content-type")

		r = a.Do("POST", "/predict", `{"features":[1,1,1,1]}`, "Origin", "http://page.example")
		assert.Equal(t, "*", r.Header.Get("Access-Control-Allow-Origin"))
		assert.Contains(t, r.Header.Get("Access-Control-Expose-Headers"), "X-Dataset-Version")
	})
	t.Run("listed origins only", func(t *testing.T) {
		a := newAPI(t, httpapi.Config{CORSOrigins: []string{"http://good.example"}})
		for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
			r := a.Do("OPTIONS", "/samples/5", "",
				"Origin", "http://good.example",
				"Access-Control-Request-Method", m,
				"Access-Control-Request-Headers", "content-type, if-match, authorization")
			assert.Equal(t, "http://good.example", r.Header.Get("Access-Control-Allow-Origin"), m)
		}
		r := a.Do("OPTIONS", "/predict", "",
			"Origin", "http://evil.example",
			"Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "content-type")
		assert.Empty(t, r.Header.Get("Access-Control-Allow-Origin"))
		r = a.Do("GET", "/samples/1", "", "Origin", "http://evil.example")
		assert.Empty(t, r.Header.Get("Access-Control-Allow-Origin"))
	})
}

// panicStore panics on every read once armed, to exercise the recoverer.
type panicStore struct {
	dataset.Store
	armed atomic.Bool
}

func (p *panicStore) Snapshot() *dataset.Snapshot {
	if p.armed.Load() {
		panic("boom")
	}
	return p.Store.Snapshot()
}

func TestPanicBecomesProblem(t *testing.T) {
	ps := &panicStore{Store: newAPI(t, httpapi.Config{}).Store}
	api := httpapi.NewServer(httpapi.Config{}, ps)
	ps.armed.Store(true)
	srv := httptest.NewServer(api)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/samples/1")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	b, _ := io.ReadAll(resp.Body)
	assert.NotContains(t, string(b), "boom", "panic values are not shown to clients")
}

// TestLargestID uses the largest possible id: it round-trips exactly, and
// since no id can follow it POST answers 409 and GET /dataset gives no
// next_id.
func TestLargestID(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	const max = "9223372036854775807"
	r := a.Do("PUT", "/samples/"+max, `{"id":`+max+`,"features":[5,3,1,0.2],"species":"setosa"}`)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	assert.Contains(t, string(r.Body), `"id":`+max+`,`)
	assert.Equal(t, "/samples/"+max, r.Header.Get("Location"))
	r = a.Do("POST", "/samples", `{"features":[5,3,1,0.2],"species":"setosa"}`)
	assert.Equal(t, http.StatusConflict, r.Status, "%s", r.Body)
	assert.Contains(t, r.JSON(t)["detail"], "no id is left")
	assert.NotContains(t, a.Do("GET", "/dataset", "").JSON(t), "next_id")
	r = a.Do("GET", "/samples/9223372036854775808", "")
	assert.Equal(t, http.StatusBadRequest, r.Status)
}

// TestPredictNeighborsBound checks -max-neighbors on both forms of POST
// /predict: rows × k over it is a 422 naming the limit, at it is answered.
func TestPredictNeighborsBound(t *testing.T) {
	a := newAPI(t, httpapi.Config{MaxNeighbors: 6})
	for _, c := range []struct {
		name   string
		body   string
		status int
	}{
		{"single at the limit", `{"features":[5.1,3.5,1.4,0.2],"k":6}`, http.StatusOK},
		{"single over the limit", `{"features":[5.1,3.5,1.4,0.2],"k":7}`, http.StatusUnprocessableEntity},
		{"batch at the limit", `{"instances":[[5.1,3.5,1.4,0.2],[6.7,3.0,5.2,2.3]],"k":3}`, http.StatusOK},
		{"batch over the limit", `{"instances":[[5.1,3.5,1.4,0.2],[6.7,3.0,5.2,2.3],[5.9,2.8,4.3,1.3]],"k":3}`, http.StatusUnprocessableEntity},
		{"batch over the limit at the default k", `{"instances":[[5.1,3.5,1.4,0.2],[6.7,3.0,5.2,2.3]]}`, http.StatusUnprocessableEntity},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := a.Do("POST", "/predict", c.body)
			require.Equal(t, c.status, r.Status, "%s", r.Body)
			if c.status != http.StatusOK {
				assert.Contains(t, string(r.Body), "-max-neighbors")
				assert.Contains(t, string(r.Body), `"field":"k"`)
			}
		})
	}
}
