package knn

import (
	"math/rand/v2"
	"testing"
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
