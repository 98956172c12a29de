package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/httpapi"
	"github.com/irisknn/irisknn/internal/jobs"
)

func TestJobWritesNeedTheKey(t *testing.T) {
	a := newJobsAPIWith(t, httpapi.Config{APIKey: "sekret"}, jobs.Limits{})
	body := `{"type":"evaluate","k_max":3}`
	for _, h := range [][]string{nil, {"Authorization", "Bearer wrong"}} {
		r := a.Do(http.MethodPost, "/jobs", body, h...)
		require.Equal(t, http.StatusUnauthorized, r.Status, "submitting without the key")
		assert.True(t, strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer"), r.Header.Get("WWW-Authenticate"))
	}
	r := a.Do(http.MethodPost, "/jobs", body, "Authorization", "Bearer sekret")
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	loc := r.Header.Get("Location")
	assert.Equal(t, http.StatusOK, a.Do(http.MethodGet, loc, "").Status, "reading a job by its id needs no key")

	r = a.Do(http.MethodDelete, loc, "")
	assert.Equal(t, http.StatusUnauthorized, r.Status, "cancelling without the key")
	assert.True(t, strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer"))
	r = a.Do(http.MethodDelete, loc, "", "Authorization", "Bearer sekret")
	assert.Contains(t, []int{http.StatusOK, http.StatusConflict}, r.Status, "cancelled, or already finished")
}

func TestListJobs(t *testing.T) {
	a := newJobsAPIWith(t, httpapi.Config{APIKey: "sekret"}, jobs.Limits{})
	key := []string{"Authorization", "Bearer sekret"}
	var locs []string
	for i := range 3 {
		r := a.Do(http.MethodPost, "/jobs", fmt.Sprintf(`{"type":"evaluate","k_max":%d}`, i+1), key...)
		require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
		locs = append(locs, r.Header.Get("Location"))
		poll(a, locs[i])
	}
	r := a.Do(http.MethodGet, "/jobs?limit=2", "", key...)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	page := r.JSON(t)
	assert.Equal(t, false, page["redacted"])
	list := page["jobs"].([]any)
	require.Len(t, list, 2)
	assert.Equal(t, "/jobs/"+list[0].(map[string]any)["id"].(string), locs[2], "newest first")
	assert.Equal(t, "succeeded", list[0].(map[string]any)["status"])
	assert.EqualValues(t, 1, list[0].(map[string]any)["progress"])
	assert.Nil(t, list[0].(map[string]any)["result"], "a listing carries no results")
	cursor := page["next_cursor"].(string)
	r = a.Do(http.MethodGet, "/jobs?limit=2&cursor="+cursor, "", key...)
	page = r.JSON(t)
	require.Len(t, page["jobs"], 1)
	assert.Nil(t, page["next_cursor"], "the last page has no cursor")
	assert.Equal(t, "/jobs/"+page["jobs"].([]any)[0].(map[string]any)["id"].(string), locs[0])

	// Without the key: the queue's activity, but no ids.
	r = a.Do(http.MethodGet, "/jobs", "")
	require.Equal(t, http.StatusOK, r.Status)
	page = r.JSON(t)
	assert.Equal(t, true, page["redacted"])
	require.Len(t, page["jobs"], 3)
	for _, j := range page["jobs"].([]any) {
		assert.NotContains(t, j, "id")
		assert.Equal(t, "succeeded", j.(map[string]any)["status"])
	}

	for _, tt := range []struct {
		query  string
		status int
	}{{"?limit=0", 422}, {"?limit=1001", 422}, {"?limit=x", 400}, {"?cursor=zz", 422}, {"?page=2", 400}} {
		assert.Equal(t, tt.status, a.Do(http.MethodGet, "/jobs"+tt.query, "", key...).Status, tt.query)
	}
}

// heapWatch samples the live heap (HeapAlloc) until stopped and returns its peak.
func heapWatch() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return peak.Load() }
}

