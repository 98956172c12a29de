package logging

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slogLine is the line slog's JSON handler, as irisd configures it, writes
// for req: what the access line must be.
func slogLine(t *testing.T, req *Request) string {
	t.Helper()
	var out bytes.Buffer
	h := slog.NewJSONHandler(&out, &slog.HandlerOptions{ReplaceAttr: DurationsAsText})
	require.NoError(t, h.Handle(context.Background(), req.record()))
	return out.String()
}

func testRequests() []Request {
	now := time.Now()
	east := time.FixedZone("east", 5*3600+30*60)
	var ascii strings.Builder
	for c := range 128 {
		ascii.WriteByte(byte(c))
	}
	base := Request{Time: now, Method: "POST", Path: "/predict", Status: 200, Bytes: 514,
		Duration: 1234567 * time.Nanosecond, Remote: "127.0.0.1:54321", RequestID: "0123456789abcdef"}
	reqs := []Request{base}
	add := func(f func(r *Request)) {
		r := base
		f(&r)
		reqs = append(reqs, r)
	}
	add(func(r *Request) { r.TraceID, r.SpanID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7" })
	add(func(r *Request) { r.Time = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) })
	add(func(r *Request) { r.Time = time.Date(2026, 1, 2, 3, 4, 5, 120000000, east) })
	add(func(r *Request) { r.Time = time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.Local) })
	add(func(r *Request) { r.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) })
	add(func(r *Request) { r.Time = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) })
	add(func(r *Request) { r.Time = time.Time{} })
	for _, d := range []time.Duration{0, 1, 999, 1000, 1500, time.Millisecond, 15 * time.Second, 90 * time.Minute, -3 * time.Microsecond, 1<<63 - 1, -1 << 63} {
		add(func(r *Request) { r.Duration = d })
	}
	for _, n := range []int{0, -1, 1 << 40} {
		add(func(r *Request) { r.Status, r.Bytes = n, n })
	}
	for _, s := range []string{"", ascii.String(), `a"b`, `a\b`, "tab\there", "\x7f", "é", "日本", "\u2028", "\xff\xfe", "<&>", "/samples/{id}", "/ui/app.js?x=1"} {
		add(func(r *Request) { r.Path = s })
		add(func(r *Request) { r.Method = s })
		add(func(r *Request) { r.Remote = s })
		add(func(r *Request) { r.RequestID = s })
		add(func(r *Request) { r.TraceID, r.SpanID = "4bf92f3577b34da6a3ce929d0e0e4736", s })
	}
	for c := range 128 {
		add(func(r *Request) { r.Path = "/" + string(rune(c)) })
	}
	return reqs
}

// TestAccessLineIsSlogs: the access line irisd's JSON logger writes is
// byte for byte the line slog's JSON handler writes for the same record.
func TestAccessLineIsSlogs(t *testing.T) {
	fast := 0
	for _, req := range testRequests() {
		var out bytes.Buffer
		LogRequest(context.Background(), New(&out, "json", slog.LevelInfo), &req)
		want := slogLine(t, &req)
		assert.Equal(t, want, out.String(), "%+v", req)
		if b, ok := appendRequest(nil, &req); ok {
			fast++
			assert.Equal(t, want, string(b), "%+v", req)
		}
	}
	assert.Greater(t, fast, 100, "most lines take the fast path")
}

// TestAccessLineFastPath: a usual request's line needs nothing from slog.
func TestAccessLineFastPath(t *testing.T) {
	req := testRequests()[0]
	b, ok := appendRequest(nil, &req)
	require.True(t, ok)
	assert.Regexp(t, `^\{"time":"[^"]+","level":"INFO","msg":"request","method":"POST","path":"/predict","status":200,"bytes":514,"duration":"1.234567ms","remote":"127.0.0.1:54321","request_id":"0123456789abcdef"\}\n$`, string(b))
	req.TraceID, req.SpanID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	b, ok = appendRequest(nil, &req)
	require.True(t, ok)
	assert.True(t, strings.HasSuffix(string(b), `,"request_id":"0123456789abcdef","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"}`+"\n"), string(b))
	log := New(discard{}, "json", slog.LevelInfo)
	assert.Zero(t, testing.AllocsPerRun(100, func() { LogRequest(context.Background(), log, &req) }))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestAccessLineText(t *testing.T) {
	req := testRequests()[1]
	var out bytes.Buffer
	LogRequest(context.Background(), New(&out, "text", slog.LevelInfo), &req)
	assert.Regexp(t, `^time=\S+ level=INFO msg=request method=POST path=/predict status=200 bytes=514 duration=1.234567ms remote=127.0.0.1:54321 request_id=0123456789abcdef trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7\n$`, out.String())
}

func TestAccessLineLevelAndDerivedLoggers(t *testing.T) {
	req := testRequests()[0]
	var out bytes.Buffer
	for _, format := range []string{"json", "text"} {
		LogRequest(context.Background(), New(&out, format, slog.LevelWarn), &req)
	}
	assert.Empty(t, out.String(), "-log-level warn writes no access line")

	log := New(&out, "json", slog.LevelInfo).With("replica", "a")
	LogRequest(context.Background(), log, &req)
	assert.Contains(t, out.String(), `"msg":"request","replica":"a","method":"POST"`, "a derived logger's attributes are kept")
	out.Reset()
	LogRequest(context.Background(), New(&out, "json", slog.LevelInfo).WithGroup("http"), &req)
	assert.Contains(t, out.String(), `"msg":"request","http":{"method":"POST"`)
}

// TestAccessLinesDoNotInterleave: access lines and slog's other lines
// share the writer whole.
func TestAccessLinesDoNotInterleave(t *testing.T) {
	var out strings.Builder // not safe for concurrent writes: the logger serialises them
	log := New(&out, "json", slog.LevelInfo)
	req := testRequests()[0]
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				LogRequest(context.Background(), log, &req)
				log.Info("other", "n", 1)
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 1600)
	for _, l := range lines {
		assert.True(t, strings.HasPrefix(l, `{"time":"`) && strings.HasSuffix(l, "}"), l)
	}
}
