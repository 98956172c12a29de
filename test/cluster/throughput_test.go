//go:build cluster

package cluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/pgtest"
	"github.com/irisknn/irisknn/internal/redistest"
)

// writeLoad sends POST /samples from writers goroutines, round-robin over
// the replicas, for d, and returns the number of 201s and of other answers.
func writeLoad(t *testing.T, addrs []string, writers int, d time.Duration) (ok, failed int64, firstErr string) {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: writers}}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return load(ctx, hc, writers, http.StatusCreated, func(ctx context.Context, w, i int) *http.Request {
		body := fmt.Sprintf(`{"features":[5.%d,3.%d,1.4,0.2],"species":"setosa"}`, w%10, i%10)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addrs[(w+i)%len(addrs)]+"/samples", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return req
	})
}

// load sends the requests next makes (worker w's i-th) from workers
// goroutines until ctx is done, and returns the number answered want and
// the number of other answers or errors, with the first of them. A request
// cut off by the end of ctx is counted neither way.
func load(ctx context.Context, hc *http.Client, workers, want int, next func(ctx context.Context, w, i int) *http.Request) (ok, failed int64, firstErr string) {
	var nOK, nFail atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				resp, err := hc.Do(next(ctx, w, i))
				if ctx.Err() != nil {
					return // cut off at the end: counted neither way
				}
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == want {
						nOK.Add(1)
						continue
					}
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
				nFail.Add(1)
				first.CompareAndSwap(nil, err.Error())
			}
		})
	}
	wg.Wait()
	s, _ := first.Load().(string)
	return nOK.Load(), nFail.Load(), s
}

// replicas starts n irisd replicas with args and returns their addresses.
func replicas(t *testing.T, bin string, n int, args ...string) []string {
	t.Helper()
	var addrs []string
	for range n {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		start(t, bin, append([]string{"-addr", addr, "-log-level", "warn"}, args...)...)
		waitReady(t, addr)
		addrs = append(addrs, addr)
	}
	return addrs
}

// waitReady waits until the server at addr answers /readyz 200.
func waitReady(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		require.True(t, time.Now().Before(deadline), "%s not ready: %v", addr, err)
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWriteThroughput measures durable writes/s through 3 replicas at 32
// concurrent writers: with the training set in PostgreSQL (IRISD_BIN), and,
// when IRISD_REDIS_STORE_BIN names a binary that still has the former Redis
// store (make write-bench builds main's last commit with it), with it in Redis, in the same
// run: without persistence, as it ran, and with appendfsync always, the
// setting that makes its acknowledged writes durable.
func TestWriteThroughput(t *testing.T) {
	bin := os.Getenv("IRISD_BIN")
	require.NotEmpty(t, bin, "IRISD_BIN must name the irisd binary")
	const writers, d = 32, 5 * time.Second
	report := func(name string, addrs []string) float64 {
		writeLoad(t, addrs, writers, time.Second) // warm up connections
		ok, failed, first := writeLoad(t, addrs, writers, d)
		rate := float64(ok) / d.Seconds()
		t.Logf("WRITES/S %s: %.0f acknowledged writes/s through %d replicas at %d writers (%d in %v, %d failed%s)",
			name, rate, len(addrs), writers, ok, d, failed, map[bool]string{true: ", first: " + first}[failed > 0])
		require.Zero(t, failed, first)
		return rate
	}
	var pgRate float64
	t.Run("postgres", func(t *testing.T) {
		pg := pgtest.Start(t)
		pgRate = report("postgres (synchronous_commit on, fsync on)", replicas(t, bin, 3, "-postgres", pg.URL(), "-grpc-addr", "127.0.0.1:0"))
	})
	old := os.Getenv("IRISD_REDIS_STORE_BIN")
	if old == "" {
		t.Logf("IRISD_REDIS_STORE_BIN not set: no comparison with the former Redis store")
		return
	}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"former redis store, no persistence (as deployed)", nil},
		{"former redis store, appendfsync always (durable)", []string{"--appendonly", "yes", "--appendfsync", "always"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rds := redistest.StartWith(t, c.args...)
			rate := report(c.name, replicas(t, old, 3, "-redis", rds.URL()))
			t.Logf("RATIO postgres / %s: %.2f", c.name, pgRate/rate)
		})
	}
}
