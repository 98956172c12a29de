package main

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/dataset"
)

// TestKill9KeepsAcknowledgedWrites starts the real irisd with -data-dir,
// streams writes of every kind from several clients, kills the process
// with SIGKILL in the middle, restarts it and checks that the recovered
// set is exactly the one that the acknowledged writes (plus some of the
// writes cut off by the kill, in some order) produce: no acknowledged write
// lost, nothing else changed, versions accounted for. It repeats this over
// several crashes on the same data dir.
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	bin := buildIrisd(t)
	dir := t.TempDir()
	cycles, writers := 3, 6
	if soak() {
		cycles = 20
	}
	loaded, err := dataset.ParseCSV(bytes.NewReader(data.IrisCSV), "")
	require.NoError(t, err)
	model, err := dataset.NewSnapshot(loaded.Schema, loaded.Samples, dataset.ScaleNone)
	require.NoError(t, err)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: writers}}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 4))
	t.Logf("seed %d", seed)

	var totalAcked, totalUnknown, totalRecoveredUnknown, totalSent int
	for cycle := range cycles {
		d := startDaemon(t, bin, "-data-dir", dir, "-api-key", "crash-test-key")
		st := fetchState(t, client, d.base)
		require.True(t, sameState(model, st), "cycle %d: the server did not start from the recovered state (version %d, want %d)", cycle, st.Version, model.Version())

		l := newLedger()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for g := range writers {
			wrng := rand.New(rand.NewPCG(rng.Uint64(), uint64(g)))
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					r := send(client, d.base, "crash-test-key", randomWrite(wrng, g))
					l.add(r)
					if r.err != nil {
						return // the server is gone
					}
				}
			})
		}
		time.Sleep(time.Duration(300+rng.IntN(700)) * time.Millisecond)
		// On a loaded machine few writes may have finished yet: make sure
		// some did, so that every cycle tests something.
		for end := time.Now().Add(60 * time.Second); l.ackedCount() < 5 && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		d.kill9()
		close(stop)
		wg.Wait()
		client.CloseIdleConnections()
		require.Empty(t, l.errs, "cycle %d", cycle)
		require.NotEmpty(t, l.acked, "cycle %d: no write was acknowledged before the kill", cycle)

		d2 := startDaemon(t, bin, "-data-dir", dir)
		got := fetchState(t, client, d2.base)
		maxAcked := l.maxAcked()
		require.GreaterOrEqual(t, got.Version, maxAcked, "cycle %d: acknowledged version %d lost: recovered only version %d", cycle, maxAcked, got.Version)
		changes := int(got.Version - model.Version())
		require.LessOrEqual(t, changes-len(l.acked), len(l.unknown), "cycle %d: %d versions appeared that no write explains", cycle, changes-len(l.acked))
		next := l.replay(t, model, got)
		require.NotNil(t, next, "cycle %d: no order of the acknowledged writes (and of %d cut-off ones) produces the recovered set at version %d", cycle, len(l.unknown), got.Version)
		t.Logf("cycle %d: %d writes sent, %d acknowledged, all %d recovered; %d cut off by the kill, %d of them had reached the log; version %d -> %d",
			cycle, l.sent, len(l.acked), len(l.acked), len(l.unknown), changes-len(l.acked), model.Version(), got.Version)
		totalSent += l.sent
		totalAcked += len(l.acked)
		totalUnknown += len(l.unknown)
		totalRecoveredUnknown += changes - len(l.acked)
		model = next
		d2.checkNoRace()
		require.NoError(t, d2.cmd.Process.Signal(syscall.SIGTERM))
		require.Equal(t, 0, d2.wait(30*time.Second))
	}
	t.Logf("TOTAL over %d kill -9 cycles: %d writes sent, %d acknowledged, %d acknowledged writes recovered (0 lost); %d cut off, %d of those present after restart",
		cycles, totalSent, totalAcked, totalAcked, totalUnknown, totalRecoveredUnknown)
}
