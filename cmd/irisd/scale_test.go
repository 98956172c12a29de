package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/pgtest"
	"github.com/irisknn/irisknn/internal/redistest"
)

// TestRunScaledOut runs two replicas and a worker through run against a
// real PostgreSQL and redis-server: a write through one is read on the
// other, and a job submitted to one is run by the worker and reported by
// the other.
func TestRunScaledOut(t *testing.T) {
	pg := pgtest.Start(t)
	rds := redistest.Start(t)
	shared := []string{"-postgres", pg.URL(), "-redis", rds.URL(), "-redis-prefix", "e2e:"}
	a, stopA := startRun(t, shared...)
	b, stopB := startRun(t, shared...)
	wctx, cancelWorker := context.WithCancel(context.Background())
	workerDone := make(chan error, 1)
	go func() {
		workerDone <- run(wctx, append([]string{"worker"}, shared...), env(), io.Discard, io.Discard)
	}()

	post := func(url, body string) *http.Response {
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := post(a+"/samples", `{"features":[5,3,1.5,0.2],"species":"setosa"}`)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	loc := resp.Header.Get("Location")
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := http.Get(b + loc)
		require.NoError(t, err)
		r.Body.Close()
		if r.StatusCode == http.StatusOK {
			break
		}
		require.True(t, time.Now().Before(deadline), "replica b never saw %s", loc)
		time.Sleep(5 * time.Millisecond)
	}

	resp = post(a+"/jobs", `{"type":"evaluate","k_max":5}`)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	jobLoc := resp.Header.Get("Location")
	deadline = time.Now().Add(time.Minute)
	for {
		r, err := http.Get(b + jobLoc)
		require.NoError(t, err)
		var j struct {
			Status string          `json:"status"`
			Result json.RawMessage `json:"result"`
		}
		require.NoError(t, json.NewDecoder(r.Body).Decode(&j))
		r.Body.Close()
		if j.Status == "succeeded" {
			assert.Contains(t, string(j.Result), `"samples":151`, "the worker evaluated the shared set")
			break
		}
		require.NotEqual(t, "failed", j.Status)
		require.True(t, time.Now().Before(deadline), "job still %s", j.Status)
		time.Sleep(20 * time.Millisecond)
	}

	cancelWorker()
	require.NoError(t, <-workerDone)
	require.NoError(t, stopA())
	require.NoError(t, stopB())
}

func TestWorkerNeedsPostgres(t *testing.T) {
	err := run(context.Background(), []string{"worker"}, env(), io.Discard, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-postgres")
}

// TestRiverUIBehindTheKey: with -postgres, River's web UI is served at
// /riverui, and with a key set only to a caller with the key (Basic
// authentication with the key as password, for a browser, or Bearer).
func TestRiverUIBehindTheKey(t *testing.T) {
	pg := pgtest.Start(t)
	base, stop := startRun(t, "-postgres", pg.URL(), "-api-key", "ops-key")
	defer func() { require.NoError(t, stop()) }()
	get := func(path string, auth func(*http.Request)) *http.Response {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		require.NoError(t, err)
		if auth != nil {
			auth(req)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := get("/riverui/", nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, resp.Header.Values("WWW-Authenticate")[0], "Basic")
	assert.Equal(t, http.StatusUnauthorized, get("/riverui/", func(r *http.Request) { r.SetBasicAuth("ops", "wrong") }).StatusCode)

	resp = get("/riverui/", func(r *http.Request) { r.SetBasicAuth("ops", "ops-key") })
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	resp = get("/riverui/api/jobs?state=available", func(r *http.Request) { r.Header.Set("Authorization", "Bearer ops-key") })
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "application/json")
}
