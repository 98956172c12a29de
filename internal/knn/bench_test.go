package knn

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// randomDataset returns n uniform random 4-d points in 3 classes.
func randomDataset(tb testing.TB, n int, seed uint64) *Dataset {
	rng := rand.New(rand.NewPCG(seed, seed))
	d := NewDataset(4, []string{"a", "b", "c"})
	d.Grow(n)
	p := make([]float64, 4)
	for i := range n {
		for j := range p {
			p[j] = rng.Float64() * 10
		}
		if err := d.Add(int64(i+1), p, rng.IntN(3)); err != nil {
			tb.Fatal(err)
		}
	}
	return d
}

// indexOf builds an Index over the points of d.
func indexOf(tb testing.TB, d *Dataset) *Index {
	labels := make([]int, len(d.labels))
	for i, l := range d.labels {
		labels[i] = int(l)
	}
	ix, err := NewIndex(d.dim, d.classes, d.ids, d.points, labels)
	if err != nil {
		tb.Fatal(err)
	}
	return ix
}

// benchSizes are the sizes of the index benchmarks; 1M is skipped in
// -short mode.
func benchSizes() []int {
	if testing.Short() {
		return []int{150, 10_000}
	}
	return []int{150, 10_000, 100_000, 1_000_000}
}

// fixtures caches datasets and indexes across benchmarks (building 1M
// points takes a while).
var fixtures = map[int]struct {
	d  *Dataset
	ix *Index
}{}

func fixture(b *testing.B, n int) (*Dataset, *Index) {
	f, ok := fixtures[n]
	if !ok {
		f.d = randomDataset(b, n, 7)
		f.ix = indexOf(b, f.d)
		fixtures[n] = f
	}
	return f.d, f.ix
}

func queries(n int, seed uint64) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, 3))
	qs := make([][]float64, n)
	for i := range qs {
		qs[i] = []float64{rng.Float64() * 10, rng.Float64() * 10, rng.Float64() * 10, rng.Float64() * 10}
	}
	return qs
}

// checkIndex fails the benchmark unless ix answers qs like brute force.
func checkIndex(b *testing.B, d *Dataset, ix *Index, qs [][]float64, m Metric) {
	for _, q := range qs[:min(len(qs), 20)] {
		want, got := d.Nearest(nil, q, 5, m), ix.Nearest(nil, q, 5, m)
		if !slices.Equal(want, got) {
			b.Fatalf("index differs from brute force at %v: %v vs %v", q, got, want)
		}
	}
}

// BenchmarkPredict is one prediction (k=5) by brute force.
func BenchmarkPredict(b *testing.B) {
	for _, m := range []Metric{Euclidean, Manhattan} {
		b.Run("n=150/"+m.String(), func(b *testing.B) {
			d := randomDataset(b, 150, 7)
			q := []float64{5.1, 3.5, 1.4, 0.2}
			var pr Prediction
			if err := d.PredictInto(&pr, q, Query{K: 5, Metric: m}); err != nil || len(pr.Neighbors) != 5 {
				b.Fatalf("bad prediction: %v %v", err, pr)
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = d.PredictInto(&pr, q, Query{K: 5, Metric: m})
			}
		})
	}
}

// BenchmarkIndexPredict is one prediction (k=5) through the live index.
func BenchmarkIndexPredict(b *testing.B) {
	for _, n := range benchSizes() {
		for _, m := range []Metric{Euclidean, Manhattan} {
			b.Run(fmt.Sprintf("n=%d/%v", n, m), func(b *testing.B) {
				d, ix := fixture(b, n)
				qs := queries(1024, 1)
				checkIndex(b, d, ix, qs, m)
				var pr Prediction
				b.ReportAllocs()
				i := 0
				stop := startCPU(b)
				for b.Loop() {
					_ = ix.PredictInto(&pr, qs[i&1023], Query{K: 5, Metric: m})
					i++
				}
				stop()
			})
		}
	}
}

