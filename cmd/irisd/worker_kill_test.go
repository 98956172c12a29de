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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/pgtest"
)

// worker is a running `irisd worker` process.
type worker struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

// startWorker starts `bin worker args...` and waits for "worker started".
func startWorker(t *testing.T, bin string, args ...string) *worker {
	t.Helper()
	w := &worker{cmd: exec.Command(bin, append([]string{"worker"}, args...)...), done: make(chan struct{})}
	w.cmd.Env = append(os.Environ(), "GORACE=halt_on_error=0 exitcode=66")
	pr, pw := io.Pipe()
	w.cmd.Stdout, w.cmd.Stderr = pw, pw
	require.NoError(t, w.cmd.Start())
	go func() { w.cmd.Wait(); pw.Close(); close(w.done) }()
	started := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			w.mu.Lock()
			w.out.Write(append(sc.Bytes(), '\n'))
			w.mu.Unlock()
			if strings.Contains(sc.Text(), `"msg":"worker started"`) {
				select {
				case started <- struct{}{}:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-w.done:
		default:
			w.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-w.done:
			case <-time.After(20 * time.Second):
				w.cmd.Process.Kill()
				<-w.done
			}
		}
		if t.Failed() {
			w.mu.Lock()
			t.Logf("worker output (tail):\n%s", tail(w.out.String(), 3000))
			w.mu.Unlock()
		}
	})
	select {
	case <-started:
	case <-w.done:
		t.Fatalf("irisd worker exited: %s", w.out.String())
	case <-time.After(60 * time.Second):
		t.Fatal("irisd worker did not start within 60s")
	}
	return w
}

// trainingSet writes a CSV of n samples around the Iris species' centroids.
func trainingSet(t *testing.T, n int) string {
	r := rand.New(rand.NewPCG(1, 2))
	cent := [][4]float64{{5.0, 3.4, 1.5, 0.2}, {5.9, 2.8, 4.3, 1.3}, {6.6, 3.0, 5.6, 2.0}}
	names := []string{"setosa", "versicolor", "virginica"}
	var b strings.Builder
	b.WriteString("sepal_length,sepal_width,petal_length,petal_width,species\n")
	for i := range n {
		c := cent[i%3]
		fmt.Fprintf(&b, "%.2f,%.2f,%.2f,%.2f,%s\n", c[0]+r.NormFloat64()*0.4, c[1]+r.NormFloat64()*0.3, c[2]+r.NormFloat64()*0.5, c[3]+r.NormFloat64()*0.2, names[i%3])
	}
	p := filepath.Join(t.TempDir(), "train.csv")
	require.NoError(t, os.WriteFile(p, []byte(b.String()), 0o644))
	return p
}

type jobState struct {
	Status   string  `json:"status"`
	Progress float64 `json:"progress"`
	Attempts int     `json:"attempts"`
	Error    string  `json:"error"`
	Notice   string  `json:"notice"`
}

func getJob(t *testing.T, url string) jobState {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var j jobState
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&j))
	return j
}

// TestWorkerKilledMidJobIsRescued runs the real binaries: a replica and
// two `irisd worker` processes on a real PostgreSQL. The worker running a
// job is killed with SIGKILL mid-run; River's rescuer, configured by
// -job-rescue-after, hands the job to the other worker, which finishes it
// within about a minute. A job submitted while no worker runs says so.
func TestWorkerKilledMidJobIsRescued(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for River's rescuer (up to a minute)")
	}
	bin := buildIrisd(t)
	pg := pgtest.Start(t)
	csv := trainingSet(t, 6000)
	common := []string{"-postgres", pg.URL(), "-data", csv, "-job-max-neighbors", "10000000", "-log-level", "info"}
	replica := startDaemon(t, bin, common...)

	submit := func(body string) string {
		resp, err := http.Post(replica.base+"/jobs", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusAccepted, resp.StatusCode, string(b))
		return replica.base + resp.Header.Get("Location")
	}
	// Leave-one-out over 6,000 samples at k 1..20 with two metrics: long
	// enough to be killed mid-run, well inside -job-timeout.
	job := submit(`{"type":"evaluate","k_max":20,"metrics":["euclidean","manhattan"]}`)
	j := getJob(t, job)
	assert.Equal(t, "queued", j.Status)
	assert.Contains(t, j.Notice, "no irisd worker is running", "a job no worker can pick up says so")

	first := startWorker(t, bin, common...)
	deadline := time.Now().Add(time.Minute)
	for j = getJob(t, job); j.Status != "running"; j = getJob(t, job) {
		require.NotEqual(t, "succeeded", j.Status, "the job finished before the worker could be killed")
		require.True(t, time.Now().Before(deadline), "the job never ran: %+v", j)
		time.Sleep(10 * time.Millisecond)
	}
	startWorker(t, bin, common...)
	require.NoError(t, first.cmd.Process.Signal(syscall.SIGKILL))
	killed := time.Now()
	<-first.done
	t.Logf("worker killed with SIGKILL at progress %.2f", j.Progress)

	deadline = killed.Add(2 * time.Minute)
	for j = getJob(t, job); !(j.Status == "succeeded" || j.Status == "failed" || j.Status == "cancelled"); j = getJob(t, job) {
		require.True(t, time.Now().Before(deadline), "the job was not rescued within 2 minutes: %+v", j)
		time.Sleep(100 * time.Millisecond)
	}
	rescued := time.Since(killed)
	require.Equal(t, "succeeded", j.Status, j.Error)
	assert.GreaterOrEqual(t, j.Attempts, 1, "the job ran again")
	t.Logf("RESCUE: the killed worker's job finished on the other worker %v after the SIGKILL (%d retries; -job-rescue-after 25s, River's rescuer runs every 30s)",
		rescued.Round(100*time.Millisecond), j.Attempts)
	assert.Less(t, rescued, 75*time.Second, "finished within about a minute")
}
