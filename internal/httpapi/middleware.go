package httpapi

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/irisknn/irisknn/internal/logging"
)

// requestIDFrom returns the request id chosen by requestID. The id
// travels in the request's own X-Request-Id header (requestID replaces a
// missing or unusable one), which costs no copy of the request and no
// context value per request.
func requestIDFrom(r *http.Request) string {
	if id := headerValue(r.Header, "X-Request-Id"); validRequestID(id) {
		return id
	}
	return ""
}

// headerValue is h.Get(key) for a key already in canonical form, without
// canonicalising it again.
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// requestID takes the client's (or proxy's) X-Request-Id when it is a
// short token, or makes a new one and puts it in the request's header in
// place of the client's, and echoes it in the response.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := headerValue(r.Header, "X-Request-Id")
		if validRequestID(id) {
			w.Header()["X-Request-Id"] = []string{id}
		} else {
			// One slice for both headers: neither is appended to in
			// place (capacity 1), so they cannot interfere.
			v := []string{newRequestID()}
			if r.Header == nil {
				r.Header = make(http.Header)
			}
			r.Header["X-Request-Id"] = v
			w.Header()["X-Request-Id"] = v
		}
		next.ServeHTTP(w, r)
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !requestIDByte[id[i]] {
			return false
		}
	}
	return true
}

// requestIDByte is true for the bytes a request id may have: ASCII
// letters and digits, '-', '_' and '.'.
var requestIDByte = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.'
	}
	return t
}()

// newRequestID returns 16 random hex digits. math/rand/v2's global source
// is the runtime's per-thread ChaCha8 generator, seeded from the OS: as
// unpredictable as crypto/rand for an id, without a system call.
func newRequestID() string {
	var b [16]byte
	v := rand.Uint64()
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = "0123456789abcdef"[v&15]
		v >>= 4
	}
	return string(b[:])
}

// observe writes each request's access line (with traced, carrying its
// trace_id and span_id) and counts and times it in the metrics, from one
// reading of the clock at each end. A panic going up (http.ErrAbortHandler,
// which recoverer passes on) is counted but not logged.
func (s *Server) observe(next http.Handler) http.Handler {
	traced := s.cfg.Tracing
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		served := false
		defer func() {
			if !served {
				s.metrics.observeRequest(r, statusOf(ww), time.Since(start))
			}
		}()
		next.ServeHTTP(ww, r)
		served = true
		end := time.Now()
		status := statusOf(ww)
		s.metrics.observeRequest(r, status, end.Sub(start))
		line := logging.Request{
			Time:      end,
			Method:    r.Method,
			Path:      r.URL.Path,
			Status:    status,
			Bytes:     ww.BytesWritten(),
			Duration:  end.Sub(start),
			Remote:    r.RemoteAddr,
			RequestID: requestIDFrom(r),
		}
		if traced {
			line.TraceID, line.SpanID = traceIDs(r.Context())
		}
		logging.LogRequest(r.Context(), s.log, &line)
	})
}

// statusOf is the status of the response ww wrote: 200 when the handler
// wrote nothing.
func statusOf(ww middleware.WrapResponseWriter) int {
	if status := ww.Status(); status != 0 {
		return status
	}
	return http.StatusOK
}

// recoverer turns a panic in a handler into a logged 500 problem response,
// so that one bad request cannot take the process down.
func recoverer(s *Server) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic", "request_id", requestIDFrom(r), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				writeProblem(w, r, http.StatusInternalServerError, "internal error", nil)
			}()
			next.ServeHTTP(w, r)
		})
	}
}
