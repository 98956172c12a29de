package dataset

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/irisknn/irisknn/internal/knn"
)

// BenchmarkPredictBatch10k is one 10,000-row batch (the largest a request
// may send) on 150 samples, unscaled and standard-scaled, with its
// allocations: a batch should allocate per batch, never per row. Each
// answer is checked against Predict first.
func BenchmarkPredictBatch10k(b *testing.B) {
	const n = 10000
	rng := rand.New(rand.NewPCG(3, 4))
	samples := randomSamples(rng, 150)
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = samples[rng.IntN(len(samples))].Features
	}
	q := knn.Query{K: 5, Metric: knn.Euclidean, Weights: knn.Uniform}
	for _, c := range []struct {
		name  string
		scale ScaleKind
	}{{"unscaled", ScaleNone}, {"standard", ScaleStandard}} {
		b.Run(c.name, func(b *testing.B) {
			snap, err := NewSnapshot(IrisSchema(), samples, c.scale)
			if err != nil {
				b.Fatal(err)
			}
			out := make([]knn.Prediction, n)
			if err := snap.PredictBatch(context.Background(), out, rows, q); err != nil {
				b.Fatal(err)
			}
			var want knn.Prediction
			for i := range 100 {
				if err := snap.Predict(&want, rows[i], q); err != nil {
					b.Fatal(err)
				}
				if want.Class != out[i].Class || want.Neighbors[0] != out[i].Neighbors[0] {
					b.Fatalf("row %d: batch %+v, single %+v", i, out[i], want)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := snap.PredictBatch(context.Background(), out, rows, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
