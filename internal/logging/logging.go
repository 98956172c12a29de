// Package logging is irisd's log format: slog's JSON (the default) or text
// handler, with durations written as Go writes them ("1.2ms"), and the
// access log's line (one per request, see Request).
//
// The access line is the one line written per request, so in the JSON
// format it has its own encoder (appendRequest): a few appends instead of
// a slog.Record, a ReplaceAttr call per attribute and an encoding/json
// call for the level. It writes exactly the line slog's JSON handler
// writes for the same record (TestAccessLineIsSlogs); a line it cannot
// write so (a string that needs escaping, a year outside 0..9999) is left
// to slog.
package logging

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// New returns a logger that writes lines of format ("json" or "text") at
// level and above to w.
func New(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, options(level)))
	}
	return slog.New(newJSONHandler(w, level))
}

func options(level slog.Leveler) *slog.HandlerOptions {
	return &slog.HandlerOptions{Level: level, ReplaceAttr: DurationsAsText}
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
	// Time is the line's time: when the request was served.
	Time      time.Time
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
	if h, ok := log.Handler().(*jsonHandler); ok {
		h.logRequest(ctx, req)
		return
	}
	if h := log.Handler(); h.Enabled(ctx, slog.LevelInfo) {
		_ = h.Handle(ctx, req.record())
	}
}

// record is req as a slog record. It has no source (pc 0): the access
// line's would be the middleware, the same for every line.
func (req *Request) record() slog.Record {
	r := slog.NewRecord(req.Time, slog.LevelInfo, "request", 0)
	r.AddAttrs(
		slog.String("method", req.Method),
		slog.String("path", req.Path),
		slog.Int("status", req.Status),
		slog.Int("bytes", req.Bytes),
		slog.Duration("duration", req.Duration),
		slog.String("remote", req.Remote),
		slog.String("request_id", req.RequestID),
	)
	if req.TraceID != "" {
		r.AddAttrs(slog.String("trace_id", req.TraceID), slog.String("span_id", req.SpanID))
	}
	return r
}

// jsonHandler is slog's JSON handler (with DurationsAsText) that writes
// the access line itself. Loggers derived from it (With, WithGroup) are
// slog's alone: their lines carry attributes that appendRequest does not
// write.
type jsonHandler struct {
	slog.Handler
	w *lockedWriter // slog's handler writes here too
}

func newJSONHandler(w io.Writer, level slog.Leveler) *jsonHandler {
	lw := &lockedWriter{w: w}
	return &jsonHandler{Handler: slog.NewJSONHandler(lw, options(level)), w: lw}
}

// lockedWriter serialises the writes of slog's handler and the access
// line's, as slog's handler does its own.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func (h *jsonHandler) logRequest(ctx context.Context, req *Request) {
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	bp := linePool.Get().(*[]byte)
	b, ok := appendRequest((*bp)[:0], req)
	if ok {
		_, _ = h.w.Write(b)
	} else {
		_ = h.Handle(ctx, req.record())
	}
	if cap(b) <= 4<<10 {
		*bp = b
		linePool.Put(bp)
	}
}

// appendRequest appends req's line as slog's JSON handler with
// DurationsAsText writes it, or reports false when it cannot (a string
// that needs escaping, a year outside 0..9999: slog's rules for those are
// left to slog).
func appendRequest(b []byte, req *Request) ([]byte, bool) {
	if y := req.Time.Year(); y < 0 || y >= 10000 || req.Time.IsZero() {
		return b, false
	}
	ok := true
	b = append(b, `{"time":"`...)
	b = req.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request","method":`...)
	b, ok = appendString(b, req.Method, ok)
	b = append(b, `,"path":`...)
	b, ok = appendString(b, req.Path, ok)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(req.Status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(req.Bytes), 10)
	b = append(b, `,"duration":"`...)
	b = append(b, req.Duration.String()...)
	b = append(b, `","remote":`...)
	b, ok = appendString(b, req.Remote, ok)
	b = append(b, `,"request_id":`...)
	b, ok = appendString(b, req.RequestID, ok)
	if req.TraceID != "" {
		b = append(b, `,"trace_id":`...)
		b, ok = appendString(b, req.TraceID, ok)
		b = append(b, `,"span_id":`...)
		b, ok = appendString(b, req.SpanID, ok)
	}
	return append(b, "}\n"...), ok
}

// appendString appends s quoted, and ok when s needs no escaping in JSON
// (printable ASCII but '"' and '\\').
func appendString(b []byte, s string, ok bool) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			ok = false
			break
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), ok
}
