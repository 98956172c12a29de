package telemetry

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/httpapi"
)

// end records err on span and ends it.
func end(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Predictor decorates the computation of predictions with a "knn.search"
// span (rows, k, metric, weights, the training set's version and size).
// Put it inside the cache (it is the cache's next), so that it spans the
// searches that run, not the answers a cache gives.
func Predictor(next httpapi.Predictor) httpapi.Predictor {
	return httpapi.PredictorFunc(func(ctx context.Context, req httpapi.PredictRequest) (httpapi.PredictAnswer, error) {
		ctx, span := Tracer().Start(ctx, "knn.search", trace.WithAttributes(
			attribute.Int("knn.rows", req.Rows()),
			attribute.Int("knn.k", req.Query.K),
			attribute.String("knn.metric", req.Query.Metric.String()),
			attribute.String("knn.weights", req.Query.Weights.String()),
			attribute.Int64("dataset.version", int64(req.Snapshot.Version())),
			attribute.Int("dataset.samples", req.Snapshot.Len()),
		))
		a, err := next.Predict(ctx, req)
		end(span, err)
		return a, err
	})
}

// Store decorates a training-set store with a span per write
// ("store.create", "store.put", "store.delete", "store.reset"), which
// covers the store's own calls: the write-ahead log's append and fsync,
// the Redis script. Reads of the in-memory snapshot get none.
func Store(next dataset.Store) dataset.Store {
	return &store{Store: next, kind: fmt.Sprintf("%T", next)}
}

type store struct {
	dataset.Store
	kind string
}

func (s *store) start(ctx context.Context, op string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return Tracer().Start(ctx, "store."+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(append(attrs, attribute.String("store.kind", s.kind))...))
}

func (s *store) Create(ctx context.Context, v dataset.ValidSample) (dataset.Sample, *dataset.Snapshot, error) {
	ctx, span := s.start(ctx, "create")
	smp, snap, err := s.Store.Create(ctx, v)
	if err == nil {
		span.SetAttributes(attribute.Int64("sample.id", smp.ID), attribute.Int64("dataset.version", int64(snap.Version())))
	}
	end(span, err)
	return smp, snap, err
}

func (s *store) Put(ctx context.Context, v dataset.ValidSample, pre dataset.Precondition) (bool, *dataset.Snapshot, error) {
	ctx, span := s.start(ctx, "put", attribute.Int64("sample.id", v.Sample().ID))
	created, snap, err := s.Store.Put(ctx, v, pre)
	end(span, err)
	return created, snap, err
}

func (s *store) Delete(ctx context.Context, id int64, pre dataset.Precondition) (*dataset.Snapshot, error) {
	ctx, span := s.start(ctx, "delete", attribute.Int64("sample.id", id))
	snap, err := s.Store.Delete(ctx, id, pre)
	end(span, err)
	return snap, err
}

func (s *store) Reset(ctx context.Context) (*dataset.Snapshot, error) {
	ctx, span := s.start(ctx, "reset")
	snap, err := s.Store.Reset(ctx)
	end(span, err)
	return snap, err
}
