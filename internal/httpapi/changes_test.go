package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/apitest"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/datasettest"
	"github.com/irisknn/irisknn/internal/httpapi"
)

// newAPIWindow is newAPI over a store that keeps window changes.
func newAPIWindow(t *testing.T, cfg httpapi.Config, window int) *apitest.Server {
	t.Helper()
	samples, err := dataset.ParseCSV(bytes.NewReader(data.IrisCSV), "")
	require.NoError(t, err)
	snap, err := dataset.NewSnapshot(samples.Schema, samples.Samples, dataset.ScaleNone)
	require.NoError(t, err)
	return apitest.Start(t, cfg, dataset.NewMemoryWith(snap, nil, dataset.MemoryOptions{ChangeWindow: window}))
}

type changeList struct {
	Changes []struct {
		Version uint64          `json:"version"`
		Time    time.Time       `json:"time"`
		Op      string          `json:"op"`
		ID      int64           `json:"id"`
		Sample  json.RawMessage `json:"sample"`
		Actor   string          `json:"actor"`
	} `json:"changes"`
	NextSince      uint64 `json:"next_since"`
	OldestVersion  uint64 `json:"oldest_version"`
	DatasetVersion uint64 `json:"dataset_version"`
}

func listChanges(t *testing.T, a *apitest.Server, query string) changeList {
	t.Helper()
	r := a.Do("GET", "/dataset/changes?"+query, "")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var l changeList
	require.NoError(t, json.Unmarshal(r.Body, &l))
	return l
}

// TestChangeFeedNamesTheKeyNeverShowsIt: each change lists its version,
// time, operation, id, sample and actor: a named key's name, an unnamed
// key's digest; the keys themselves appear nowhere.
func TestChangeFeedNamesTheKeyNeverShowsIt(t *testing.T) {
	a := newAPI(t, httpapi.Config{APIKey: "unnamed-secret", APIKeys: []httpapi.APIKey{{Name: "alice", Key: "alice-secret"}}})
	r := a.Do("PUT", "/samples/7", `{"features":[1,2,3,4],"species":"setosa"}`, "Authorization", "Bearer alice-secret")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	r = a.Do("DELETE", "/samples/8", "", "Authorization", "Bearer unnamed-secret")
	require.Equal(t, http.StatusNoContent, r.Status)
	require.Equal(t, http.StatusUnauthorized, a.Do("DELETE", "/samples/9", "", "Authorization", "Bearer wrong").Status)
	r = a.Do("POST", "/dataset/reset", "", "Authorization", "Bearer alice-secret")
	require.Equal(t, http.StatusOK, r.Status)

	raw := a.Do("GET", "/dataset/changes?since=1", "")
	assert.NotContains(t, string(raw.Body), "secret")
	l := listChanges(t, a, "since=1")
	require.Len(t, l.Changes, 3)
	c := l.Changes[0]
	assert.Equal(t, uint64(2), c.Version)
	assert.Equal(t, "put", c.Op)
	assert.Equal(t, int64(7), c.ID)
	assert.JSONEq(t, `{"id":7,"features":[1,2,3,4],"species":"setosa"}`, string(c.Sample))
	assert.Equal(t, "alice", c.Actor)
	assert.WithinDuration(t, time.Now(), c.Time, time.Minute)
	assert.Equal(t, "delete", l.Changes[1].Op)
	assert.Equal(t, int64(8), l.Changes[1].ID)
	assert.Regexp(t, `^sha256:[0-9a-f]{12}$`, l.Changes[1].Actor)
	assert.Equal(t, "reset", l.Changes[2].Op)
	assert.Equal(t, uint64(4), l.NextSince)
	assert.Equal(t, uint64(4), l.DatasetVersion)

	assert.Len(t, listChanges(t, a, "since=3").Changes, 1)
	assert.Empty(t, listChanges(t, a, "since=4").Changes)
	assert.Len(t, listChanges(t, a, "since=0&limit=2").Changes, 2)
}

func TestChangeFeedWithoutKeysIsAnonymous(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	require.Equal(t, http.StatusNoContent, a.Do("DELETE", "/samples/8", "").Status)
	assert.Equal(t, "anonymous", listChanges(t, a, "since=1").Changes[0].Actor)
}

// TestChangeFeedBeforeTheWindowIsGone: a since before the kept window is a
// 410 that names the oldest kept version.
func TestChangeFeedBeforeTheWindowIsGone(t *testing.T) {
	a := newAPIWindow(t, httpapi.Config{}, 3)
	for _, id := range []string{"1", "2", "3", "4", "5"} {
		require.Equal(t, http.StatusNoContent, a.Do("DELETE", "/samples/"+id, "").Status)
	}
	r := a.Do("GET", "/dataset/changes?since=2", "")
	assert.Equal(t, http.StatusGone, r.Status)
	assert.Contains(t, r.JSON(t)["detail"], "oldest kept change is version 4")
	assert.EqualValues(t, 4, r.JSON(t)["oldest_version"])
	assert.NotContains(t, r.JSON(t), "newest_version")
	l := listChanges(t, a, "since=3")
	assert.Equal(t, uint64(4), l.OldestVersion)
	assert.Len(t, l.Changes, 3)
}

