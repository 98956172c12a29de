package dataset

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var benchSnapshots = map[int]*Snapshot{}

func benchSnapshot(b *testing.B, n int) *Snapshot {
	if s, ok := benchSnapshots[n]; ok {
		return s
	}
	s, err := NewSnapshot(IrisSchema(), randomSamples(rand.New(rand.NewPCG(1, 2)), n), ScaleNone)
	if err != nil {
		b.Fatal(err)
	}
	benchSnapshots[n] = s
	return s
}

// BenchmarkSnapshotApply is the write path of the store: one Apply (a new
// immutable version) per insert, replace or delete; it reports p50 and p99.
func BenchmarkSnapshotApply(b *testing.B) {
	sizes := []int{150, 1_000_000}
	if testing.Short() {
		sizes = sizes[:1]
	}
	for _, n := range sizes {
		for _, op := range []string{"insert", "replace", "delete"} {
			b.Run(fmt.Sprintf("n=%d/%s", n, op), func(b *testing.B) {
				s := benchSnapshot(b, n)
				rng := rand.New(rand.NewPCG(3, 3))
				ds := make([]time.Duration, 0, 1<<20)
				next := func() Change {
					c := Change{Version: s.Version() + 1, Op: OpPut}
					switch op {
					case "insert":
						c.Sample = Sample{ID: s.NextID(), Label: testSpecies[rng.IntN(3)], Features: []float64{rng.Float64(), 1, 2, 3}}
					case "replace":
						c.Sample = Sample{ID: 1 + rng.Int64N(int64(n)), Label: testSpecies[rng.IntN(3)], Features: []float64{rng.Float64(), 1, 2, 3}}
					default:
						c.Op, c.ID = OpDelete, 1+rng.Int64N(s.NextID()-1)
					}
					return c
				}
				// Check: a write is visible in the version it makes.
				c := next()
				v, err := s.Apply(c)
				if err != nil || (c.Op == OpPut && !slices.Equal(mustGet(v, c.Sample.ID).Features, c.Sample.Features)) {
					b.Fatalf("write not visible: %v", err)
				}
				b.ReportAllocs()
				for b.Loop() {
					c := next()
					if c.Op == OpDelete && !s.cur.search.Has(c.ID) || s.Len() < 2 {
						continue
					}
					t0 := time.Now()
					v, err := s.Apply(c)
					ds = append(ds, time.Since(t0))
					if err != nil {
						b.Fatal(err)
					}
					s = v
				}
				s.cur.search.WaitRebuild()
				if len(ds) > 0 {
					slices.Sort(ds)
					b.ReportMetric(float64(ds[len(ds)/2].Nanoseconds()), "p50-ns")
					b.ReportMetric(float64(ds[len(ds)*99/100].Nanoseconds()), "p99-ns")
				}
			})
		}
	}
}

func mustGet(s *Snapshot, id int64) Sample {
	x, _ := s.Get(id)
	return x
}
