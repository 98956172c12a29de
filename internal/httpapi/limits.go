package httpapi

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/httprate"
)

// rateLimit limits each client (by IP address; IPv6 by /64) to
// cfg.RateLimit requests per cfg.RateWindow, answering 429 with
// Retry-After beyond. Health, readiness and metrics are exempt, so that
// probes and scrapes never fail because of a busy client. With RateLimit 0
// it does nothing.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	if s.cfg.RateLimit <= 0 {
		return next
	}
	limited := httprate.LimitBy(s.cfg.RateLimit, s.cfg.RateWindow, clientIP,
		httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
			s.metrics.reject("rate_limited")
			writeProblem(w, r, http.StatusTooManyRequests,
				fmt.Sprintf("rate limit exceeded: at most %d requests per %v per client; retry after the time in Retry-After", s.cfg.RateLimit, s.cfg.RateWindow), nil)
		}))(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isProbe(r.URL.Path) {
			next.ServeHTTP(w, r)
		} else {
			limited.ServeHTTP(w, r)
		}
	})
}

// isProbe reports whether path is a health check or the metrics scrape:
// exempt from the rate limit, and never traced.
func isProbe(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready":
		return true
	}
	return false
}

// clientIP is the rate-limit key: the peer's address. Behind a proxy every
// client shares the proxy's address; the limit is then per proxy, which is
// safe (header-based addresses could be forged).
func clientIP(r *http.Request) (string, error) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return httprate.CanonicalizeIP(host), nil
}

// limitBody answers 413 at once, before reading a byte of the body, to a
// request whose Content-Length is above the limit of its route: -max-import
// for POST /dataset/import, -max-body for every other route (the Open
// Inference Protocol routes apply the same -max-body in their own error
// format). A body of unknown length (chunked) is still cut at the limit as
// it is read.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, setting := s.cfg.MaxBodyBytes, "-max-body / IRIS_MAX_BODY"
		if r.URL.Path == "/dataset/import" {
			limit, setting = s.cfg.MaxImportBytes, "-max-import / IRIS_MAX_IMPORT"
		}
		if r.ContentLength > limit && !strings.HasPrefix(r.URL.Path, "/v2/") {
			s.metrics.reject("too_large")
			// Close after the answer: otherwise net/http reads a body of up
			// to 256 KiB before answering, to keep the connection.
			w.Header().Set("Connection", "close")
			writeProblem(w, r, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("the request body is %d bytes, above the limit of %d bytes (%s); nothing was read", r.ContentLength, limit, setting), nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// heavySlots caps the number of batch predictions being computed at once at
// cfg.MaxHeavy. A slot is taken only once the batch's body has been read and
// checked, so that slow or trickling uploads hold no slot. A batch that
// finds every slot taken waits up to cfg.HeavyWait for one (short bursts
// queue instead of failing), then is turned away with 503 and Retry-After:
// a longer queue would only make every batch slower and hold more memory.
type heavySlots struct {
	slots chan struct{}
	wait  time.Duration
}

func newHeavySlots(n int, wait time.Duration) *heavySlots {
	return &heavySlots{slots: make(chan struct{}, n), wait: wait}
}

// takeHeavy takes a batch slot and returns its release, or answers the request (503,
// or nothing when the client has gone) and returns false.
func (s *Server) takeHeavy(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	h := s.heavy
	if !acquire(r.Context(), h.slots, h.wait) {
		if r.Context().Err() != nil {
			return nil, false // the client has gone; nobody reads an answer
		}
		s.metrics.reject("overloaded")
		w.Header().Set("Retry-After", "1")
		writeProblem(w, r, http.StatusServiceUnavailable,
			fmt.Sprintf("the server is busy with %d batch predictions; retry after the time in Retry-After", cap(h.slots)), nil)
		return nil, false
	}
	return func() { <-h.slots }, true
}

// acquire takes a slot, waiting at most wait (and not past ctx).
func acquire(ctx context.Context, slots chan struct{}, wait time.Duration) bool {
	select {
	case slots <- struct{}{}:
		return true
	default:
	}
	if wait <= 0 {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}
