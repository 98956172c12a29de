//go:build cluster

// Package cluster proves the scaled-out deployment on loopback: a real
// PostgreSQL (the shared training set and the River job queue), a real
// redis-server (the shared prediction cache, a cache only), three irisd replicas (the third in a network
// namespace of its own, so that it can be partitioned from the database),
// one irisd worker and a real nginx running deploy/nginx.conf through
// scripts/nginx.sh. Run it with `make cluster-test` (it needs IRISD_BIN,
// the irisd binary to test). Every scenario logs its counts on a line in
// capitals (WRITE VISIBILITY, PAUSED REPLICA, REDIS, PARTITION, POSTGRES
// KILL -9, ...).
package cluster

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// proc is a process started by the test, stopped when it ends.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	lines  chan map[string]any // JSON log lines

	mu     sync.Mutex
	recent []string // the last warnings and errors it logged, for failures
}

// warnings returns the last warnings and errors the process logged.
func (p *proc) warnings() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.recent)
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(name, args...)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	p := &proc{cmd: cmd, exited: make(chan struct{}), lines: make(chan map[string]any, 1000)}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				if m["level"] == "WARN" || m["level"] == "ERROR" {
					p.mu.Lock()
					p.recent = append(p.recent, sc.Text())
					if len(p.recent) > 50 {
						p.recent = p.recent[1:]
					}
					p.mu.Unlock()
				}
				select {
				case p.lines <- m:
				default:
				}
			}
		}
	}()
	go func() { cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.stop(syscall.SIGTERM) })
	return p
}

// stop signals the process and waits for it (killing it after 15s).
func (p *proc) stop(sig syscall.Signal) {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// waitLog waits for a log line with the given msg and returns it.
func (p *proc) waitLog(t *testing.T, msg string) map[string]any {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case m := <-p.lines:
			if m["msg"] == msg {
				return m
			}
		case <-p.exited:
			t.Fatalf("%s exited before logging %q", p.cmd.Path, msg)
		case <-deadline:
			t.Fatalf("%s did not log %q", p.cmd.Path, msg)
		}
	}
}

// trainingCSV writes a training set of n samples around the Iris species'
// centroids: big enough that jobs take seconds and caching pays.
func trainingCSV(t *testing.T, dir string, n int) string {
	r := rand.New(rand.NewPCG(1, 2))
	cent := map[string][4]float64{"setosa": {5.0, 3.4, 1.5, 0.2}, "versicolor": {5.9, 2.8, 4.3, 1.3}, "virginica": {6.6, 3.0, 5.6, 2.0}}
	names := []string{"setosa", "versicolor", "virginica"}
	var b strings.Builder
	b.WriteString("sepal_length,sepal_width,petal_length,petal_width,species\n")
	for i := range n {
		sp := names[i%3]
		c := cent[sp]
		fmt.Fprintf(&b, "%.2f,%.2f,%.2f,%.2f,%s\n", c[0]+r.NormFloat64()*0.4, c[1]+r.NormFloat64()*0.3, c[2]+r.NormFloat64()*0.5, c[3]+r.NormFloat64()*0.2, sp)
	}
	p := filepath.Join(dir, "train.csv")
	require.NoError(t, os.WriteFile(p, []byte(b.String()), 0o644))
	return p
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

var client = &http.Client{Timeout: 60 * time.Second}

func do(t *testing.T, method, url, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

func rows(n int, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 7))
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("[%.2f,%.2f,%.2f,%.2f]", 4.5+r.Float64()*3, 2+r.Float64()*2, 1+r.Float64()*5.5, r.Float64()*2.5)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

type job struct {
	ID       string          `json:"id"`
	Status   string          `json:"status"`
	Progress float64         `json:"progress"`
	Attempts int             `json:"attempts"`
	Result   json.RawMessage `json:"result"`
	Error    string          `json:"error"`
}

// runJob submits a job through nginx and polls it, calling during(job)
// while it runs, until it is final; it returns the job and the progress
// values seen.
func runJob(t *testing.T, base, body string, timeout time.Duration, during func(job)) (job, []float64, time.Duration) {
	t.Helper()
	start := time.Now()
	resp, b := do(t, http.MethodPost, base+"/jobs", body)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, string(b))
	loc := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(loc, "/jobs/"), loc)
	var seen []float64
	deadline := time.Now().Add(timeout)
	for {
		resp, b := do(t, http.MethodGet, base+loc, "")
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		var j job
		require.NoError(t, json.Unmarshal(b, &j))
		seen = append(seen, j.Progress)
		if j.Status == "succeeded" || j.Status == "failed" || j.Status == "cancelled" {
			return j, seen, time.Since(start)
		}
		if during != nil {
			during(j)
		}
		require.True(t, time.Now().Before(deadline), "job %s still %s after %v", loc, j.Status, timeout)
		time.Sleep(50 * time.Millisecond)
	}
}

// summarize shortens a list of progress values for the log.
func summarize(seen []float64) string {
	var mid []float64
	for _, p := range seen {
		if p > 0 && p < 1 && (len(mid) == 0 || mid[len(mid)-1] != p) {
			mid = append(mid, p)
		}
	}
	if len(mid) > 6 {
		mid = append(mid[:3], mid[len(mid)-3:]...)
	}
	return fmt.Sprintf("%d polls, distinct values between 0 and 1 (some): %.3f", len(seen), mid)
}
