// Package predcache caches prediction answers: a decorator around an
// [httpapi.Predictor] with two layers, an in-process LRU bounded in bytes and
// an optional shared layer in Redis for the expensive answers, which any
// replica can then serve.
//
// The key is a SHA-256 of the dataset identity, the dataset version and the
// canonical request (resolved k, metric and weights, and the rows as float64
// bits), so a new version of the training set makes every older entry
// unreachable (the LRU evicts them, Redis expires them), and so does a new
// identity: a database wiped and seeded again starts its versions at 1
// under another identity, and no answer of the previous lifetime matches.
//
// Redis is a cache only: every call has a short timeout (Options.RedisTimeout)
// and a failure, or a timeout, means computing the answer locally. After a
// failure Redis is left alone for a second (Options.RedisBackoff), so a
// paused or dead Redis costs one timeout per second, not one per request.
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
	"errors"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

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
	// Redis, when set, adds the shared layer. Its options must have
	// ContextTimeoutEnabled, or go-redis ignores RedisTimeout.
	Redis redis.UniversalClient
	// RedisMinWork is the least work for the Redis layer, whose round trip
	// and copy cost tens of microseconds plus the answer's size (default
	// 100,000: a 667-row batch on Iris).
	RedisMinWork int
	// RedisTTL is how long Redis keeps an answer (default 10 minutes).
	RedisTTL time.Duration
	// Prefix of the Redis keys (default "irisknn:cache:").
	Prefix string
	// Identity qualifies the dataset version in every key: the shared
	// set's identity, or one of this process's own when its set is not
	// shared. Replicas share Redis entries only when it is equal.
	Identity string
	// RedisTimeout bounds each Redis call (default 50 ms); past it the
	// answer is computed locally.
	RedisTimeout time.Duration
	// RedisBackoff is how long Redis is not asked after a failure
	// (default 1 s).
	RedisBackoff time.Duration
	// Logger receives Redis errors (the cache then computes); nil discards.
	Logger *slog.Logger
}

// Cache is a caching httpapi.Predictor.
type Cache struct {
	next httpapi.Predictor
	opt  Options
	lru  *lru
	// redisAfter is when Redis may be asked again after a failure
	// (UnixNano; 0: now).
	redisAfter atomic.Int64
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
	if opt.RedisTimeout <= 0 {
		opt.RedisTimeout = 50 * time.Millisecond
	}
	if opt.RedisBackoff <= 0 {
		opt.RedisBackoff = time.Second
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

// tracer makes the spans of cache lookups (OpenTelemetry's global provider:
// a no-op unless internal/telemetry installed one).
var tracer = otel.Tracer("github.com/irisknn/irisknn/internal/predcache")

// lookupSpan starts the span of a lookup in layer ("lru" or "redis") as a
// child of the request's span. A request that is not traced (tracing off,
// or not sampled) gets no span at all, not even a no-op one: its options
// and attributes would cost an untraced request allocations (about 3% of
// a cached batch's CPU). End it with endLookup.
func lookupSpan(ctx context.Context, layer string, kind trace.SpanKind) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, nil
	}
	return tracer.Start(ctx, "cache.lookup", trace.WithSpanKind(kind), trace.WithAttributes(attribute.String("cache.layer", layer)))
}

// endLookup ends a lookup's span (if it has one) with whether it hit.
func endLookup(span trace.Span, hit bool) {
	if span != nil {
		span.SetAttributes(attribute.Bool("cache.hit", hit))
		span.End()
	}
}

