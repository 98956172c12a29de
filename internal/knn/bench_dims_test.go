package knn

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// uniformPoints returns n uniform random points in [0, 1)^dim, row-major.
func uniformPoints(n, dim int, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, uint64(dim)))
	pts := make([]float64, n*dim)
	for i := range pts {
		pts[i] = rng.Float64()
	}
	return pts
}

// BenchmarkCrossover times, on uniform data, a tree descent and a scan of
// every row of the same tree, and reports the descent's work (rows plus
// boxes, per row of the set): how treeWorkMax was chosen.
func BenchmarkCrossover(b *testing.B) {
	for _, dim := range []int{8, 13, 16, 20, 30, 64} {
		for _, n := range []int{150, 1000, 3000, 10_000, 100_000} {
			pts := uniformPoints(n, dim, 1)
			ids := make([]int64, n)
			labels := make([]uint8, n)
			for i := range ids {
				ids[i] = int64(i + 1)
			}
			t := buildTree(dim, ids, pts, labels)
			qs := uniformPoints(256, dim, 2)
			var buf [5]Neighbor
			work := 0
			for i := range 256 {
				h := newTopK(buf[:0], 5)
				work += t.descend(&h, qs[i*dim:(i+1)*dim], 5, Euclidean, nil, 0, math.MaxInt)
			}
			for _, mode := range []string{"tree", "scan"} {
				b.Run(fmt.Sprintf("dim=%d/n=%d/%s", dim, n, mode), func(b *testing.B) {
					i := 0
					stop := startCPU(b)
					for b.Loop() {
						q := qs[(i&255)*dim : (i&255+1)*dim]
						h := newTopK(buf[:0], 5)
						if mode == "tree" {
							t.descend(&h, q, 5, Euclidean, nil, 0, math.MaxInt)
						} else {
							t.scan(&h, 0, n, q, 5, Euclidean, nil, 0)
						}
						i++
					}
					stop()
					b.ReportMetric(float64(work)/256/float64(n), "work/row")
					b.ReportMetric(t.probeWork(math.Inf(1)), "probe-work/row")
					if t.scanAll {
						b.ReportMetric(1, "scanAll")
					} else {
						b.ReportMetric(0, "scanAll")
					}
				})
			}
		}
	}
}

// shapeSizes are the set sizes of BenchmarkShapes; -short stops at 10k.
func shapeSizes() []int {
	if testing.Short() {
		return []int{150, 10_000}
	}
	return []int{150, 10_000, 100_000, 1_000_000}
}

// shapeQueries is the number of distinct queries of BenchmarkShapes.
const shapeQueries = 1024

// BenchmarkShapes is one k=5 Euclidean search through the Index and by
// brute force (Dataset) on n uniform random points in [0, 1)^d, for the
// dimensions of Iris (4), wine (13), breast cancer (30) and beyond. With
// KNN_SHAPES_DIR set it also writes each set, its queries and the Index's
// answers there (scripts/bench_sklearn.py times scikit-learn on the same
// data and checks that it finds the same neighbours).
func BenchmarkShapes(b *testing.B) {
	dir := os.Getenv("KNN_SHAPES_DIR")
	for _, dim := range []int{4, 8, 13, 30, 64} {
		for _, n := range shapeSizes() {
			pts := uniformPoints(n, dim, 11)
			qs := uniformPoints(shapeQueries, dim, 12)
			ids := make([]int64, n)
			labels := make([]int32, n)
			ilabels := make([]uint8, n)
			for i := range ids {
				ids[i] = int64(i + 1)
				labels[i] = int32(i % 3)
				ilabels[i] = uint8(i % 3)
			}
			brute := &Dataset{dim: dim, points: pts, ids: ids, labels: labels, classes: []string{"a", "b", "c"}}
			ix, err := NewIndexOwned(dim, brute.classes, slices.Clone(ids), slices.Clone(pts), ilabels)
			if err != nil {
				b.Fatal(err)
			}
			query := func(i int) []float64 { return qs[(i%shapeQueries)*dim : (i%shapeQueries+1)*dim] }
			for i := range 16 {
				if want, got := brute.Nearest(nil, query(i), 5, Euclidean), ix.Nearest(nil, query(i), 5, Euclidean); !slices.Equal(want, got) {
					b.Fatalf("d=%d n=%d: the index differs from brute force at query %d: %v vs %v", dim, n, i, got, want)
				}
			}
			if dir != "" {
				writeShape(b, dir, dim, n, pts, qs, ix)
			}
			for _, s := range []struct {
				name   string
				search func([]Neighbor, []float64, int, Metric) []Neighbor
			}{{"index", ix.Nearest}, {"brute", brute.Nearest}} {
				b.Run(fmt.Sprintf("d=%d/n=%d/%s", dim, n, s.name), func(b *testing.B) {
					var buf [5]Neighbor
					b.ReportAllocs()
					i := 0
					stop := startCPU(b)
					for b.Loop() {
						s.search(buf[:0], query(i), 5, Euclidean)
						i++
					}
					stop()
					if s.name == "index" {
						b.ReportMetric(b2f(ix.log.t.scanAll), "scanAll")
					}
				})
			}
		}
	}
}

func b2f(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// writeShape writes, as little-endian float64 rows, the points (id i+1 is
// row i) and queries of one BenchmarkShapes set, and as int64 the ids of
// the 5 nearest neighbours of the first 64 queries, nearest first.
func writeShape(b *testing.B, dir string, dim, n int, pts, qs []float64, ix *Index) {
	base := filepath.Join(dir, fmt.Sprintf("d%d_n%d", dim, n))
	var want []int64
	for i := range 64 {
		for _, nb := range ix.Nearest(nil, qs[i*dim:(i+1)*dim], 5, Euclidean) {
			want = append(want, nb.ID)
		}
	}
	for ext, data := range map[string][]byte{
		".points":  f64bytes(pts),
		".queries": f64bytes(qs),
		".ids":     binary.LittleEndian.AppendUint64(nil, 0)[:0],
	} {
		if ext == ".ids" {
			for _, id := range want {
				data = binary.LittleEndian.AppendUint64(data, uint64(id))
			}
		}
		if err := os.WriteFile(base+ext, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

func f64bytes(v []float64) []byte {
	out := make([]byte, 0, 8*len(v))
	for _, x := range v {
		out = binary.LittleEndian.AppendUint64(out, math.Float64bits(x))
	}
	return out
}
