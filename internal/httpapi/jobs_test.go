package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/apitest"
	"github.com/irisknn/irisknn/internal/httpapi"
	"github.com/irisknn/irisknn/internal/jobs"
)

// newJobsAPI is newAPI with an in-process job pool.
func newJobsAPI(t *testing.T) *apitest.Server {
	return newJobsAPIWith(t, httpapi.Config{}, jobs.Limits{})
}

// newJobsAPIWith serves cfg with an in-process job pool bounded by lim.
func newJobsAPIWith(t *testing.T, cfg httpapi.Config, lim jobs.Limits) *apitest.Server {
	t.Helper()
	store := apitest.Iris(t)
	pool := jobs.NewPool(&jobs.Runner{Data: store, Limits: lim}, jobs.PoolOptions{})
	t.Cleanup(func() { pool.Close() })
	cfg.Jobs = pool
	return apitest.Start(t, cfg, store)
}

// poll GETs a job until it is final.
func poll(a *apitest.Server, loc string) map[string]any {
	a.T.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		r := a.Do(http.MethodGet, loc, "")
		require.Equal(a.T, http.StatusOK, r.Status, string(r.Body))
		j := r.JSON(a.T)
		switch j["status"] {
		case "succeeded", "failed", "cancelled":
			return j
		}
		assert.Equal(a.T, "1", r.Header.Get("Retry-After"))
		require.True(a.T, time.Now().Before(deadline), "job %s is still %v", loc, j["status"])
		time.Sleep(10 * time.Millisecond)
	}
}

func TestJobs(t *testing.T) {
	a := newJobsAPI(t)
	r := a.Do(http.MethodPost, "/jobs", `{"type":"batch_predict","instances":[[5.1,3.5,1.4,0.2],{"sepal_length":6.7,"sepal_width":3,"petal_length":5.2,"petal_width":2.3}],"k":3,"weights":"distance"}`)
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	loc := r.Header.Get("Location")
	require.True(t, strings.HasPrefix(loc, "/jobs/"), loc)
	assert.Equal(t, "queued", r.JSON(t)["status"])
	j := poll(a, loc)
	require.Equal(t, "succeeded", j["status"], j["error"])
	assert.EqualValues(t, 1, j["progress"])
	res := j["result"].(map[string]any)
	preds := res["predictions"].([]any)
	require.Len(t, preds, 2)
	assert.Equal(t, "setosa", preds[0].(map[string]any)["species"])
	assert.Equal(t, "virginica", preds[1].(map[string]any)["species"])
	assert.Equal(t, "distance", res["weights"])
	assert.EqualValues(t, 3, res["k"])

	r = a.Do(http.MethodPost, "/jobs", `{"type":"evaluate","k_max":5,"metrics":["chebyshev"],"weights":["uniform"],"folds":10}`)
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	j = poll(a, r.Header.Get("Location"))
	require.Equal(t, "succeeded", j["status"], j["error"])
	res = j["result"].(map[string]any)
	assert.Len(t, res["results"], 5)
	assert.Equal(t, "10-fold", res["validation"])
	assert.Equal(t, "chebyshev", res["best"].(map[string]any)["metric"])

	// A finished job cannot be cancelled; an unknown one is 404.
	assert.Equal(t, http.StatusConflict, a.Do(http.MethodDelete, loc, "").Status)
	assert.Equal(t, http.StatusNotFound, a.Do(http.MethodGet, "/jobs/nope", "").Status)
	assert.Equal(t, http.StatusNotFound, a.Do(http.MethodDelete, "/jobs/nope", "").Status)
}

func TestJobCancel(t *testing.T) {
	a := newJobsAPI(t)
	// The pool has one worker: the second job waits behind the first.
	var locs []string
	for range 2 {
		r := a.Do(http.MethodPost, "/jobs", `{"type":"evaluate","k_max":140,"metrics":["euclidean","manhattan","chebyshev"]}`)
		require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
		locs = append(locs, r.Header.Get("Location"))
	}
	for _, loc := range locs {
		r := a.Do(http.MethodDelete, loc, "")
		require.Equal(t, http.StatusOK, r.Status, string(r.Body))
		assert.Equal(t, "cancelled", r.JSON(t)["status"])
		assert.Equal(t, "cancelled", poll(a, loc)["status"])
	}
}

