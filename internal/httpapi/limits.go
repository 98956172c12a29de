package httpapi

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
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

// heavyBodyBytes is the body size above which a prediction counts as heavy:
// a single prediction is well under it, a batch of more than a few rows is
// over it. A body of unknown length (chunked) counts as heavy too.
const heavyBodyBytes = 1024

// limitHeavy caps the number of heavy (batch) predictions in flight at
// cfg.MaxHeavy. A heavy request that finds every slot taken waits up to
// cfg.HeavyWait for one (short bursts queue instead of failing), then is
// turned away with 503 and Retry-After, before its body is read: a longer
// queue would only make every batch slower and hold more memory.
func (s *Server) limitHeavy(next http.Handler) http.Handler {
	slots := make(chan struct{}, s.cfg.MaxHeavy)
	retry := strconv.Itoa(1)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength >= 0 && r.ContentLength <= heavyBodyBytes {
			next.ServeHTTP(w, r)
			return
		}
		if !acquire(r.Context(), slots, s.cfg.HeavyWait) {
			if r.Context().Err() != nil {
				return // the client has gone; nobody reads an answer
			}
			s.metrics.reject("overloaded")
			w.Header().Set("Retry-After", retry)
			writeProblem(w, r, http.StatusServiceUnavailable,
				fmt.Sprintf("the server is busy with %d batch predictions; retry after the time in Retry-After", s.cfg.MaxHeavy), nil)
			return
		}
		defer func() { <-slots }()
		next.ServeHTTP(w, r)
	})
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
