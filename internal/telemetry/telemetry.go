// Package telemetry is irisd's OpenTelemetry tracing: off by default, on
// when the standard OTLP environment variables ask for it, exported over
// OTLP (http/protobuf or grpc).
//
// Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set and OTEL_TRACES_EXPORTER is not
// "none". Everything else is read by the OpenTelemetry Go SDK itself, as
// its documentation says: OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL
// ("http/protobuf", the default, or "grpc"), the endpoints, headers and
// timeouts, OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_SAMPLER(_ARG) (default parentbased_always_on) and OTEL_BSP_*
// for the batch span processor. Context travels as W3C traceparent and
// baggage headers.
//
// When tracing is off nothing is installed: the HTTP middleware, the store
// and predictor decorators are not put in place, and the request path is
// what it is without this package.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Name is the instrumentation scope of irisd's own spans.
const Name = "github.com/irisknn/irisknn"

// Tracer returns the tracer of irisd's own spans (the global provider's:
// a no-op until Setup installs one).
func Tracer() trace.Tracer { return otel.Tracer(Name) }

// Enabled reports whether the environment turns tracing on.
func Enabled(getenv func(string) string) bool {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")), "none") {
		return false
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// protocol is the OTLP protocol the environment asks for.
func protocol(getenv func(string) string) string {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
	}
	return "http/protobuf"
}

// Setup installs a tracer provider exporting over OTLP as the environment
// says, and the W3C propagators, as the process-wide defaults. It returns
// a function that flushes and stops them, and false when the environment
// leaves tracing off (then it installs nothing). version names the
// service's version in the resource.
func Setup(ctx context.Context, getenv func(string) string, version string) (shutdown func(context.Context) error, enabled bool, err error) {
	if !Enabled(getenv) {
		return func(context.Context) error { return nil }, false, nil
	}
	if e := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); e != "" && !strings.EqualFold(e, "otlp") {
		return nil, false, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: irisd exports traces with otlp (or none)", e)
	}
	var exp sdktrace.SpanExporter
	switch p := protocol(getenv); p {
	case "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		return nil, false, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: irisd exports http/protobuf or grpc", p)
	}
	if err != nil {
		return nil, false, fmt.Errorf("otlp exporter: %w", err)
	}
	// Later detectors win: OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME
	// (WithFromEnv) over irisd's own name and version.
	res, err := resource.New(ctx, resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName("irisd"), semconv.ServiceVersion(version)),
		resource.WithFromEnv())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, false, fmt.Errorf("otel resource: %w", err)
	}
	// No sampler option: the SDK reads OTEL_TRACES_SAMPLER. The batch
	// processor reads OTEL_BSP_*.
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return tp.Shutdown, true, nil
}
