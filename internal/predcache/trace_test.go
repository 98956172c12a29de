package predcache_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/irisknn/irisknn/internal/httpapi"
	"github.com/irisknn/irisknn/internal/predcache"
)

// A lookup in a traced request is a cache.lookup span under the request's
// span, saying whether it hit; an untraced request makes no span at all.
func TestLookupsAreSpansOfTracedRequestsOnly(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	otel.SetTracerProvider(tp)

	c := predcache.New(httpapi.PredictorFunc(func(ctx context.Context, req httpapi.PredictRequest) (httpapi.PredictAnswer, error) {
		return httpapi.PredictAnswer{Body: []byte(`{}`)}, nil
	}), predcache.Options{MaxBytes: 1 << 20, MinWork: 1})
	req := httpapi.PredictRequest{Snapshot: newStore(t).Snapshot(), Features: []float64{1, 2, 3, 4}}

	_, err := c.Predict(context.Background(), req)
	require.NoError(t, err)
	assert.Empty(t, rec.Ended(), "no span for an untraced request")

	ctx, parent := tp.Tracer("test").Start(context.Background(), "POST /predict")
	// Another query, not cached yet: a miss, then a hit.
	req.Features = []float64{5, 6, 7, 8}
	for range 2 {
		_, err := c.Predict(ctx, req)
		require.NoError(t, err)
	}
	parent.End()
	var hits []bool
	for _, s := range rec.Ended() {
		if s.Name() != "cache.lookup" {
			continue
		}
		assert.Equal(t, parent.SpanContext().SpanID(), s.Parent().SpanID(), "a child of the request's span")
		attrs := attribute.NewSet(s.Attributes()...)
		layer, _ := attrs.Value("cache.layer")
		assert.Equal(t, "lru", layer.AsString())
		hit, ok := attrs.Value("cache.hit")
		require.True(t, ok)
		hits = append(hits, hit.AsBool())
	}
	assert.Equal(t, []bool{false, true}, hits)
}
