package jobs

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// traceCarrier is a job's trace context, carried from its submission to
// its run (in the pool's memory, or a River job's args): the W3C traceparent
// and tracestate that the process's propagator writes. With tracing off
// the propagator writes nothing and the carrier stays empty.
type traceCarrier map[string]string

// carryTrace returns the trace context of ctx (the submitting request's
// span) as a carrier; nil when there is none.
func carryTrace(ctx context.Context) traceCarrier {
	c := traceCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, propagation.MapCarrier(c))
	if len(c) == 0 {
		return nil
	}
	return c
}

// startRunSpan starts the span of one run of a job, a child of the span
// that submitted it. end records err on it and ends it.
func startRunSpan(ctx context.Context, c traceCarrier, id string, typ Type) (context.Context, func(err error)) {
	if len(c) > 0 {
		ctx = otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(c))
	}
	ctx, span := otel.Tracer("github.com/irisknn/irisknn").Start(ctx, "job "+string(typ),
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("job.id", id), attribute.String("job.type", string(typ))))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}

// TraceCarrier is the trace context of a submission, for a queue that keeps
// jobs outside this process (River): CarryTrace takes it from the
// submitting request, StartRunSpan continues it where the job runs.
type TraceCarrier = traceCarrier

// CarryTrace returns the trace context of ctx as a carrier (see carryTrace).
func CarryTrace(ctx context.Context) TraceCarrier { return carryTrace(ctx) }

// StartRunSpan starts the span of one run of a job, a child of the span
// that submitted it (see startRunSpan).
func StartRunSpan(ctx context.Context, c TraceCarrier, id string, typ Type) (context.Context, func(err error)) {
	return startRunSpan(ctx, c, id, typ)
}