func TestJobErrors(t *testing.T) {
	a := newJobsAPI(t)
	tests := []struct {
		name   string
		body   string
		status int
		field  string
	}{
		{"no type", `{}`, 422, "type"},
		{"unknown type", `{"type":"sleep"}`, 422, "type"},
		{"unknown field", `{"type":"evaluate","kmax":3}`, 400, ""},
		{"empty batch", `{"type":"batch_predict","instances":[]}`, 422, "instances"},
		{"batch without instances", `{"type":"batch_predict"}`, 422, "instances"},
		{"batch k too large", `{"type":"batch_predict","instances":[[1,2,3,4]],"k":151}`, 422, "k"},
		{"batch weights as a list", `{"type":"batch_predict","instances":[[1,2,3,4]],"weights":["uniform"]}`, 400, "weights"},
		{"batch with evaluate fields", `{"type":"batch_predict","instances":[[1,2,3,4]],"folds":3}`, 422, "type"},
		{"batch bad row", `{"type":"batch_predict","instances":[[1,2,3]]}`, 422, "instances[0]"},
		{"evaluate weights as a string", `{"type":"evaluate","weights":"uniform"}`, 400, "weights"},
		{"evaluate unknown metric", `{"type":"evaluate","metrics":["cosine"]}`, 422, "metrics"},
		{"evaluate unknown weights", `{"type":"evaluate","weights":["linear"]}`, 422, "weights"},
		{"evaluate k_max too large", `{"type":"evaluate","k_max":150}`, 422, "k_max"},
		{"evaluate k_min above k_max", `{"type":"evaluate","k_min":9,"k_max":3}`, 422, "k_min"},
		{"evaluate one fold", `{"type":"evaluate","folds":1}`, 422, "folds"},
		{"evaluate with batch fields", `{"type":"evaluate","k":3}`, 422, "type"},
		{"not json", `{"type":`, 400, ""},
		{"key in capitals", `{"TYPE":"evaluate"}`, 400, "TYPE"},
		{"null row", `{"type":"batch_predict","instances":[[null,1,1,1]]}`, 400, "instances"},
		{"row underflowing", `{"type":"batch_predict","instances":[[1e-400,1,1,1]]}`, 400, "instances[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.Do(http.MethodPost, "/jobs", tt.body)
			require.Equal(t, tt.status, r.Status, string(r.Body))
			if tt.field != "" {
				errs, _ := r.JSON(t)["errors"].([]any)
				require.NotEmpty(t, errs, string(r.Body))
				assert.Equal(t, tt.field, errs[0].(map[string]any)["field"])
			}
		})
	}
}

func TestJobsNotConfigured(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	assert.Equal(t, http.StatusServiceUnavailable, a.Do(http.MethodPost, "/jobs", `{"type":"evaluate"}`).Status)
	assert.Equal(t, http.StatusServiceUnavailable, a.Do(http.MethodGet, "/jobs/x", "").Status)
}

