package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// feedPage is GET /dataset/changes as the tests read it.
type feedPage struct {
	Changes []struct {
		Version uint64    `json:"version"`
		Time    time.Time `json:"time"`
		Op      string    `json:"op"`
		ID      int64     `json:"id"`
		Actor   string    `json:"actor"`
	} `json:"changes"`
	OldestVersion uint64 `json:"oldest_version"`
}

// TestChangeFeedSurvivesRestart runs the real irisd with -data-dir, a
// small -change-window and compactions, and named keys from
// -api-key-file; after a graceful restart and after a kill -9 the feed
// lists the same changes (time and actor included), a since before the
// window is still 410, and new changes follow on.
func TestChangeFeedSurvivesRestart(t *testing.T) {
	bin := buildIrisd(t)
	dir := t.TempDir()
	keys := filepath.Join(t.TempDir(), "keys")
	require.NoError(t, os.WriteFile(keys, []byte("# writers\nalice:alice-key-1\nbob: bob-key-2\n"), 0o600))
	args := []string{"-data-dir", dir, "-api-key-file", keys, "-change-window", "40"}
	client := &http.Client{Timeout: 30 * time.Second}
	write := func(base, key string, id int) {
		t.Helper()
		req, err := http.NewRequest("PUT", fmt.Sprintf("%s/samples/%d", base, id), strings.NewReader(`{"features":[1,2,3,4],"species":"setosa"}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(req)
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Less(t, resp.StatusCode, 300)
	}
	feed := func(base string, since uint64) (feedPage, int) {
		t.Helper()
		resp, err := client.Get(fmt.Sprintf("%s/dataset/changes?since=%d", base, since))
		require.NoError(t, err)
		defer resp.Body.Close()
		var p feedPage
		if resp.StatusCode == http.StatusOK {
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
		}
		return p, resp.StatusCode
	}

	d := startDaemon(t, bin, args...)
	// 1,200 writes: the log compacts (every 1,000 records) and the
	// window (40) drops all but the last.
	for i := range 1200 {
		key := "alice-key-1"
		if i%3 == 0 {
			key = "bob-key-2"
		}
		write(d.base, key, 1000+i%50)
	}
	before, status := feed(d.base, 1161)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, before.Changes, 40)
	assert.Equal(t, uint64(1162), before.OldestVersion)
	_, status = feed(d.base, 1000)
	assert.Equal(t, http.StatusGone, status)
	for _, c := range before.Changes {
		assert.Contains(t, []string{"alice", "bob"}, c.Actor)
		assert.NotContains(t, c.Actor, "key")
	}
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, d.wait(30*time.Second))

	for _, stop := range []string{"sigterm", "kill -9"} {
		d = startDaemon(t, bin, args...)
		since := before.Changes[0].Version - 1
		after, status := feed(d.base, since)
		require.Equal(t, http.StatusOK, status, "after %s", stop)
		assert.Equal(t, before.Changes, after.Changes, "after %s: the same changes, times and actors", stop)
		_, status = feed(d.base, 1000)
		assert.Equal(t, http.StatusGone, status, "after %s", stop)
		write(d.base, "bob-key-2", 7)
		last, _ := feed(d.base, after.Changes[len(after.Changes)-1].Version)
		require.Len(t, last.Changes, 1)
		assert.Equal(t, "bob", last.Changes[0].Actor)
		assert.Equal(t, int64(7), last.Changes[0].ID)
		before.Changes = append(after.Changes[1:], last.Changes...) // the window moved on by one
		if stop == "sigterm" {
			require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
			require.Equal(t, 0, d.wait(30*time.Second))
		} else {
			d.kill9()
		}
		d.checkNoRace()
	}
}