// BenchmarkIndexPredictDelta is one prediction with a full delta log
// (DeltaLimit-1 writes pending), the slowest a query gets between rebuilds.
func BenchmarkIndexPredictDelta(b *testing.B) {
	for _, n := range benchSizes()[1:] {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			d, ix := fixture(b, n)
			rng := rand.New(rand.NewPCG(9, 9))
			d = d.clone()
			for i := range DeltaLimit - 1 {
				p := []float64{rng.Float64() * 10, rng.Float64() * 10, rng.Float64() * 10, rng.Float64() * 10}
				id := int64(n + 1 + i)
				if i%2 == 0 {
					id = int64(1 + rng.IntN(n)) // a replacement
				}
				ix, _, _ = ix.Put(id, p, 0)
				d.set(id, p, 0)
			}
			if ix.Pending() != DeltaLimit-1 {
				b.Fatalf("pending %d", ix.Pending())
			}
			qs := queries(1024, 1)
			checkIndex(b, d, ix, qs, Euclidean)
			var pr Prediction
			b.ReportAllocs()
			i := 0
			stop := startCPU(b)
			for b.Loop() {
				_ = ix.PredictInto(&pr, qs[i&1023], Query{K: 5})
				i++
			}
			stop()
		})
	}
}

// clone and set let the benchmarks keep a brute-force twin of an index.
func (d *Dataset) clone() *Dataset {
	c := *d
	c.points, c.ids, c.labels = slices.Clone(d.points), slices.Clone(d.ids), slices.Clone(d.labels)
	return &c
}

func (d *Dataset) set(id int64, p []float64, label int) {
	if i := slices.Index(d.ids, id); i >= 0 {
		copy(d.points[i*d.dim:], p)
		d.labels[i] = int32(label)
		return
	}
	_ = d.Add(id, p, label)
}

// predictBatch predicts every row of qs on all CPUs, as dataset.PredictBatch
// does.
func predictBatch(ix *Index, out []Prediction, qs [][]float64, q Query) {
	order := ix.CacheFriendlyOrder(len(qs), func(i int) []float64 { return qs[i] })
	workers := runtime.GOMAXPROCS(0)
	per := (len(qs) + workers - 1) / workers
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*per, min((w+1)*per, len(qs))
		wg.Go(func() {
			for j := lo; j < hi; j++ {
				i := j
				if order != nil {
					i = int(order[j])
				}
				_ = ix.PredictInto(&out[i], qs[i], q)
			}
		})
	}
	wg.Wait()
}

// BenchmarkIndexBatch is a batch of 10,000 predictions on all CPUs.
func BenchmarkIndexBatch(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			d, ix := fixture(b, n)
			qs := queries(10_000, 2)
			out := make([]Prediction, len(qs))
			predictBatch(ix, out, qs, Query{K: 5})
			for i := range 50 {
				want, _ := d.Predict(qs[i], Query{K: 5})
				if !slices.Equal(want.Neighbors, out[i].Neighbors) {
					b.Fatalf("row %d differs from brute force", i)
				}
			}
			b.ReportAllocs()
			cpu0 := cpuClock(false)
			for b.Loop() {
				predictBatch(ix, out, qs, Query{K: 5})
			}
			cpu := cpuClock(false) - cpu0
			b.ReportMetric(float64(len(qs)*b.N)/b.Elapsed().Seconds(), "rows/s")
			// What all CPUs would do if the machine were not shared.
			b.ReportMetric(float64(len(qs)*b.N)/cpu.Seconds()*float64(runtime.GOMAXPROCS(0)), "rows/cpu-s")
		})
	}
}

// startCPU starts measuring the benchmark goroutine's thread CPU time;
// the returned function reports it per operation as cpu-ns/op.
func startCPU(b *testing.B) func() {
	runtime.LockOSThread()
	t0 := cpuClock(true)
	return func() {
		cpu := cpuClock(true) - t0
		runtime.UnlockOSThread()
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// reportLatency reports the median and 99th percentile of ds.
func reportLatency(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(ds[len(ds)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkIndexInsert inserts new points, one version per write, through
// background rebuilds; it reports the write path's p50 and p99.
func BenchmarkIndexInsert(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			_, ix := fixture(b, n)
			p := []float64{5, 5, 5, 5}
			next, _, err := ix.Put(int64(n+1), p, 1)
			if err != nil || next.Len() != n+1 || next.Nearest(nil, p, 1, Euclidean)[0].ID != int64(n+1) {
				b.Fatalf("insert not visible: %v", err)
			}
			ds := make([]time.Duration, 0, 1<<20)
			rng := rand.New(rand.NewPCG(4, 4))
			id := int64(n + 1)
			b.ReportAllocs()
			for b.Loop() {
				id++
				for j := range p {
					p[j] = rng.Float64() * 10
				}
				t0 := time.Now()
				ix, _, _ = ix.Put(id, p, 1)
				ds = append(ds, time.Since(t0))
			}
			reportLatency(b, ds)
			ix.WaitRebuild()
		})
	}
}

// BenchmarkIndexDelete deletes existing points, one version per write.
func BenchmarkIndexDelete(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			_, orig := fixture(b, n)
			if next, old := orig.Delete(1); old < 0 || next.Has(1) || next.Len() != n-1 {
				b.Fatal("delete not visible")
			}
			ids := rand.New(rand.NewPCG(5, 5)).Perm(n)
			ds := make([]time.Duration, 0, 1<<20)
			ix, i := orig, 0
			b.ReportAllocs()
			for b.Loop() {
				if i == len(ids)-1 { // all but one deleted: start again
					b.StopTimer()
					ix.WaitRebuild()
					ix, i = orig, 0
					b.StartTimer()
				}
				t0 := time.Now()
				ix, _ = ix.Delete(int64(ids[i] + 1))
				ds = append(ds, time.Since(t0))
				i++
			}
			reportLatency(b, ds)
			ix.WaitRebuild()
		})
	}
}

