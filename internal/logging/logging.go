// Package logging is irisd's log format: slog's JSON (the default) or text
// handler, with durations written as Go writes them ("1.2ms"), and the
// access log's line (one per request, see Request).
package logging

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// New returns a logger that writes lines of format ("json" or "text") at
// level and above to w.
func New(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: DurationsAsText}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// DurationsAsText logs a time.Duration as Go writes it ("15s", "1.2ms"),
// not as the JSON handler's integer nanoseconds.
func DurationsAsText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// Request is the access log's line for one HTTP request.
type Request struct {
	Method    string
	Path      string
	Status    int
	Bytes     int
	Duration  time.Duration
	Remote    string
	RequestID string
	// TraceID and SpanID are the request's span, when tracing is on;
	// empty, they are left out.
	TraceID, SpanID string
}

// LogRequest writes the access line of req to log, at Info, with message
// "request".
func LogRequest(ctx context.Context, log *slog.Logger, req *Request) {
	if !log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := [9]slog.Attr{
		slog.String("method", req.Method),
		slog.String("path", req.Path),
		slog.Int("status", req.Status),
		slog.Int("bytes", req.Bytes),
		slog.Duration("duration", req.Duration),
		slog.String("remote", req.Remote),
		slog.String("request_id", req.RequestID),
	}
	n := 7
	if req.TraceID != "" {
		attrs[7] = slog.String("trace_id", req.TraceID)
		attrs[8] = slog.String("span_id", req.SpanID)
		n = 9
	}
	log.LogAttrs(ctx, slog.LevelInfo, "request", attrs[:n]...)
}