// heapNow is the live heap after two collections (the second frees what
// sync.Pools, encoding/json's buffers among them, hold from the first).
func heapNow() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// csvRows is a CSV of n rows of single digits: 8 bytes a row, so 100,000
// rows are the 800 KB body that once raised the heap to 3.5 GB at k=150.
func csvRows(n int) string {
	var b strings.Builder
	b.WriteString("sepal_length,sepal_width,petal_length,petal_width\n")
	for i := range n {
		fmt.Fprintf(&b, "%d,%d,%d,%d\n", 4+i%4, 2+i%3, 1+i%6, i%3)
	}
	return b.String()
}

// TestJobsAreBounded: the 800 KB CSV of 100,000 rows at k=150 is refused
// at once, naming the limit and its setting; so is a job over the row cap;
// the largest job the defaults admit runs within a bounded heap; and a full
// queue answers 503 with Retry-After.
func TestJobsAreBounded(t *testing.T) {
	a := newJobsAPI(t)
	body := csvRows(100_000)
	require.InDelta(t, 800_000, len(body), 1000)
	base := heapNow()
	watch := heapWatch()
	r := a.Do(http.MethodPost, "/jobs?k=150", body, "Content-Type", "text/csv")
	peak := watch()
	require.Equal(t, http.StatusUnprocessableEntity, r.Status, string(r.Body))
	assert.Contains(t, r.JSON(t)["detail"], "-job-max-neighbors")
	assert.Contains(t, r.JSON(t)["detail"], "15000000")
	t.Logf("MEMORY 800 KB CSV, 100,000 rows, k=150: refused 422; heap %d MiB before, peak %d MiB (+%d MiB)",
		base>>20, peak>>20, (peak-min(peak, base))>>20)
	assert.Less(t, peak-min(peak, base), uint64(256<<20), "refusing the job costs little memory")

	r = a.Do(http.MethodPost, "/jobs", body+strings.TrimPrefix(csvRows(1), "sepal_length,sepal_width,petal_length,petal_width\n"), "Content-Type", "text/csv")
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	assert.Contains(t, r.JSON(t)["detail"], "-job-max-rows")

	// The largest batch the defaults admit: 100,000 rows at k=10.
	base = heapNow()
	watch = heapWatch()
	r = a.Do(http.MethodPost, "/jobs?k=10", body, "Content-Type", "text/csv")
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	loc := r.Header.Get("Location")
	// Polled through the listing (no results), then the result read and
	// thrown away, so that the test's own decoding does not count.
	for deadline := time.Now().Add(2 * time.Minute); ; {
		st := a.Do(http.MethodGet, "/jobs?limit=1", "").JSON(t)["jobs"].([]any)[0].(map[string]any)["status"]
		if st == "succeeded" {
			break
		}
		require.Contains(t, []any{"queued", "running"}, st)
		require.True(t, time.Now().Before(deadline))
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get(a.URL + loc + "/result")
	require.NoError(t, err)
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	peak = watch()
	kept := heapNow()
	t.Logf("RESULT of 100,000 rows at k=10: %d MiB of JSON", n>>20)
	t.Logf("MEMORY 100,000 rows, k=10 (the defaults' largest batch): heap %d MiB before, peak %d MiB (+%d MiB), %d MiB kept after (the result)",
		base>>20, peak>>20, (peak-min(peak, base))>>20, (kept-min(kept, base))>>20)
	assert.Less(t, peak-min(peak, base), uint64(1<<30), "the largest admitted job stays well under the 3.5 GB of the unbounded one")

	// A full queue: 503 with Retry-After.
	b := newJobsAPIWith(t, httpapi.Config{}, jobs.Limits{Backlog: 1})
	slow := `{"type":"evaluate","k_max":140,"metrics":["euclidean","manhattan","chebyshev"]}`
	r = b.Do(http.MethodPost, "/jobs", slow)
	require.Equal(t, http.StatusAccepted, r.Status)
	r2 := b.Do(http.MethodPost, "/jobs", slow)
	require.Equal(t, http.StatusServiceUnavailable, r2.Status, string(r2.Body))
	assert.Equal(t, "1", r2.Header.Get("Retry-After"))
	assert.Contains(t, r2.JSON(t)["detail"], "-job-backlog")
	b.Do(http.MethodDelete, r.Header.Get("Location"), "")
}