// BenchmarkBuild builds an index over n points; it also reports the heap
// bytes per point the index keeps.
func BenchmarkBuild(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			d, _ := fixture(b, n)
			labels := make([]int, n)
			for i, l := range d.labels {
				labels[i] = int(l)
			}
			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			ix, err := NewIndex(4, d.classes, d.ids, d.points, labels)
			runtime.GC()
			runtime.ReadMemStats(&ms1)
			if err != nil || ix.Len() != n {
				b.Fatal(err)
			}
			perPoint := float64(ms1.HeapAlloc-ms0.HeapAlloc) / float64(n)
			runtime.KeepAlive(ix)
			cpu0 := cpuClock(false)
			for b.Loop() {
				_, _ = NewIndex(4, d.classes, d.ids, d.points, labels)
			}
			b.ReportMetric(float64((cpuClock(false)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(perPoint, "B/point")
		})
	}
}

// BenchmarkIndexReplace replaces existing points (new coordinates and
// label), one version per write.
func BenchmarkIndexReplace(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			_, ix := fixture(b, n)
			p := []float64{5, 5, 5, 5}
			next, old, err := ix.Put(1, p, 2)
			if err != nil || old < 0 || next.Len() != n || next.Nearest(nil, p, 1, Euclidean)[0].ID != 1 {
				b.Fatalf("replace not visible: %v", err)
			}
			rng := rand.New(rand.NewPCG(6, 6))
			ds := make([]time.Duration, 0, 1<<20)
			b.ReportAllocs()
			for b.Loop() {
				id := int64(1 + rng.IntN(n))
				for j := range p {
					p[j] = rng.Float64() * 10
				}
				t0 := time.Now()
				ix, _, _ = ix.Put(id, p, rng.IntN(3))
				ds = append(ds, time.Since(t0))
			}
			reportLatency(b, ds)
			ix.WaitRebuild()
		})
	}
}

// BenchmarkSmallSearch compares, for small sets, the bound-free scan of
// searchSmall with the bounded tree search (how smallMax was chosen).
func BenchmarkSmallSearch(b *testing.B) {
	for _, n := range []int{150, 256} {
		d := randomDataset(b, n, 7)
		ix := indexOf(b, d)
		qs := queries(1024, 1)
		for _, small := range []bool{false, true} {
			for _, m := range []Metric{Euclidean, Manhattan} {
				b.Run(fmt.Sprintf("n=%d/%v/small=%v", n, m, small), func(b *testing.B) {
					old := smallSearch
					smallSearch = small
					defer func() { smallSearch = old }()
					checkIndex(b, d, ix, qs, m)
					var pr Prediction
					i := 0
					for b.Loop() {
						_ = ix.PredictInto(&pr, qs[i&1023], Query{K: 5, Metric: m})
						i++
					}
				})
			}
		}
	}
}

// BenchmarkSplitBounds compares the split-plane bounds of search4 with
// the box bounds of search at large sizes.
func BenchmarkSplitBounds(b *testing.B) {
	for _, n := range benchSizes()[1:] {
		for _, split := range []bool{false, true} {
			for _, m := range []Metric{Euclidean, Manhattan} {
				b.Run(fmt.Sprintf("n=%d/%v/split=%v", n, m, split), func(b *testing.B) {
					d, ix := fixture(b, n)
					old := splitBounds
					splitBounds = split
					defer func() { splitBounds = old }()
					qs := queries(1024, 1)
					checkIndex(b, d, ix, qs, m)
					var pr Prediction
					i := 0
					for b.Loop() {
						_ = ix.PredictInto(&pr, qs[i&1023], Query{K: 5, Metric: m})
						i++
					}
				})
			}
		}
	}
}
