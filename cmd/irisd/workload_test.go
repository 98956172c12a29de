package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/irisknn/irisknn/internal/dataset"
)

var species = []string{"setosa", "versicolor", "virginica"}

// writeReq is one write a test client sends.
type writeReq struct {
	Op       dataset.Op
	Post     bool  // OpPut through POST /samples (the server picks the id)
	ID       int64 // PUT and DELETE
	Features []float64
	Species  string
}

// randomWrite picks a write: PUTs (creating and replacing), POSTs, DELETEs
// (some of ids that may be gone: 404) and the occasional reset.
func randomWrite(rng *rand.Rand, g int) writeReq {
	f := []float64{rng.Float64() * 8, rng.Float64() * 5, rng.Float64() * 7, rng.Float64() * 3}
	sp := species[rng.IntN(len(species))]
	id := int64(1 + rng.IntN(150))
	if rng.IntN(2) == 0 {
		id = int64(10000 + g*1000 + rng.IntN(50)) // this client's own ids
	}
	switch p := rng.IntN(100); {
	case p < 40:
		return writeReq{Op: dataset.OpPut, ID: id, Features: f, Species: sp}
	case p < 70:
		return writeReq{Op: dataset.OpPut, Post: true, Features: f, Species: sp}
	case p < 97:
		return writeReq{Op: dataset.OpDelete, ID: id}
	default:
		return writeReq{Op: dataset.OpReset}
	}
}

// writeResult is what a write got back.
type writeResult struct {
	req     writeReq
	status  int
	version uint64 // X-Dataset-Version of a 2xx
	id      int64  // the id a POST was given
	err     error  // a transport error: the outcome is unknown
}

func (w writeResult) ok() bool { return w.err == nil && w.status >= 200 && w.status < 300 }

// send performs w against base, with key as the bearer token when set.
func send(c *http.Client, base, key string, w writeReq) writeResult {
	var (
		method, path string
		body         []byte
	)
	sample := func() []byte {
		b, _ := json.Marshal(map[string]any{"features": w.Features, "species": w.Species})
		return b
	}
	switch {
	case w.Op == dataset.OpPut && w.Post:
		method, path, body = http.MethodPost, "/samples", sample()
	case w.Op == dataset.OpPut:
		method, path, body = http.MethodPut, fmt.Sprintf("/samples/%d", w.ID), sample()
	case w.Op == dataset.OpDelete:
		method, path = http.MethodDelete, fmt.Sprintf("/samples/%d", w.ID)
	default:
		method, path = http.MethodPost, "/dataset/reset"
	}
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		return writeResult{req: w, err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := c.Do(req)
	if err != nil {
		return writeResult{req: w, err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return writeResult{req: w, err: err}
	}
	res := writeResult{req: w, status: resp.StatusCode}
	if res.ok() {
		res.version, err = strconv.ParseUint(resp.Header.Get("X-Dataset-Version"), 10, 64)
		if err != nil {
			res.err = fmt.Errorf("2xx without a valid X-Dataset-Version: %w", err)
			res.status = 0
			return res
		}
		if w.Post {
			var s sampleWire
			if err := json.Unmarshal(b, &s); err != nil {
				res.err = fmt.Errorf("POST answer: %w", err)
				res.status = 0
			}
			res.id = s.ID
		}
	}
	return res
}

// change returns the change w makes when applied to cur (the server picks
// cur.NextID() for a POST), or false when it makes none (a delete of a
// missing id).
func (w writeReq) change(cur *dataset.Snapshot) (dataset.Change, bool) {
	c := dataset.Change{Version: cur.Version() + 1, Op: w.Op}
	switch w.Op {
	case dataset.OpPut:
		id := w.ID
		if w.Post {
			id = cur.NextID()
		}
		c.Sample = dataset.Sample{ID: id, Features: w.Features[:], Label: w.Species}
	case dataset.OpDelete:
		if _, ok := cur.Get(w.ID); !ok {
			return c, false
		}
		c.ID = w.ID
	}
	return c, true
}

// ledger collects acknowledged writes by the version they produced, and
// writes whose outcome is unknown (cut off by a crash).
type ledger struct {
	mu      sync.Mutex
	acked   map[uint64]writeResult
	unknown []writeReq
	sent    int
	errs    []string // impossible answers
}

func newLedger() *ledger { return &ledger{acked: map[uint64]writeResult{}} }

func (l *ledger) add(r writeResult) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent++
	switch {
	case r.err != nil:
		l.unknown = append(l.unknown, r.req)
	case r.ok():
		if prev, dup := l.acked[r.version]; dup {
			l.errs = append(l.errs, fmt.Sprintf("two writes acknowledged with version %d: %+v and %+v", r.version, prev.req, r.req))
		}
		l.acked[r.version] = r
	case r.status == http.StatusNotFound && r.req.Op == dataset.OpDelete:
		// a delete of an id that is gone: no change
	default:
		l.errs = append(l.errs, fmt.Sprintf("unexpected status %d for %+v", r.status, r.req))
	}
}

// ackedCount returns the number of acknowledged writes so far.
func (l *ledger) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// maxAcked returns the largest acknowledged version.
func (l *ledger) maxAcked() uint64 {
	var m uint64
	for v := range l.acked {
		m = max(m, v)
	}
	return m
}

// replay searches for the history that explains the server's state: from
// cur it applies the acknowledged change of each version up to want.Version
// and, for a version no answer acknowledged, one of the unknown writes.
// It returns the snapshot equal to want, or nil when no history explains
// it. t gets an error for an acknowledged POST whose id was not the next id.
func (l *ledger) replay(t *testing.T, cur *dataset.Snapshot, want serverState) *dataset.Snapshot {
	used := make([]bool, len(l.unknown))
	var walk func(cur *dataset.Snapshot) *dataset.Snapshot
	walk = func(cur *dataset.Snapshot) *dataset.Snapshot {
		if cur.Version() == want.Version {
			if sameState(cur, want) {
				return cur
			}
			return nil
		}
		if r, ok := l.acked[cur.Version()+1]; ok {
			c, ok := r.req.change(cur)
			if !ok {
				return nil
			}
			if r.req.Post && c.Sample.ID != r.id {
				return nil // this history does not give the id the server gave
			}
			next, err := cur.Apply(c)
			if err != nil {
				return nil
			}
			return walk(next)
		}
		for i, w := range l.unknown {
			if used[i] {
				continue
			}
			c, ok := w.change(cur)
			if !ok {
				continue
			}
			next, err := cur.Apply(c)
			if err != nil {
				continue
			}
			used[i] = true
			if s := walk(next); s != nil {
				return s
			}
			used[i] = false
		}
		return nil
	}
	return walk(cur)
}

func sameState(s *dataset.Snapshot, want serverState) bool {
	if s.Version() != want.Version || s.NextID() != want.NextID || s.Len() != len(want.Samples) {
		return false
	}
	var got []sampleWire
	s.All(func(x dataset.Sample) bool {
		got = append(got, sampleWire{ID: x.ID, Features: [4]float64(x.Features), Species: x.Label})
		return true
	})
	return slices.Equal(got, want.Samples)
}