func TestChangeFeedErrors(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	for _, tc := range []struct {
		query  string
		status int
	}{
		{"since=x", http.StatusBadRequest},
		{"since=-1", http.StatusBadRequest},
		{"limit=0", http.StatusUnprocessableEntity},
		{"limit=10001", http.StatusUnprocessableEntity},
		{"wait=forever", http.StatusBadRequest},
		{"wait=31s", http.StatusUnprocessableEntity},
		{"nope=1", http.StatusBadRequest},
	} {
		assert.Equal(t, tc.status, a.Do("GET", "/dataset/changes?"+tc.query, "").Status, tc.query)
	}
}

// TestChangeFeedLongPollReturnsOnAChange: with wait, a request with
// nothing new answers as soon as a change is made, not at the deadline;
// with nothing happening it answers empty when the wait is up.
func TestChangeFeedLongPollReturnsOnAChange(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	start := time.Now()
	assert.Empty(t, listChanges(t, a, "since=1&wait=200ms").Changes)
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)

	done := make(chan changeList, 1)
	go func() {
		resp, err := http.Get(a.URL + "/dataset/changes?since=1&wait=20s")
		if err != nil {
			close(done)
			return
		}
		defer resp.Body.Close()
		var l changeList
		_ = json.NewDecoder(resp.Body).Decode(&l)
		done <- l
	}()
	time.Sleep(100 * time.Millisecond)
	start = time.Now()
	require.Equal(t, http.StatusNoContent, a.Do("DELETE", "/samples/9", "").Status)
	select {
	case l := <-done:
		require.Len(t, l.Changes, 1)
		assert.Equal(t, int64(9), l.Changes[0].ID)
		assert.Less(t, time.Since(start), 10*time.Second)
	case <-time.After(15 * time.Second):
		t.Fatal("the long poll did not answer after the change")
	}
}