func TestCSVJob(t *testing.T) {
	a := newJobsAPI(t)
	csv := "id,petal_width,petal_length,sepal_width,sepal_length,species\n" +
		"1,0.2,1.4,3.5,5.1,\n" +
		"2,2.3,5.2,3.0,6.7,x\n"
	r := a.Do(http.MethodPost, "/jobs?k=3&weights=distance", csv, "Content-Type", "text/csv")
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	loc := r.Header.Get("Location")
	j := poll(a, loc)
	require.Equal(t, "succeeded", j["status"], j["error"])

	r = a.Do(http.MethodGet, loc+"/result", "")
	require.Equal(t, http.StatusOK, r.Status)
	res := r.JSON(t)
	assert.Equal(t, "distance", res["weights"])
	require.Len(t, res["predictions"], 2)

	r = a.Do(http.MethodGet, loc+"/result?format=csv", "")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "text/csv; charset=utf-8", r.Header.Get("Content-Type"))
	lines := strings.Split(strings.TrimSpace(string(r.Body)), "\n")
	require.Len(t, lines, 3)
	// The inputs are echoed (in schema order), and the label column is kept
	// beside the prediction: an empty cell is not scored, an unknown label
	// counts as wrong.
	assert.Equal(t, "row,sepal_length,sepal_width,petal_length,petal_width,given_species,correct,species,tie,exact_match,novelty_percentile,unusual,p_setosa,p_versicolor,p_virginica", lines[0])
	assert.True(t, strings.HasPrefix(lines[1], "0,5.1,3.5,1.4,0.2,,false,setosa,false,true,0,false,1,0,0"), lines[1])
	assert.True(t, strings.HasPrefix(lines[2], "1,6.7,3,5.2,2.3,x,false,virginica,"), lines[2])
	score := res["against_labels"].(map[string]any)
	assert.Equal(t, "species", score["label"])
	assert.EqualValues(t, 1, score["total"])
	assert.EqualValues(t, 1, score["unlabelled"])
	assert.EqualValues(t, 0, score["correct"])
	assert.Equal(t, []any{"x"}, score["unknown"])
	r = a.Do(http.MethodGet, loc+"/result", "", "Accept", "text/csv")
	assert.Equal(t, "text/csv; charset=utf-8", r.Header.Get("Content-Type"))

	// An evaluation as CSV: one line per setting.
	r = a.Do(http.MethodPost, "/jobs", `{"type":"evaluate","k_max":3}`)
	eloc := r.Header.Get("Location")
	poll(a, eloc)
	r = a.Do(http.MethodGet, eloc+"/result?format=csv", "")
	lines = strings.Split(strings.TrimSpace(string(r.Body)), "\n")
	assert.Len(t, lines, 1+3*2*2)
	assert.Equal(t, "k,metric,weights,accuracy,correct,total", lines[0])

	assert.Equal(t, http.StatusBadRequest, a.Do(http.MethodGet, loc+"/result?format=xml", "").Status)
	assert.Equal(t, http.StatusNotFound, a.Do(http.MethodGet, "/jobs/nope/result", "").Status)
}

func TestCSVJobErrors(t *testing.T) {
	a := newJobsAPI(t)
	tests := []struct {
		name, query, body string
		status            int
	}{
		{"empty", "", "", 422},
		{"missing column", "", "sepal_length,sepal_width,petal_length\n1,2,3\n", 422},
		{"not a number", "", "sepal_length,sepal_width,petal_length,petal_width\n1,2,x,4\n", 422},
		{"NaN", "", "sepal_length,sepal_width,petal_length,petal_width\n1,2,NaN,4\n", 422},
		{"short line", "", "sepal_length,sepal_width,petal_length,petal_width\n1,2\n", 422},
		{"header only", "", "sepal_length,sepal_width,petal_length,petal_width\n", 422},
		{"unknown parameter", "?kk=3", "sepal_length,sepal_width,petal_length,petal_width\n1,2,3,4\n", 400},
		{"evaluate", "?type=evaluate", "sepal_length,sepal_width,petal_length,petal_width\n1,2,3,4\n", 422},
		{"bad k", "?k=x", "sepal_length,sepal_width,petal_length,petal_width\n1,2,3,4\n", 400},
		{"bad metric", "?metric=cosine", "sepal_length,sepal_width,petal_length,petal_width\n1,2,3,4\n", 422},
		{"bad quotes", "", "sepal_length,sepal_width,petal_length,petal_width\n\"1,2,3,4\n", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.Do(http.MethodPost, "/jobs"+tt.query, tt.body, "Content-Type", "text/csv")
			assert.Equal(t, tt.status, r.Status, string(r.Body))
		})
	}
	// A result of a job that is not finished is a 409.
	r := a.Do(http.MethodPost, "/jobs", `{"type":"evaluate","k_max":140,"metrics":["euclidean","manhattan","chebyshev"]}`)
	loc := r.Header.Get("Location")
	assert.Equal(t, http.StatusConflict, a.Do(http.MethodGet, loc+"/result", "").Status)
	a.Do(http.MethodDelete, loc, "")
}
