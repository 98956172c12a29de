package httpapi

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// traceRequests starts a server span per request (otelhttp: the W3C
// traceparent of the request is its parent) and, once chi has routed it,
// names it by method and route pattern ("POST /samples/{id}"), never the
// raw path. Probes and the metrics scrape get no span.
func traceRequests(next http.Handler) http.Handler {
	routed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		if p := routePattern(r); p != "" {
			trace.SpanFromContext(r.Context()).SetAttributes(semconv.HTTPRoute(p))
		}
	})
	// otelhttp names the span with this at the start (the method only)
	// and again after the handler, once chi has set r.Pattern.
	name := func(_ string, r *http.Request) string {
		if p := routePattern(r); p != "" {
			return r.Method + " " + p
		}
		return r.Method
	}
	return otelhttp.NewHandler(routed, "irisd",
		otelhttp.WithFilter(func(r *http.Request) bool { return !isProbe(r.URL.Path) }),
		otelhttp.WithSpanNameFormatter(name))
}

// routePattern is chi's pattern of the route that served r, once routed.
func routePattern(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		return rc.RoutePattern()
	}
	return ""
}

// traceIDs are the trace and span id of ctx's span, or empty when it has
// none.
func traceIDs(ctx context.Context) (traceID, spanID string) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return "", ""
	}
	return sc.TraceID().String(), sc.SpanID().String()
}
