package predcache_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/irisknn/irisknn/internal/httpapi"
	"github.com/irisknn/irisknn/internal/knn"

	"github.com/irisknn/irisknn/internal/predcache"
	"github.com/irisknn/irisknn/internal/redistest"
)

// BenchmarkPredict measures a whole POST /predict (decode, compute or look
// up, write) without a cache, and with the cache on a hit. Run with
// -bench Predict -benchtime 2000x; compare within one run.
func BenchmarkPredict(b *testing.B) {
	store := newStore(b)
	var redisOpt predcache.Options
	if redistest.Binary() != "" {
		redisOpt = predcache.Options{Redis: redistest.Start(b).Client(b), MinWork: 1, RedisMinWork: 1}
	}
	cases := []struct {
		name string
		body string
	}{
		{"single", `{"features":[5.1,3.5,1.4,0.2]}`},
		{"batch100", batchBody(100, 5)},
		{"batch1000", batchBody(1000, 5)},
		{"batch10000", batchBody(10000, 5)},
	}
	for _, c := range cases {
		run := func(name string, h http.Handler, want string) {
			b.Run(c.name+"/"+name, func(b *testing.B) {
				post(h, c.body) // warm the caches
				b.ReportAllocs()
				for b.Loop() {
					w := post(h, c.body)
					if w.Code != http.StatusOK || w.Header().Get("X-Cache") != want {
						b.Fatalf("status %d, X-Cache %q, want %q", w.Code, w.Header().Get("X-Cache"), want)
					}
				}
			})
		}
		run("nocache", server(store, nil), "")
		// Forced through the LRU (MinWork 1), to see what a hit costs.
		run("lru-hit", server(store, predcache.Wrap(predcache.Options{MinWork: 1})), predcache.Hit)
		run("default", server(store, predcache.Wrap(predcache.Options{})), map[bool]string{true: predcache.Hit, false: ""}[c.name != "single"])
		if redisOpt.Redis != nil {
			// Every request a Redis hit: a fresh LRU-less path is simulated
			// by an LRU too small to keep anything.
			o := redisOpt
			o.MaxBytes = 1
			run("redis-hit", server(store, predcache.Wrap(o)), predcache.HitRedis)
		}
	}
}

// BenchmarkLayer isolates the cache from HTTP: the computation alone (a
// prediction, without encoding) against a cache hit and a cache miss (a new
// key each time: hash + lookup + insert + computation) for a single row and
// a 1,000-row batch on Iris.
func BenchmarkLayer(b *testing.B) {
	snap := newStore(b).Snapshot()
	q := knn.Query{K: 5}
	compute := httpapi.PredictorFunc(func(ctx context.Context, req httpapi.PredictRequest) (httpapi.PredictAnswer, error) {
		if !req.Batch {
			var pr knn.Prediction
			return httpapi.PredictAnswer{Body: []byte{}}, snap.Predict(&pr, req.Features, req.Query)
		}
		out := make([]knn.Prediction, len(req.Instances))
		return httpapi.PredictAnswer{Body: []byte{}}, snap.PredictBatch(ctx, out, req.Instances, req.Query)
	})
	rows := make([][]float64, 1000)
	for i := range rows {
		rows[i] = []float64{4 + float64(i%40)/10, 3, 1 + float64(i%60)/10, float64(i%25) / 10}
	}
	for _, c := range []struct {
		name string
		req  httpapi.PredictRequest
	}{
		{"single", httpapi.PredictRequest{Snapshot: snap, Query: q, Features: rows[7]}},
		{"batch1000", httpapi.PredictRequest{Snapshot: snap, Query: q, Instances: rows, Batch: true}},
	} {
		ctx := context.Background()
		b.Run(c.name+"/compute", func(b *testing.B) {
			for b.Loop() {
				compute.Predict(ctx, c.req)
			}
		})
		b.Run(c.name+"/hit", func(b *testing.B) {
			cache := predcache.New(compute, predcache.Options{MinWork: 1})
			cache.Predict(ctx, c.req)
			for b.Loop() {
				if a, _ := cache.Predict(ctx, c.req); a.Cache != predcache.Hit {
					b.Fatal(a.Cache)
				}
			}
		})
		b.Run(c.name+"/miss", func(b *testing.B) {
			cache := predcache.New(compute, predcache.Options{MinWork: 1})
			req := c.req
			req.Instances = slices.Clone(req.Instances)
			req.Features = slices.Clone(req.Features)
			if req.Batch {
				req.Instances[0] = slices.Clone(req.Instances[0])
			}
			i := 0.0
			for b.Loop() {
				i++ // a new request each time
				if req.Batch {
					req.Instances[0][0] = i
				} else {
					req.Features[0] = i
				}
				if a, _ := cache.Predict(ctx, req); a.Cache != predcache.Miss {
					b.Fatal(a.Cache)
				}
			}
		})
		b.Run(c.name+"/default", func(b *testing.B) {
			cache := predcache.New(compute, predcache.Options{})
			for b.Loop() {
				cache.Predict(ctx, c.req)
			}
		})
	}
}
