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

func call(t *testing.T, method, url, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// readyz returns what /readyz says is unavailable.
func unavailable(t *testing.T, base string) []string {
	t.Helper()
	resp, body := call(t, http.MethodGet, base+"/readyz", "")
	require.Equal(t, http.StatusOK, resp.StatusCode, "ready while predictions are served: %s", body)
	var rd struct{ Unavailable []string }
	require.NoError(t, json.Unmarshal([]byte(body), &rd))
	return rd.Unavailable
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "timed out after %v waiting until %s", d, what)
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPostgresOutageRefusesWritesFastAndRecovers(t *testing.T) {
	pg := pgtest.Start(t)
	base, stop := startRun(t, "-postgres", pg.URL(), "-postgres-timeout", "1s")
	defer stop()
	const sample = `{"features":[5,3,1.5,0.2],"species":"setosa"}`
	resp, body := call(t, http.MethodPost, base+"/samples", sample)
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	assert.Empty(t, unavailable(t, base))

	pg.Kill()
	waitFor(t, "readyz names writes as unavailable", 10*time.Second, func() bool {
		return strings.Contains(strings.Join(unavailable(t, base), ","), "writes")
	})
	start := time.Now()
	resp, body = call(t, http.MethodPost, base+"/samples", sample)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	assert.Less(t, time.Since(start), 2*time.Second, "a refused write answers fast")
	resp, body = call(t, http.MethodPost, base+"/predict", `{"features":[5.1,3.5,1.4,0.2]}`)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "predictions are served: %s", body)

	require.NoError(t, pg.Restart())
	waitFor(t, "writes recover by themselves", 15*time.Second, func() bool { return len(unavailable(t, base)) == 0 })
	resp, body = call(t, http.MethodPost, base+"/samples", sample)
	assert.Equal(t, http.StatusCreated, resp.StatusCode, body)
	assert.Contains(t, body, `"id":152`, "the write before the outage is still there")
}

// TestRedisWipedLosesNoWriteAndServesNoStaleAnswer is the failure of the
// former Redis store: a FLUSHALL lost every acknowledged write and a
// replica served answers of the previous lifetime.
func TestRedisWipedLosesNoWriteAndServesNoStaleAnswer(t *testing.T) {
	pg := pgtest.Start(t)
	rds := redistest.Start(t)
	shared := []string{"-postgres", pg.URL(), "-redis", rds.URL(), "-cache-min-work", "1", "-redis-cache-min-work", "1"}
	a, stopA := startRun(t, shared...)
	defer stopA()
	const q = `{"instances":[[6.5,3.0,5.2,2.0],[5.0,3.4,1.5,0.2]],"k":3}`
	_, before := call(t, http.MethodPost, a+"/predict", q)
	resp, _ := call(t, http.MethodPost, a+"/predict", q)
	assert.Equal(t, "hit", resp.Header.Get("X-Cache"))

	// Three virginica-like samples relabelled setosa flip the first row.
	for _, f := range []string{"6.5,3.0,5.2,2.0", "6.5,3.0,5.2,2.01", "6.5,3.0,5.2,1.99"} {
		resp, body := call(t, http.MethodPost, a+"/samples", `{"features":[`+f+`],"species":"setosa"}`)
		require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	}
	require.NoError(t, rds.Client(t).FlushAll(context.Background()).Err())

	b, stopB := startRun(t, shared...)
	defer stopB()
	resp, body := call(t, http.MethodGet, b+"/samples/153", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a replica started after the wipe has every write: %s", body)
	for _, base := range []string{a, b} {
		resp, after := call(t, http.MethodPost, base+"/predict", q)
		assert.Equal(t, "4", resp.Header.Get("X-Dataset-Version"))
		assert.NotEqual(t, before, after, "the answer of the new version, not a cached one")
		var got struct{ Predictions []struct{ Species string } }
		require.NoError(t, json.Unmarshal([]byte(after), &got))
		require.Len(t, got.Predictions, 2)
		assert.Equal(t, "setosa", got.Predictions[0].Species, "k=3 nearest are the three new setosa samples")
	}
}
