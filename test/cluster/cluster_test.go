//go:build cluster

// Package cluster proves the scaled-out deployment on loopback: a real
// redis-server, three irisd replicas, one irisd worker and a real nginx
// running deploy/nginx.conf. Run it with `make cluster-test` (it needs
// IRISD_BIN, the irisd binary to test).
package cluster

import (
	"bufio"
	"bytes"
	"context"
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
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/nginxtest"
	"github.com/irisknn/irisknn/internal/pgtest"
	"github.com/irisknn/irisknn/internal/redistest"
)

// proc is a process started by the test, stopped when it ends.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	lines  chan map[string]any // JSON log lines
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

func TestCluster(t *testing.T) {
	bin := os.Getenv("IRISD_BIN")
	if bin == "" {
		t.Fatal("IRISD_BIN must name the irisd binary (make cluster-test sets it)")
	}
	dir := t.TempDir()
	rds := redistest.Start(t)
	const nTrain = 20000
	csv := trainingCSV(t, dir, nTrain)
	pg := pgtest.Start(t)
	common := []string{"-redis", rds.URL(), "-data", csv, "-postgres", pg.URL()}

	var replicas []*proc
	var addrs []string
	for range 3 {
		p := start(t, bin, append([]string{"-addr", "127.0.0.1:0", "-grpc-addr", "127.0.0.1:0"}, common...)...)
		addrs = append(addrs, p.waitLog(t, "listening")["addr"].(string))
		replicas = append(replicas, p)
	}
	startWorker := func() *proc {
		p := start(t, bin, append([]string{"worker"}, common...)...)
		p.waitLog(t, "worker started")
		return p
	}
	worker := startWorker()
	base := nginxtest.Start(t, "../../deploy/nginx.conf", addrs)

	resp, b := do(t, http.MethodGet, base+"/readyz", "")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	assert.Contains(t, string(b), fmt.Sprintf(`"samples":%d`, nTrain))

	t.Run("a write through one replica is seen by all", func(t *testing.T) {
		var delays []time.Duration
		for i := range 20 {
			start := time.Now()
			resp, b := do(t, http.MethodPost, base+"/samples", fmt.Sprintf(`{"features":[5.%d,3.1,1.4,0.2],"species":"setosa"}`, i))
			require.Equal(t, http.StatusCreated, resp.StatusCode, string(b))
			loc := resp.Header.Get("Location")
			written := time.Since(start)
			for _, a := range addrs {
				for {
					resp, _ := do(t, http.MethodGet, "http://"+a+loc, "")
					if resp.StatusCode == http.StatusOK {
						break
					}
					require.Less(t, time.Since(start), 30*time.Second, "%s never saw %s", a, loc)
					time.Sleep(200 * time.Microsecond)
				}
			}
			delays = append(delays, time.Since(start)-written)
		}
		slices.Sort(delays)
		t.Logf("PROPAGATION after the write's response until visible on all 3 replicas (n=%d, training set %d): p50 %v, p90 %v, max %v",
			len(delays), nTrain, delays[len(delays)/2], delays[len(delays)*9/10], delays[len(delays)-1])
	})

	t.Run("a repeated expensive prediction is a cache hit", func(t *testing.T) {
		var miss, hit []time.Duration
		for i := range 5 {
			body := fmt.Sprintf(`{"instances":%s,"k":7}`, rows(200, uint64(100+i)))
			start := time.Now()
			resp, first := do(t, http.MethodPost, base+"/predict", body)
			miss = append(miss, time.Since(start))
			require.Equal(t, http.StatusOK, resp.StatusCode, string(first))
			assert.Equal(t, "miss", resp.Header.Get("X-Cache"))
			start = time.Now()
			resp, second := do(t, http.MethodPost, base+"/predict", body)
			hit = append(hit, time.Since(start))
			// nginx sends the repeat to another replica: a Redis hit.
			assert.Contains(t, []string{"hit", "hit-redis"}, resp.Header.Get("X-Cache"))
			assert.Equal(t, string(first), string(second))
		}
		slices.Sort(miss)
		slices.Sort(hit)
		t.Logf("CACHE through nginx, 200-row batch on %d samples: miss median %v, hit median %v", nTrain, miss[len(miss)/2], hit[len(hit)/2])
	})

	t.Run("batch and evaluate jobs run to completion with progress", func(t *testing.T) {
		j, seen, took := runJob(t, base, fmt.Sprintf(`{"type":"batch_predict","instances":%s,"k":5}`, rows(5000, 3)), 5*time.Minute, nil)
		require.Equal(t, "succeeded", j.Status, j.Error)
		var res struct {
			Predictions []json.RawMessage `json:"predictions"`
		}
		require.NoError(t, json.Unmarshal(j.Result, &res))
		assert.Len(t, res.Predictions, 5000)
		t.Logf("JOB batch_predict 5000 rows on %d samples: %v, progress seen %v", nTrain, took, summarize(seen))

		j, seen, took = runJob(t, base, `{"type":"evaluate","k_max":10,"folds":5}`, 5*time.Minute, nil)
		require.Equal(t, "succeeded", j.Status, j.Error)
		assert.Contains(t, string(j.Result), `"best"`)
		assert.True(t, slices.ContainsFunc(seen, func(p float64) bool { return p > 0 && p < 1 }), "progress while running: %v", seen)
		t.Logf("JOB evaluate 5-fold k 1..10 on %d samples: %v, progress seen %v", nTrain, took, summarize(seen))

		// Throughput of small jobs through nginx and the single worker.
		start := time.Now()
		var ids []string
		const n = 50
		for i := range n {
			resp, b := do(t, http.MethodPost, base+"/jobs", fmt.Sprintf(`{"type":"batch_predict","instances":%s}`, rows(10, uint64(i))))
			require.Equal(t, http.StatusAccepted, resp.StatusCode, string(b))
			ids = append(ids, resp.Header.Get("Location"))
		}
		for _, loc := range ids {
			for {
				_, b := do(t, http.MethodGet, base+loc, "")
				var j job
				require.NoError(t, json.Unmarshal(b, &j))
				if j.Status == "succeeded" {
					break
				}
				require.NotEqual(t, "failed", j.Status, j.Error)
				require.Less(t, time.Since(start), 3*time.Minute)
				time.Sleep(20 * time.Millisecond)
			}
		}
		t.Logf("JOBS THROUGHPUT: %d small batch jobs (10 rows each) submitted and finished in %v: %.1f jobs/s (1 worker, concurrency 1)",
			n, time.Since(start), n/time.Since(start).Seconds())
	})

	t.Run("killing a replica under load fails no request", func(t *testing.T) {
		var ok, failed atomic.Int64
		var firstErr atomic.Value
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					var req *http.Request
					if i%2 == 0 {
						req, _ = http.NewRequest(http.MethodPost, base+"/predict", bytes.NewReader([]byte(fmt.Sprintf(`{"features":[5.%d,3.%d,1.4,0.2]}`, g, i%10))))
						req.Header.Set("Content-Type", "application/json")
					} else {
						req, _ = http.NewRequest(http.MethodGet, base+"/samples/1", nil)
					}
					resp, err := client.Do(req)
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode == http.StatusOK {
							ok.Add(1)
							continue
						}
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			})
		}
		time.Sleep(1500 * time.Millisecond)
		replicas[1].stop(syscall.SIGKILL)
		wg.Wait()
		t.Logf("LOAD with replica 2 killed (SIGKILL) mid-run: %d requests succeeded, %d failed", ok.Load(), failed.Load())
		assert.Zero(t, failed.Load(), "first failure: %v", firstErr.Load())
		assert.Greater(t, ok.Load(), int64(100))
	})

	t.Run("a job survives its worker being killed", func(t *testing.T) {
		killed := false
		var killedAt time.Time
		var second *proc
		// 20,000 samples x k_max 20 x one metric: 400,000 neighbours, inside
		// -job-max-neighbors and -job-timeout at their defaults.
		j, seen, took := runJob(t, base, `{"type":"evaluate","k_max":20,"metrics":["euclidean"]}`, 6*time.Minute, func(j job) {
			if !killed && j.Status == "running" && j.Progress > 0 {
				worker.stop(syscall.SIGKILL)
				killed, killedAt = true, time.Now()
				t.Logf("worker killed at progress %.2f; starting another", j.Progress)
				second = startWorker()
			}
		})
		require.True(t, killed, "the job finished before the worker could be killed: %v", seen)
		require.NotNil(t, second)
		require.Equal(t, "succeeded", j.Status, j.Error)
		assert.GreaterOrEqual(t, j.Attempts, 1, "the job ran again")
		t.Logf("JOB evaluate LOO k 1..20 (euclidean) on %d samples, worker SIGKILLed mid-run: finished after %v with %d retries, %v after the kill (River's rescue)", nTrain, took, j.Attempts, time.Since(killedAt).Round(100*time.Millisecond))
	})
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
