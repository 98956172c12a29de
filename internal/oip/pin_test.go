package oip_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/knn"
)

// expectedRows predicts rows on snap directly, with the server's default
// settings: what any protocol must answer from that version.
func expectedRows(t testing.TB, snap *dataset.Snapshot, rows [][]float64) []row {
	q := knn.Query{K: 5, Metric: knn.Euclidean, Weights: knn.Uniform}
	fs := rows
	out := make([]knn.Prediction, len(rows))
	require.NoError(t, snap.PredictBatch(context.Background(), out, fs, q))
	rs := make([]row, len(rows))
	for i, p := range out {
		r := row{Label: snap.Classes()[p.Class], Probs: append([]float64(nil), p.Probabilities...), Tie: p.Tie}
		for _, n := range p.Neighbors {
			r.IDs = append(r.IDs, n.ID)
			r.Dists = append(r.Dists, n.Distance)
		}
		rs[i] = r
	}
	return rs
}

// TestPinnedVersionsUnderConcurrentWrites writes to the set while readers
// ask REST, gRPC and POST /predict for pinned versions: every answer is
// exactly the one computed on that version's snapshot when it was
// current, or (evicted meanwhile) a 404 naming the oldest kept version.
func TestPinnedVersionsUnderConcurrentWrites(t *testing.T) {
	const keep = 4
	st := newStack(t, keep)
	rows := testRows(6)
	writes := 120
	if testing.Short() {
		writes = 40
	}

	var (
		mu       sync.Mutex
		expected = map[uint64][]row{1: expectedRows(t, st.store.Snapshot(), rows)}
		latest   atomic.Uint64
		reads    atomic.Int64
	)
	latest.Store(1)
	done := make(chan struct{})
	go func() { // the writer: new samples right where the test rows are
		defer close(done)
		rng := rand.New(rand.NewPCG(1, 2))
		species := []string{"setosa", "versicolor", "virginica"}
		var created []int64
		for i := range writes {
			// Let the readers keep up (a few reads per write), within bounds.
			for wait := 0; reads.Load() < int64(4*i) && wait < 2000; wait++ {
				time.Sleep(50 * time.Microsecond)
			}
			r := rows[i%len(rows)]
			f := []float64{r[0] + rng.Float64()*0.1, r[1], r[2] + rng.Float64()*0.1, r[3]}
			var snap *dataset.Snapshot
			var err error
			if i%5 == 4 {
				snap, err = st.store.Delete(context.Background(), created[0], dataset.Precondition{})
				created = created[1:]
			} else {
				var x dataset.Sample
				x, snap, err = st.store.Create(context.Background(), validOf(t, st.store, f, species[rng.IntN(3)]))
				created = append(created, x.ID)
			}
			if err != nil {
				t.Errorf("write %d: %v", i, err)
				return
			}
			exp := expectedRows(t, snap, rows)
			mu.Lock()
			expected[snap.Version()] = exp
			mu.Unlock()
			latest.Store(snap.Version())
		}
	}()

	var checked, evicted atomic.Int64
	var wg sync.WaitGroup
	for reader := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(reader), 9))
			for {
				select {
				case <-done:
					return
				default:
				}
				reads.Add(1)
				cur := latest.Load()
				v := cur - uint64(rng.IntN(keep+2)) // sometimes just evicted
				if v < 1 || v > cur {
					v = cur
				}
				mu.Lock()
				want := expected[v]
				mu.Unlock()
				s := settings{Version: &v}
				var got []row
				var notFound string
				switch reader {
				case 0:
					var code int
					got, _, code, notFound = st.infer(t, rows, s, restReq{datatype: "FP64", binaryOut: true})
					if code != http.StatusOK {
						require.Equal(t, http.StatusNotFound, code, notFound)
					}
				case 1:
					var err error
					got, _, err = st.grpcInfer(t, rows, s, grpcReq{datatype: "FP64", raw: true})
					if err != nil {
						require.Equal(t, codes.NotFound, status.Code(err), "%v", err)
						notFound = status.Convert(err).Message()
					}
				case 2:
					var code int
					got, code, notFound = st.predict(t, rows, s)
					if code != http.StatusOK {
						require.Equal(t, http.StatusNotFound, code, notFound)
					}
				}
				if got == nil {
					// Evicted: the message names an oldest kept version
					// above v.
					_, rest, ok := strings.Cut(notFound, "the oldest kept version is ")
					require.True(t, ok, notFound)
					oldest, err := strconv.ParseUint(strings.Fields(rest)[0], 10, 64)
					require.NoError(t, err)
					assert.Greater(t, oldest, v, notFound)
					evicted.Add(1)
					continue
				}
				require.Equal(t, want, withoutNovelty(got), fmt.Sprintf("reader %d, version %d", reader, v))
				checked.Add(1)
			}
		})
	}
	wg.Wait()
	<-done
	t.Logf("%d pinned answers checked, %d evicted versions refused", checked.Load(), evicted.Load())
	assert.Positive(t, checked.Load())
	// After the writes, every kept version still answers as it did.
	for _, v := range st.store.Versions() {
		s := settings{Version: &v}
		got, _, code, msg := st.infer(t, rows, s, restReq{datatype: "FP64"})
		require.Equal(t, http.StatusOK, code, msg)
		assert.Equal(t, expected[v], withoutNovelty(got), "version %d", v)
	}
	assert.Len(t, st.store.Versions(), keep)
}

// withoutNovelty drops the novelty of rows: a pinned version's novelty is
// set against the newest training set's distances (novelty.Tracker), so it
// is the one output that does not stay as it was.
func withoutNovelty(rs []row) []row {
	out := slices.Clone(rs)
	for i := range out {
		out[i].Novelty = 0
	}
	return out
}
