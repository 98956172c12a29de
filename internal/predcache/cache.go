// Package predcache caches prediction answers: a decorator around an
// [httpapi.Predictor] with two layers, an in-process LRU bounded in bytes and
// an optional shared layer in Redis for the expensive answers, which any
// replica can then serve.
//
// The key is a SHA-256 of the dataset version and the canonical request
// (resolved k, metric and weights, and the rows as float64 bits), so a new
// version of the training set makes every older entry unreachable (the LRU
// evicts them, Redis expires them).
//
// Caching costs something (hashing the request, a lookup, a copy into
// Redis), so a request is only cached when its work, rows x training
// samples, reaches a threshold: a single prediction on the 150 Iris samples
// takes about a microsecond and never goes through the cache.
package predcache

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/irisknn/irisknn/internal/httpapi"
)

// What the X-Cache header says.
const (
	Hit      = "hit"       // from this replica's LRU
	HitRedis = "hit-redis" // from the shared Redis layer
	Miss     = "miss"      // computed, now cached
)

// Options configures a Cache.
type Options struct {
	// MaxBytes bounds the LRU's answers (default 64 MiB).
	MaxBytes int64
	// MinWork is the least rows x training samples for the LRU to be used
	// (default 5,000: a 34-row batch on Iris, or one row on 5,000 samples;
	// below it hashing the request is a noticeable share of the work).
	MinWork int
	// Redis, when set, adds the shared layer.
	Redis redis.UniversalClient
	// RedisMinWork is the least work for the Redis layer, whose round trip
	// and copy cost tens of microseconds plus the answer's size (default
	// 100,000: a 667-row batch on Iris).
	RedisMinWork int
	// RedisTTL is how long Redis keeps an answer (default 10 minutes).
	RedisTTL time.Duration
	// Prefix of the Redis keys (default "irisknn:cache:").
	Prefix string
	// Logger receives Redis errors (the cache then computes); nil discards.
	Logger *slog.Logger
}

// Cache is a caching httpapi.Predictor.
type Cache struct {
	next httpapi.Predictor
	opt  Options
	lru  *lru
}

var _ httpapi.Predictor = (*Cache)(nil)

// New returns next decorated with the cache.
func New(next httpapi.Predictor, opt Options) *Cache {
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 64 << 20
	}
	if opt.MinWork <= 0 {
		opt.MinWork = 5000
	}
	if opt.RedisMinWork <= 0 {
		opt.RedisMinWork = 100000
	}
	if opt.RedisTTL <= 0 {
		opt.RedisTTL = 10 * time.Minute
	}
	if opt.Prefix == "" {
		opt.Prefix = "irisknn:cache:"
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Cache{next: next, opt: opt, lru: newLRU(opt.MaxBytes)}
}

// Wrap returns a decorator for httpapi.Config.WrapPredictor.
func Wrap(opt Options) func(httpapi.Predictor) httpapi.Predictor {
	return func(next httpapi.Predictor) httpapi.Predictor { return New(next, opt) }
}

// Predict implements httpapi.Predictor.
func (c *Cache) Predict(ctx context.Context, req httpapi.PredictRequest) (httpapi.PredictAnswer, error) {
	work := req.Rows() * req.Snapshot.Len()
	if work < c.opt.MinWork {
		return c.next.Predict(ctx, req)
	}
	k := Key(&req)
	if b, ok := c.lru.get(k); ok {
		return httpapi.PredictAnswer{Body: b, Cache: Hit}, nil
	}
	shared := c.opt.Redis != nil && work >= c.opt.RedisMinWork
	rkey := c.opt.Prefix + hex.EncodeToString(k[:])
	if shared {
		b, err := c.opt.Redis.Get(ctx, rkey).Bytes()
		switch {
		case err == nil:
			c.lru.add(k, b)
			return httpapi.PredictAnswer{Body: b, Cache: HitRedis}, nil
		case err != redis.Nil:
			c.opt.Logger.Warn("predcache: redis get failed", "error", err.Error())
		}
	}
	a, err := c.next.Predict(ctx, req)
	if err != nil {
		return a, err
	}
	c.lru.add(k, a.Body)
	if shared {
		if err := c.opt.Redis.Set(ctx, rkey, a.Body, c.opt.RedisTTL).Err(); err != nil {
			c.opt.Logger.Warn("predcache: redis set failed", "error", err.Error())
		}
	}
	a.Cache = Miss
	return a, nil
}

// Key returns the cache key of a request: a hash of the dataset version and
// the canonical request.
func Key(req *httpapi.PredictRequest) [sha256.Size]byte {
	h := sha256.New()
	var b [8 * 4]byte
	binary.LittleEndian.PutUint64(b[0:], req.Snapshot.Version())
	binary.LittleEndian.PutUint64(b[8:], uint64(req.Query.K))
	b[16], b[17] = byte(req.Query.Metric), byte(req.Query.Weights)
	if req.Batch {
		b[18] = 1
	}
	h.Write(b[:24])
	row := func(f []float64) {
		for _, v := range f {
			binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
			h.Write(b[:8])
		}
	}
	if req.Batch {
		for _, f := range req.Instances {
			row(f)
		}
	} else {
		row(req.Features)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// lru is a least-recently-used map of answers bounded by their total size.
type lru struct {
	mu    sync.Mutex
	max   int64
	size  int64
	order *list.List // front: most recent; values are *entry
	items map[[sha256.Size]byte]*list.Element
}

type entry struct {
	key  [sha256.Size]byte
	body []byte
}

func newLRU(maxBytes int64) *lru {
	return &lru{max: maxBytes, order: list.New(), items: map[[sha256.Size]byte]*list.Element{}}
}

func (l *lru) get(k [sha256.Size]byte) ([]byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.items[k]
	if !ok {
		return nil, false
	}
	l.order.MoveToFront(e)
	return e.Value.(*entry).body, true
}

func (l *lru) add(k [sha256.Size]byte, body []byte) {
	n := int64(len(body))
	if n > l.max/4 { // one answer may not flush most of the cache
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.items[k]; ok {
		l.order.MoveToFront(e)
		return
	}
	l.items[k] = l.order.PushFront(&entry{key: k, body: body})
	l.size += n
	for l.size > l.max {
		e := l.order.Back()
		old := e.Value.(*entry)
		l.order.Remove(e)
		delete(l.items, old.key)
		l.size -= int64(len(old.body))
	}
}

// Len returns the number of answers in the LRU.
func (c *Cache) Len() int {
	c.lru.mu.Lock()
	defer c.lru.mu.Unlock()
	return len(c.lru.items)
}