// TestChangeFeedEventStream follows the feed as Server-Sent Events: the
// changes after since arrive as events with their version as id, then a
// new change arrives live; Last-Event-ID resumes after it; shutting down
// ends the stream.
func TestChangeFeedEventStream(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	require.Equal(t, http.StatusNoContent, a.Do("DELETE", "/samples/10", "").Status)
	events := func(header ...string) (*bufio.Reader, func()) {
		req, err := http.NewRequest("GET", a.URL+"/dataset/changes?limit=1", nil)
		require.NoError(t, err)
		req.Header.Set("Accept", "text/event-stream")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
		return bufio.NewReader(resp.Body), func() { resp.Body.Close() }
	}
	next := func(rd *bufio.Reader) (id, data string) {
		for {
			line, err := rd.ReadString('\n')
			require.NoError(t, err)
			line = strings.TrimRight(line, "\n")
			switch {
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "data: "):
				data = line[6:]
			case line == "" && data != "":
				return id, data
			}
		}
	}
	rd, stop := events()
	defer stop()
	id, data := next(rd)
	assert.Equal(t, "2", id)
	assert.Contains(t, data, `"id":10`)
	require.Equal(t, http.StatusNoContent, a.Do("DELETE", "/samples/11", "").Status)
	require.Equal(t, http.StatusNoContent, a.Do("DELETE", "/samples/12", "").Status)
	id, data = next(rd)
	assert.Equal(t, "3", id)
	assert.Contains(t, data, `"op":"delete"`)
	id, _ = next(rd)
	assert.Equal(t, "4", id, "pages of limit follow each other")

	rd2, stop2 := events("Last-Event-ID", "3")
	defer stop2()
	id, _ = next(rd2)
	assert.Equal(t, "4", id, "resumes after Last-Event-ID")

	// A browser reconnecting keeps the URL it started from (since) and
	// sends the last id it received: the later one wins.
	req, err := http.NewRequest("GET", a.URL+"/dataset/changes?since=1", nil)
	require.NoError(t, err)
	req.Header.Set("Last-Event-ID", "3")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var page struct {
		Since   uint64 `json:"since"`
		Changes []struct {
			Version uint64 `json:"version"`
		} `json:"changes"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
	resp.Body.Close()
	assert.Equal(t, uint64(3), page.Since, "since=1 with Last-Event-ID 3 resumes after 3")
	require.Len(t, page.Changes, 1)
	assert.Equal(t, uint64(4), page.Changes[0].Version)
	req.Header.Set("Last-Event-ID", "x")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "a Last-Event-ID that is not a version")

	a.API.SetReady(false)
	_, err = rd2.ReadString(0)
	assert.Error(t, err, "the stream ends at shutdown") // io.EOF
}

// sharedJournal is a dataset.SharedJournal no other replica writes to: a
// store over it behaves as a PostgreSQL replica does, one that other
// replicas may be ahead of.
type sharedJournal struct{}

func (sharedJournal) Record(context.Context, dataset.Change) error { return nil }
func (sharedJournal) CatchUp(_ context.Context, cur *dataset.Snapshot) (*dataset.Snapshot, []dataset.Change, error) {
	return cur, nil, nil
}

// newAPIAtVersion2 serves the shipped Iris after one write (version 2),
// over journal (nil: a store alone, as in memory or with -data-dir).
func newAPIAtVersion2(t *testing.T, journal dataset.Journal) *apitest.Server {
	t.Helper()
	a := apitest.Start(t, httpapi.Config{}, dataset.NewMemory(datasettest.Iris(t), journal))
	require.Equal(t, http.StatusNoContent, a.Do("DELETE", "/samples/10", "").Status)
	require.Equal(t, uint64(2), a.Store.Snapshot().Version())
	return a
}

// openStream starts GET path as an event stream and returns its answer's
// status and Content-Type; the stream is closed. It fails the test rather
// than wait more than 5 s for the answer.
func openStream(t *testing.T, a *apitest.Server, path string, header ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", a.URL+path, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Content-Type")
}

// TestChangeFeedAfterTheNewestVersionIsAConflictAtOnce: on a server that
// is the only writer of its set, a version after its newest (since, or
// Last-Event-ID when later) can never come in this history (a restart
// without -data-dir): the answer is a 409 problem at once, naming both
// versions and saying what to do, as a JSON page, a long poll or an event
// stream alike, never a wait or a stream of another history's changes.
func TestChangeFeedAfterTheNewestVersionIsAConflictAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		query  string
		asked  uint64
		header []string
	}{
		{"a page, one after", "since=3", 3, nil},
		{"a page, far after", "since=500", 500, nil},
		{"a long poll", "since=3&wait=20s", 3, nil},
		{"an event stream", "since=3", 3, []string{"Accept", "text/event-stream"}},
		{"Last-Event-ID after since, a page", "since=1", 500, []string{"Last-Event-ID", "500"}},
		{"Last-Event-ID after since, a long poll", "since=1&wait=20s", 3, []string{"Last-Event-ID", "3"}},
		{"Last-Event-ID after since, an event stream", "since=1", 500, []string{"Accept", "text/event-stream", "Last-Event-ID", "500"}},
		{"since after Last-Event-ID, an event stream", "since=3", 3, []string{"Accept", "text/event-stream", "Last-Event-ID", "2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPIAtVersion2(t, nil) // a server per case: its checks fail this case
			r := a.DoWithin(2*time.Second, "GET", "/dataset/changes?"+tc.query, "", tc.header...)
			require.Equal(t, http.StatusConflict, r.Status, "%s", r.Body)
			assert.Equal(t, "application/problem+json", r.Header.Get("Content-Type"))
			p := r.JSON(t)
			assert.EqualValues(t, 2, p["newest_version"])
			assert.Contains(t, p["detail"], fmt.Sprintf("version %d is after this server's newest version 2", tc.asked))
			assert.Contains(t, p["detail"], "reload the set (GET /samples")
			assert.Contains(t, p["detail"], "follow from since=2")
		})
	}
}

// TestChangeFeedAtTheNewestVersionWaitsAsBefore: a since at the newest
// version is not ahead: a page is empty, a long poll waits for its time,
// an event stream starts.
func TestChangeFeedAtTheNewestVersionWaitsAsBefore(t *testing.T) {
	a := newAPIAtVersion2(t, nil)
	l := listChanges(t, a, "since=2")
	assert.Empty(t, l.Changes)
	assert.Equal(t, uint64(2), l.DatasetVersion)

	start := time.Now()
	r := a.DoWithin(5*time.Second, "GET", "/dataset/changes?since=1&wait=200ms", "", "Last-Event-ID", "2")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "the long poll waited")
	assert.Empty(t, r.JSON(t)["changes"])

	status, ct := openStream(t, a, "/dataset/changes?since=2")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "text/event-stream", ct)
}

// TestChangeFeedOfASharedSetWaitsForAVersionAhead: a replica over a
// shared journal (PostgreSQL) answers a since after its newest version as
// any other: another replica may be ahead, and this one catches up. So a
// long poll waits, and an event stream starts.
func TestChangeFeedOfASharedSetWaitsForAVersionAhead(t *testing.T) {
	a := newAPIAtVersion2(t, sharedJournal{})
	l := listChanges(t, a, "since=500")
	assert.Empty(t, l.Changes)
	assert.Equal(t, uint64(500), l.NextSince)

	start := time.Now()
	r := a.DoWithin(5*time.Second, "GET", "/dataset/changes?since=3&wait=200ms", "")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "the long poll waited")

	status, ct := openStream(t, a, "/dataset/changes?since=1", "Last-Event-ID", "500")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "text/event-stream", ct)
}
