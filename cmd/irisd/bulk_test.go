package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildIrisdPlain builds the real binary without the race detector, whose
// shadow memory would hide what a memory bound measures.
func buildIrisdPlain(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "irisd")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// peakRSS returns a process's peak resident memory (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 { return procStatus(t, pid, "VmHWM") }

// procStatus returns a memory field of /proc/PID/status (in kB there) in
// bytes.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// procCPU returns a process's CPU time (user + system) so far, from
// /proc/PID/stat: what it spent, without the time it waited for a core on
// a shared machine.
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// bulkMemoryBound is the stated bound on irisd's peak resident memory while
// it imports and exports n rows: 150 MB plus 450 bytes a row. The rows are
// held parsed (about 100 bytes each with their feature vectors) while they are checked, then indexed
// (about 60 bytes each, twice while the old set is still referenced), and
// the snapshot an import writes is encoded in one buffer (about 52 bytes a
// row); the Go heap may grow to twice its live size before it collects.
// The body itself is never held: the CSV of a million rows is 33 MB, the
// NDJSON 58 MB.
func bulkMemoryBound(n int) int64 { return 150<<20 + 450*int64(n) }

// TestBulkImportExportAtScale drives the real irisd with -data-dir: a
// million-row CSV import (100,000 with -short) is one version, durable
// across kill -9, within the memory bound, as is streaming it back out as
// CSV and NDJSON; an import with a bad line halfway leaves the set and its
// version untouched.
func TestBulkImportExportAtScale(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	bin := buildIrisdPlain(t)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 7))
	species := []string{"setosa", "versicolor", "virginica"}
	var csv bytes.Buffer
	csv.WriteString("sepal_length,sepal_width,petal_length,petal_width,species\n")
	for range n {
		fmt.Fprintf(&csv, "%.3f,%.3f,%.3f,%.3f,%s\n", rng.Float64()*8, rng.Float64()*5, rng.Float64()*7, rng.Float64()*3, species[rng.IntN(3)])
	}
	client := &http.Client{Timeout: 5 * time.Minute}
	post := func(base string, body io.Reader) (int, []byte) {
		t.Helper()
		resp, err := client.Post(base+"/dataset/import?mode=replace", "text/csv", body)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	var ds struct {
		DatasetVersion uint64 `json:"dataset_version"`
		Total          int    `json:"total"`
	}

	d := startDaemon(t, bin, "-data-dir", dir)
	pid := d.cmd.Process.Pid
	start, cpu0 := time.Now(), procCPU(t, pid)
	status, body := post(d.base, bytes.NewReader(csv.Bytes()))
	took, cpu := time.Since(start), procCPU(t, pid)-cpu0
	require.Equal(t, http.StatusOK, status, "%s", body)
	getJSON(t, client, d.base+"/dataset", &ds)
	require.Equal(t, n, ds.Total)
	require.Equal(t, uint64(2), ds.DatasetVersion, "one version for the whole import")
	afterImport := peakRSS(t, d.cmd.Process.Pid)

	// Export: read as a stream, counting lines, never held by the test.
	for _, accept := range []string{"text/csv", "application/x-ndjson"} {
		req, _ := http.NewRequest("GET", d.base+"/samples", nil)
		req.Header.Set("Accept", accept)
		estart, ecpu := time.Now(), procCPU(t, pid)
		resp, err := client.Do(req)
		require.NoError(t, err)
		lines := 0
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines++
		}
		resp.Body.Close()
		require.NoError(t, sc.Err())
		assert.Equal(t, "2", resp.Header.Get("X-Dataset-Version"))
		want := n
		if accept == "text/csv" {
			want++ // the header
		}
		assert.Equal(t, want, lines, accept)
		t.Logf("export %s of %d rows: %v (irisd CPU %v)", accept, n, time.Since(estart).Round(time.Millisecond), procCPU(t, pid)-ecpu)
	}
	peak := peakRSS(t, d.cmd.Process.Pid)
	t.Logf("import of %d rows (%d MB CSV) over HTTP, durable: %v (irisd CPU %v); irisd peak RSS %d MB after the import, %d MB after the exports (bound %d MB)",
		n, csv.Len()>>20, took.Round(time.Millisecond), cpu, afterImport>>20, peak>>20, bulkMemoryBound(n)>>20)
	assert.LessOrEqual(t, peak, bulkMemoryBound(n), "irisd's peak memory")

	// Atomic: a bad line halfway through changes nothing.
	bad := csv.Bytes()
	half := bytes.IndexByte(bad[len(bad)/2:], '\n') + len(bad)/2 + 1
	broken := append(append(append([]byte{}, bad[:half]...), "1,2,three,4,setosa\n"...), bad[half:]...)
	badLine := bytes.Count(bad[:half], []byte{'\n'}) + 1
	status, body = post(d.base, bytes.NewReader(broken))
	assert.Equal(t, http.StatusUnprocessableEntity, status)
	assert.Contains(t, string(body), fmt.Sprintf("line %d: petal_length", badLine))
	getJSON(t, client, d.base+"/dataset", &ds)
	assert.Equal(t, uint64(2), ds.DatasetVersion, "the failed import left the version")
	assert.Equal(t, n, ds.Total)

	// Durable: kill -9 right after, and the import is all there.
	d.kill9()
	d2 := startDaemon(t, bin, "-data-dir", dir)
	getJSON(t, client, d2.base+"/dataset", &ds)
	assert.Equal(t, uint64(2), ds.DatasetVersion)
	assert.Equal(t, n, ds.Total)
	var feed struct {
		Changes []map[string]any `json:"changes"`
	}
	getJSON(t, client, d2.base+"/dataset/changes?since=1", &feed)
	require.Len(t, feed.Changes, 1)
	assert.Equal(t, "import", feed.Changes[0]["op"])
	assert.EqualValues(t, n, feed.Changes[0]["rows"])
	assert.Equal(t, "replace", feed.Changes[0]["mode"])
	require.NoError(t, d2.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, d2.wait(60*time.Second))
}

// TestImportIsStreamed: the server reads an import as it arrives: a bad
// second line is answered with its 422 while the client is still sending,
// which it could not be if the body were read whole first.
func TestImportIsStreamed(t *testing.T) {
	bin := buildIrisdPlain(t)
	d := startDaemon(t, bin)
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		_, _ = io.WriteString(pw, "sepal_length,sepal_width,petal_length,petal_width,species\n1,2,3,4,daisy\n")
		_, _ = io.WriteString(pw, strings.Repeat("1,2,3,4,setosa\n", 100000)) // then the body stays open
	}()
	req, _ := http.NewRequest("POST", d.base+"/dataset/import", pr)
	req.Header.Set("Content-Type", "text/csv")
	done := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			done <- resp
		}
	}()
	select {
	case resp := <-done:
		defer resp.Body.Close()
		var p map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
		assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		assert.Contains(t, p["detail"], "line 2: species")
	case <-time.After(30 * time.Second):
		t.Fatal("no answer while the body was still open: the import is not streamed")
	}
}
