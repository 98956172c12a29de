package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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

// soak reports whether the long variants run (make soak sets IRISKNN_SOAK).
func soak() bool { return os.Getenv("IRISKNN_SOAK") != "" }

// buildIrisd builds the real binary into a temporary directory, with the
// race detector when this test binary has it. The build cache makes every
// build after the first one a link step.
func buildIrisd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "irisd")
	args := []string{"build", "-o", bin}
	env := os.Environ()
	if raceEnabled {
		args = append(args, "-race")
		env = append(env, "CGO_ENABLED=1")
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// daemon is a running irisd process.
type daemon struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string // host:port it listens on
	base   string // http://addr
	mu     sync.Mutex
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan struct{}
	err    error // the exit error, once done is closed
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// startDaemon starts bin with args plus -addr 127.0.0.1:0 and waits for
// its "listening" log line.
func startDaemon(t *testing.T, bin string, args ...string) *daemon {
	t.Helper()
	return startDaemonEnv(t, bin, nil, args...)
}

// startDaemonEnv is startDaemon with env added to the process's
// environment.
func startDaemonEnv(t *testing.T, bin string, env []string, args ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, done: make(chan struct{})}
	d.cmd = exec.Command(bin, append([]string{"-addr", "127.0.0.1:0", "-grpc-addr", "127.0.0.1:0"}, args...)...)
	d.cmd.Env = append(append(os.Environ(), "GORACE=halt_on_error=0 exitcode=66"), env...)
	pr, pw := io.Pipe()
	d.cmd.Stdout = pw
	d.cmd.Stderr = lockedWriter{&d.mu, &d.stderr}
	require.NoError(t, d.cmd.Start())
	go func() {
		d.err = d.cmd.Wait()
		pw.Close()
		close(d.done)
	}()
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			d.mu.Lock()
			if d.stdout.Len() > 4<<20 { // keep the tail of long runs
				b := d.stdout.Bytes()
				d.stdout = *bytes.NewBuffer(slices.Clone(b[len(b)-(1<<20):]))
			}
			d.stdout.Write(append(line, '\n'))
			d.mu.Unlock()
			var m struct{ Msg, Addr string }
			if json.Unmarshal(line, &m) == nil && m.Msg == "listening" {
				select {
				case addrc <- m.Addr:
				default:
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("irisd stdout (tail):\n%s", tail(d.output(), 4000))
			t.Logf("irisd stderr (tail):\n%s", tail(d.errors(), 4000))
		}
	})
	select {
	case d.addr = <-addrc:
	case <-d.done:
		t.Fatalf("irisd exited before listening: %v\n%s\n%s", d.err, d.output(), d.errors())
	case <-time.After(60 * time.Second):
		t.Fatalf("irisd did not start listening within 60s\n%s", d.output())
	}
	d.base = "http://" + d.addr
	return d
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (d *daemon) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stdout.String()
}

func (d *daemon) errors() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stderr.String()
}

// kill9 kills the process with SIGKILL and waits for it.
func (d *daemon) kill9() {
	d.t.Helper()
	require.NoError(d.t, d.cmd.Process.Signal(syscall.SIGKILL))
	<-d.done
}

// wait waits for the process to exit by itself and returns its exit code.
func (d *daemon) wait(timeout time.Duration) int {
	d.t.Helper()
	select {
	case <-d.done:
	case <-time.After(timeout):
		d.t.Fatalf("irisd did not exit within %v", timeout)
	}
	return d.cmd.ProcessState.ExitCode()
}

// checkNoRace fails the test if the race detector reported anything.
func (d *daemon) checkNoRace() {
	d.t.Helper()
	if s := d.errors(); strings.Contains(s, "DATA RACE") {
		d.t.Errorf("the race detector reported a data race in irisd:\n%s", tail(s, 8000))
	}
}

// getJSON GETs path and decodes the JSON answer into v.
func getJSON(t *testing.T, c *http.Client, url string, v any) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s", url)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
}

// serverState is the whole training set as the API shows it.
type serverState struct {
	Version uint64
	NextID  int64
	Samples []sampleWire
}

type sampleWire struct {
	ID       int64      `json:"id"`
	Features [4]float64 `json:"features"`
	Species  string     `json:"species"`
}

// fetchState reads /dataset and every page of /samples, retrying until the
// version did not move in between (callers fetch a quiet server).
func fetchState(t *testing.T, c *http.Client, base string) serverState {
	t.Helper()
	var ds struct {
		DatasetVersion uint64 `json:"dataset_version"`
		NextID         int64  `json:"next_id"`
		Total          int    `json:"total"`
	}
	getJSON(t, c, base+"/dataset", &ds)
	st := serverState{Version: ds.DatasetVersion, NextID: ds.NextID}
	for off := 0; ; off += 1000 {
		var page struct {
			Samples        []sampleWire `json:"samples"`
			DatasetVersion uint64       `json:"dataset_version"`
		}
		getJSON(t, c, fmt.Sprintf("%s/samples?limit=1000&offset=%d", base, off), &page)
		require.Equal(t, ds.DatasetVersion, page.DatasetVersion, "the set changed while it was read")
		st.Samples = append(st.Samples, page.Samples...)
		if len(page.Samples) < 1000 {
			break
		}
	}
	require.Len(t, st.Samples, ds.Total)
	return st
}