// Predict implements httpapi.Predictor.
func (c *Cache) Predict(ctx context.Context, req httpapi.PredictRequest) (httpapi.PredictAnswer, error) {
	work := req.Rows() * req.Snapshot.Len()
	if work < c.opt.MinWork {
		return c.next.Predict(ctx, req)
	}
	k := key(&req, c.opt.Identity)
	_, span := lookupSpan(ctx, "lru", trace.SpanKindInternal)
	b, ok := c.lru.get(k)
	endLookup(span, ok)
	if ok {
		if a, ok := decodeAnswer(b); ok {
			a.Cache = Hit
			return a, nil
		}
	}
	shared := c.opt.Redis != nil && work >= c.opt.RedisMinWork && c.redisUsable()
	rkey := c.opt.Prefix + answerFormat + hex.EncodeToString(k[:])
	if shared {
		rctx, cancel := context.WithTimeout(ctx, c.opt.RedisTimeout)
		rctx, span := lookupSpan(rctx, "redis", trace.SpanKindClient)
		b, err := c.opt.Redis.Get(rctx, rkey).Bytes()
		endLookup(span, err == nil)
		cancel()
		switch {
		case err == nil:
			if a, ok := decodeAnswer(b); ok {
				c.lru.add(k, b)
				a.Cache = HitRedis
				return a, nil
			}
		case err != redis.Nil:
			c.redisFailed("get", err)
			shared = false
		}
	}
	a, err := c.next.Predict(ctx, req)
	if err != nil {
		return a, err
	}
	b = encodeAnswer(a)
	c.lru.add(k, b)
	if shared {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opt.RedisTimeout)
		if err := c.opt.Redis.Set(rctx, rkey, b, c.opt.RedisTTL).Err(); err != nil {
			c.redisFailed("set", err)
		}
		cancel()
	}
	a.Cache = Miss
	return a, nil
}

// redisUsable reports whether Redis may be asked (no failure within
// RedisBackoff).
func (c *Cache) redisUsable() bool {
	after := c.redisAfter.Load()
	return after == 0 || time.Now().UnixNano() >= after
}

// redisFailed notes a failed Redis call: the answer is computed locally,
// and Redis is left alone for RedisBackoff.
func (c *Cache) redisFailed(op string, err error) {
	next := time.Now().Add(c.opt.RedisBackoff).UnixNano()
	if old := c.redisAfter.Swap(next); old == 0 || time.Now().UnixNano() >= old {
		c.opt.Logger.Warn("predcache: redis failed; computing locally", "op", op, "error", err.Error(), "retry_after", c.opt.RedisBackoff)
	}
}

// RedisHealth returns nil unless the last Redis call failed within
// RedisBackoff, for readiness ("shared cache").
func (c *Cache) RedisHealth() error {
	if c.redisUsable() {
		return nil
	}
	return errors.New("redis did not answer within " + c.opt.RedisTimeout.String() + "; predictions are computed locally")
}

// answerFormat names the encoding of cached answers in Redis keys, so that
// replicas of another build never read each other's.
const answerFormat = "a2:"

// encodeAnswer encodes an answer for the cache: what the metrics count of
// it (the class of a single prediction, a batch's count per class), then
// the body.
func encodeAnswer(a httpapi.PredictAnswer) []byte {
	b := make([]byte, 0, 8+4*len(a.Counts)+len(a.Body))
	b = binary.LittleEndian.AppendUint32(b, uint32(a.Class))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(a.Counts)))
	for _, n := range a.Counts {
		b = binary.LittleEndian.AppendUint32(b, uint32(n))
	}
	return append(b, a.Body...)
}

// decodeAnswer decodes what encodeAnswer made.
func decodeAnswer(b []byte) (httpapi.PredictAnswer, bool) {
	if len(b) < 8 {
		return httpapi.PredictAnswer{}, false
	}
	a := httpapi.PredictAnswer{Class: int(binary.LittleEndian.Uint32(b))}
	n := int(binary.LittleEndian.Uint32(b[4:]))
	b = b[8:]
	if n > len(b)/4 {
		return httpapi.PredictAnswer{}, false
	}
	if n > 0 {
		a.Counts = make([]int, n)
		for i := range a.Counts {
			a.Counts[i] = int(binary.LittleEndian.Uint32(b[4*i:]))
		}
	}
	a.Body = b[4*n:]
	return a, true
}

// key returns the cache key of a request: a hash of the dataset identity,
// the dataset version and the canonical request.
func key(req *httpapi.PredictRequest, identity string) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(identity)))
	h.Write(n[:])
	h.Write([]byte(identity))
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
