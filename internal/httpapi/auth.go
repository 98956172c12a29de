package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// requireKey lets a request through only when it carries the configured
// API key as "Authorization: Bearer <key>"; others get 401 with a
// WWW-Authenticate challenge. Without a configured key every request
// passes. Reads and predictions are not behind it: routes.go puts it on the
// writes (to the training set, and submitting and cancelling jobs) only.
func (s *Server) requireKey(next http.Handler) http.Handler {
	if s.cfg.APIKey == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, given := s.mayWrite(r)
		if ok {
			next.ServeHTTP(w, r)
			return
		}
		challenge := `Bearer realm="irisknn"`
		msg := "this change needs an API key: send Authorization: Bearer <key>"
		if given {
			challenge += `, error="invalid_token"`
			msg = "the API key is not valid"
		}
		s.metrics.reject("unauthorized")
		w.Header().Set("WWW-Authenticate", challenge)
		writeProblem(w, r, http.StatusUnauthorized, msg, nil)
	})
}

// mayWrite reports whether r may write: no key is configured, or r carries
// it. given reports whether r carried a bearer token at all.
func (s *Server) mayWrite(r *http.Request) (ok, given bool) {
	if s.cfg.APIKey == "" {
		return true, false
	}
	token, given := bearerToken(r.Header.Get("Authorization"))
	if !given {
		// A browser sends the key as the password of Basic authentication
		// (River's UI): the same key, another envelope.
		_, token, given = r.BasicAuth()
		given = given && token != ""
	}
	// Compare digests, so that neither the content nor the length of the
	// key leaks through timing.
	want := sha256.Sum256([]byte(s.cfg.APIKey))
	got := sha256.Sum256([]byte(token))
	return given && subtle.ConstantTimeCompare(got[:], want[:]) == 1, given
}

// requireKeyBrowser is requireKey for pages a person opens in a browser
// (River's UI): the challenge asks for Basic authentication, whose password
// is the API key, so that the browser prompts for it.
func (s *Server) requireKeyBrowser(next http.Handler) http.Handler {
	if s.cfg.APIKey == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, _ := s.mayWrite(r); ok {
			next.ServeHTTP(w, r)
			return
		}
		s.metrics.reject("unauthorized")
		w.Header().Set("WWW-Authenticate", `Basic realm="irisknn operators: any user name, the API key as password", charset="UTF-8"`)
		w.Header().Add("WWW-Authenticate", `Bearer realm="irisknn"`)
		writeProblem(w, r, http.StatusUnauthorized, "River's UI needs the API key: as the password of Basic authentication, or as Authorization: Bearer <key>", nil)
	})
}

// bearerToken extracts the token of a Bearer Authorization header (the
// scheme is case-insensitive, RFC 9110 section 11.1).
func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
