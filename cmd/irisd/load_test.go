package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/knn"
)

// predictionWire is one prediction as the API returns it.
type predictionWire struct {
	Species   string `json:"species"`
	Neighbors []struct {
		ID      int64   `json:"id"`
		Species string  `json:"species"`
		Dist    float64 `json:"distance"`
	} `json:"neighbors"`
}

// observation is a prediction a client got, to check against the version
// it claims.
type observation struct {
	f    []float64
	k    int
	pred predictionWire
}

// predictor sends single and batch predictions and keeps what it got.
type predictor struct {
	mu     sync.Mutex
	byVer  map[uint64][]observation
	sent   atomic.Int64
	failed atomic.Int64
	errs   []string
}

func (p *predictor) fail(format string, args ...any) {
	p.failed.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errs) < 20 {
		p.errs = append(p.errs, fmt.Sprintf(format, args...))
	}
}

// predictOnce sends one request (a batch of n rows when n > 1).
func (p *predictor) predictOnce(c *http.Client, base string, rng *rand.Rand, n int) error {
	k := 1 + rng.IntN(15)
	fs := make([][]float64, n)
	for i := range fs {
		fs[i] = []float64{4 + rng.Float64()*4, 2 + rng.Float64()*2.5, 1 + rng.Float64()*6, rng.Float64() * 2.5}
	}
	var body []byte
	if n == 1 {
		body, _ = json.Marshal(map[string]any{"features": fs[0], "k": k})
	} else {
		body, _ = json.Marshal(map[string]any{"instances": fs, "k": k})
	}
	p.sent.Add(1)
	resp, err := c.Post(base+"/predict", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		p.fail("predict: status %d: %s", resp.StatusCode, b)
		return nil
	}
	hdr, _ := strconv.ParseUint(resp.Header.Get("X-Dataset-Version"), 10, 64)
	var out struct {
		predictionWire
		Predictions    []predictionWire `json:"predictions"`
		DatasetVersion uint64           `json:"dataset_version"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		p.fail("predict: undecodable answer %q: %v", b, err)
		return nil
	}
	if out.DatasetVersion != hdr || hdr == 0 {
		p.fail("predict: body says version %d, X-Dataset-Version says %d", out.DatasetVersion, hdr)
		return nil
	}
	preds := out.Predictions
	if n == 1 {
		preds = []predictionWire{out.predictionWire}
	}
	if len(preds) != n {
		p.fail("predict: %d predictions for %d rows", len(preds), n)
		return nil
	}
	p.mu.Lock()
	for i := range preds {
		p.byVer[hdr] = append(p.byVer[hdr], observation{f: fs[i], k: k, pred: preds[i]})
	}
	p.mu.Unlock()
	return nil
}

// TestLoadWithConcurrentWrites drives the real irisd (built with the race
// detector when the tests are) with predictions and writes from many
// goroutines for a bounded time, then checks: no 5xx and no connection
// errors, every prediction exactly what the training set of the version it
// names gives (the versions are rebuilt from the acknowledged writes), and
// a clean race detector.
func TestLoadWithConcurrentWrites(t *testing.T) {
	bin := buildIrisd(t)
	dur, predictors, writers := 3*time.Second, 12, 3
	if soak() {
		dur = 60 * time.Second
	}
	d := startDaemon(t, bin, "-data-dir", t.TempDir(), "-log-level", "info", "-max-inflight-batch", "64")
	tr := &http.Transport{MaxIdleConnsPerHost: predictors + writers}
	client := &http.Client{Timeout: 60 * time.Second, Transport: tr}
	defer tr.CloseIdleConnections()

	p := &predictor{byVer: map[uint64][]observation{}}
	l := newLedger()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %v, %d predicting and %d writing clients", seed, dur, predictors, writers)
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	for g := range predictors {
		rng := rand.New(rand.NewPCG(seed, uint64(g)))
		wg.Go(func() {
			for time.Now().Before(deadline) {
				n := 1
				if rng.IntN(10) == 0 {
					n = 2 + rng.IntN(60)
				}
				if err := p.predictOnce(client, d.base, rng, n); err != nil {
					p.fail("predict: connection error: %v", err)
				}
			}
		})
	}
	for g := range writers {
		rng := rand.New(rand.NewPCG(seed, uint64(100+g)))
		wg.Go(func() {
			for time.Now().Before(deadline) {
				l.add(send(client, d.base, "", randomWrite(rng, g)))
				time.Sleep(time.Millisecond) // writes are a minority of the traffic
			}
		})
	}
	wg.Wait()

	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 0, d.wait(60*time.Second), "exit code after SIGTERM")
	d.checkNoRace()

	t.Logf("predictions: %d requests sent, %d failed; writes: %d sent, %d acknowledged, %d unknown (connection errors)",
		p.sent.Load(), p.failed.Load(), l.sent, len(l.acked), len(l.unknown))
	require.Empty(t, p.errs)
	require.Empty(t, l.errs)
	require.Empty(t, l.unknown, "writes failed with connection errors")

	// Rebuild every version from the acknowledged writes and check each
	// prediction against the set it claims to come from.
	loaded, err := dataset.ParseCSV(bytes.NewReader(data.IrisCSV), "")
	require.NoError(t, err)
	snap, err := dataset.NewSnapshot(loaded.Schema, loaded.Samples, dataset.ScaleNone)
	require.NoError(t, err)
	checked, maxV := 0, l.maxAcked()
	var pr knn.Prediction
	for {
		for _, o := range p.byVer[snap.Version()] {
			q := knn.Query{K: o.k, Metric: knn.Euclidean, Weights: knn.Uniform}
			require.NoError(t, snap.Predict(&pr, o.f, q))
			require.Len(t, o.pred.Neighbors, len(pr.Neighbors), "version %d", snap.Version())
			for i, nb := range pr.Neighbors {
				got := o.pred.Neighbors[i]
				x, _ := snap.Get(nb.ID)
				require.Equal(t, nb.ID, got.ID, "version %d, %v k=%d: neighbour %d", snap.Version(), o.f, o.k, i)
				require.Equal(t, x.Label, got.Species, "version %d: neighbour %d's species", snap.Version(), nb.ID)
			}
			require.Equal(t, snap.Classes()[pr.Class], o.pred.Species, "version %d, %v k=%d", snap.Version(), o.f, o.k)
			checked++
		}
		delete(p.byVer, snap.Version())
		if snap.Version() >= maxV {
			break
		}
		r, ok := l.acked[snap.Version()+1]
		require.True(t, ok, "version %d was never acknowledged to any writer", snap.Version()+1)
		c, ok := r.req.change(snap)
		require.True(t, ok)
		if r.req.Post {
			require.Equal(t, r.id, c.Sample.ID, "version %d: POST got id %d, the next id was %d", snap.Version()+1, r.id, c.Sample.ID)
		}
		snap, err = snap.Apply(c)
		require.NoError(t, err)
	}
	require.Empty(t, p.byVer, "predictions claim versions that no write produced")
	t.Logf("checked %d predicted rows against %d dataset versions", checked, maxV)
}

// TestGracefulShutdownUnderLoad sends SIGTERM while requests are in flight:
// /readyz turns 503 first (during -drain-delay) while requests still
// succeed, then new connections are refused, the request in flight
// finishes with 200, and the process exits 0.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	bin := buildIrisd(t)
	d := startDaemon(t, bin, "-drain-delay", "2s", "-shutdown-timeout", "30s")
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	// A request in flight: headers and half of the body sent.
	body := []byte(`{"features":[5.1,3.5,1.4,0.2],"k":3}`)
	conn, err := net.Dial("tcp", d.addr)
	require.NoError(t, err)
	defer conn.Close()
	fmt.Fprintf(conn, "POST /predict HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", d.addr, len(body))
	_, err = conn.Write(body[:10])
	require.NoError(t, err)

	// Load that goes on during the shutdown.
	var sent, ok200, refused, reset, bad atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		rng := rand.New(rand.NewPCG(7, uint64(g)))
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				f := []float64{4 + rng.Float64()*4, 2 + rng.Float64()*2, 1 + rng.Float64()*6, rng.Float64() * 2.5}
				b, _ := json.Marshal(map[string]any{"features": f})
				sent.Add(1)
				resp, err := client.Post(d.base+"/predict", "application/json", bytes.NewReader(b))
				switch {
				case errors.Is(err, syscall.ECONNREFUSED):
					refused.Add(1)
					time.Sleep(5 * time.Millisecond)
				case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF):
					// A connection the kernel queued just before the
					// listener closed is reset: it never reached the server.
					reset.Add(1)
				case err != nil:
					t.Errorf("during shutdown: %v", err)
					bad.Add(1)
				default:
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						ok200.Add(1)
					} else {
						bad.Add(1)
					}
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))

	// Readiness turns false first, while the listener still serves.
	readyOff := false
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end) && !readyOff; time.Sleep(20 * time.Millisecond) {
		resp, err := client.Get(d.base + "/readyz")
		require.NoError(t, err, "the listener closed before /readyz reported 503")
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		readyOff = resp.StatusCode == http.StatusServiceUnavailable
	}
	require.True(t, readyOff, "/readyz never reported 503 after SIGTERM")

	// Then new connections are refused.
	refusedNow := false
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && !refusedNow; time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", d.addr, time.Second)
		if err != nil {
			refusedNow = errors.Is(err, syscall.ECONNREFUSED)
			continue
		}
		c.Close()
	}
	require.True(t, refusedNow, "new connections were not refused after the drain delay")
	select {
	case <-d.done:
		t.Fatal("irisd exited with a request still in flight")
	default:
	}

	// The request in flight finishes.
	_, err = conn.Write(body[10:])
	require.NoError(t, err)
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	assert.Contains(t, string(b), `"species":"setosa"`)

	close(stop)
	wg.Wait()
	assert.Equal(t, 0, d.wait(30*time.Second), "exit code after SIGTERM")
	d.checkNoRace()
	t.Logf("during shutdown: %d requests sent, %d answered 200, %d refused at connect, %d reset before reaching the server, %d other statuses",
		sent.Load(), ok200.Load(), refused.Load(), reset.Load(), bad.Load())
	assert.Zero(t, bad.Load(), "requests that reached the server got a status other than 200")
	assert.Positive(t, ok200.Load())
}
