package predcache_test

import (
	"net/http"
	"testing"

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
