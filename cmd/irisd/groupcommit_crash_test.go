package main

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/dataset"
)

// TestKill9GroupCommitKeepsAcknowledgedWrites drives the real irisd with
// -data-dir and 32 concurrent writers (so that commits share fsyncs: the
// test checks from /metrics that they did), kills it with SIGKILL while
// they write, restarts it and checks that no acknowledged write was lost.
//
// Each writer owns a range of ids and PUTs them in turn, one write at a
// time, with a counter in the features: after the restart each id must
// hold the last write acknowledged to it, or the one write that was in
// flight when the process died (its outcome unknown), never an older one.
func TestKill9GroupCommitKeepsAcknowledgedWrites(t *testing.T) {
	bin := buildIrisd(t)
	dir := t.TempDir()
	const writers, idsEach = 32, 20
	cycles := 2
	if soak() {
		cycles = 10
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: writers}}
	// last[g][i] is the counter of the last acknowledged write to writer
	// g's i-th id (0: none yet); inflight[g] the write cut off, if any.
	type write struct {
		id  int64
		seq int
	}
	last := make([][]int, writers)
	for g := range last {
		last[g] = make([]int, idsEach)
	}
	seqs := make([]int, writers)
	idOf := func(g, i int) int64 { return int64(100000 + g*1000 + i) }
	for cycle := range cycles {
		d := startDaemon(t, bin, "-data-dir", dir)
		var (
			mu       sync.Mutex
			acked    int
			inflight = make([]*write, writers)
			bad      []string
			stop     = make(chan struct{})
			wg       sync.WaitGroup
		)
		start := time.Now()
		for g := range writers {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					seqs[g]++
					i := seqs[g] % idsEach
					w := &write{id: idOf(g, i), seq: seqs[g]}
					r := send(client, d.base, "", writeReq{Op: dataset.OpPut, ID: w.id,
						Features: []float64{float64(g), float64(w.seq), 1, 1}, Species: "setosa"})
					mu.Lock()
					switch {
					case r.err != nil:
						inflight[g] = w // the server is gone: unknown outcome
						mu.Unlock()
						return
					case r.ok():
						last[g][i] = w.seq
						acked++
					default:
						bad = append(bad, fmt.Sprintf("status %d for PUT %d", r.status, w.id))
					}
					mu.Unlock()
				}
			})
		}
		// Let writes run, then read the fsync count while they go on.
		for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			mu.Lock()
			n := acked
			mu.Unlock()
			if n >= 2000 && time.Since(start) > 500*time.Millisecond {
				break
			}
		}
		fsyncs := metric(t, client, d.base, "irisknn_wal_fsyncs_total")
		mu.Lock()
		ackedAtScrape := acked
		mu.Unlock()
		d.kill9()
		close(stop)
		wg.Wait()
		client.CloseIdleConnections()
		require.Empty(t, bad, "cycle %d", cycle)
		require.Greater(t, ackedAtScrape, 0, "cycle %d: nothing acknowledged", cycle)
		assert.Less(t, fsyncs, float64(ackedAtScrape), "cycle %d: 32 concurrent writers should share fsyncs", cycle)

		d2 := startDaemon(t, bin, "-data-dir", dir)
		st := fetchState(t, client, d2.base)
		got := map[int64]sampleWire{}
		for _, s := range st.Samples {
			got[s.ID] = s
		}
		lost := 0
		for g := range writers {
			for i := range idsEach {
				want := last[g][i]
				s, ok := got[idOf(g, i)]
				var have int
				if ok {
					have = int(s.Features[1])
				}
				if w := inflight[g]; w != nil && w.id == idOf(g, i) && have == w.seq {
					continue // the cut-off write reached the disk
				}
				if have != want {
					lost++
					t.Errorf("cycle %d: id %d holds write %d, want the last acknowledged %d", cycle, idOf(g, i), have, want)
				}
			}
		}
		t.Logf("cycle %d: %d writes acknowledged by 32 writers in %v with %.0f fsyncs at the scrape (%.1f writes per fsync); after kill -9 and restart %d lost",
			cycle, acked, time.Since(start).Round(time.Millisecond), fsyncs, float64(ackedAtScrape)/fsyncs, lost)
		for g := range inflight {
			// The next cycle starts from what the restart shows.
			if w := inflight[g]; w != nil {
				i := w.seq % idsEach
				if s, ok := got[w.id]; ok && int(s.Features[1]) == w.seq {
					last[g][i] = w.seq
				}
			}
		}
		d2.checkNoRace()
		d2.kill9()
	}
}

// metric reads one unlabelled counter or gauge from /metrics.
func metric(t *testing.T, c *http.Client, base, name string) float64 {
	t.Helper()
	resp, err := c.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}
