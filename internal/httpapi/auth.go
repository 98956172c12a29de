package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/irisknn/irisknn/internal/dataset"
)

// APIKey is a key that may write, with the name that the change feed
// records as the actor of its writes.
type APIKey struct {
	Name string
	Key  string
}

// AnonymousActor is the actor of writes made when no key is configured.
const AnonymousActor = "anonymous"

// keyActor is the actor recorded for a key without a name: a digest that
// tells keys apart without revealing them.
func keyActor(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:6])
}

// keyDigest is one configured key as requireKey compares it.
type keyDigest struct {
	sum   [sha256.Size]byte
	actor string
}

// keys returns the configured keys: APIKeys, and APIKey under its digest.
func (c *Config) keys() []keyDigest {
	var out []keyDigest
	if c.APIKey != "" {
		out = append(out, keyDigest{sha256.Sum256([]byte(c.APIKey)), keyActor(c.APIKey)})
	}
	for _, k := range c.APIKeys {
		out = append(out, keyDigest{sha256.Sum256([]byte(k.Key)), k.Name})
	}
	return out
}

// requireKey lets a request through only when it carries a configured API
// key as "Authorization: Bearer <key>"; others get 401 with a
// WWW-Authenticate challenge. The request's context then names the key's
// actor (its name, or a digest), which the store records with each change.
// Without a configured key every request passes, as the anonymous actor.
// Reads and predictions are not behind it: routes.go puts it on the writes
// (to the training set, and submitting and cancelling jobs) only.
func (s *Server) requireKey(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor, given := s.writer(r)
		if origin, foreign := s.foreignOrigin(r); foreign && (len(s.keys) == 0 || actor == "") {
			s.metrics.reject("cross_origin")
			writeProblem(w, r, http.StatusForbidden, fmt.Sprintf(
				"a write from a page on another origin (%s) is refused: a web page may read and predict, but only pages on origins listed in -cors-origins (e.g. -cors-origins=%s) may write, or a client that sends the API key",
				origin, origin), nil)
			return
		}
		if actor != "" {
			next.ServeHTTP(w, r.WithContext(dataset.WithActor(r.Context(), actor)))
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

// foreignOrigin reports whether r comes from a page on another origin
// than the server's that -cors-origins does not list by name ("*" lists
// none), and names the origin. A browser says so in Sec-Fetch-Site
// (cross-site or same-site), or else in an Origin other than the Host it
// sent the request to. A request without either is not from a page (curl,
// a program, a same-origin form in an old browser): it is not foreign.
// This is the server's own check against cross-site request forgery: a
// POST without a body, or a form, is sent without any CORS preflight.
func (s *Server) foreignOrigin(r *http.Request) (string, bool) {
	origin := r.Header.Get("Origin")
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return "", false
	case "cross-site", "same-site":
		if origin == "" {
			origin = "another site"
		}
	default:
		if origin == "" || sameHost(origin, r.Host) {
			return "", false
		}
	}
	for _, o := range s.cfg.CORSOrigins {
		if o != "*" && strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return origin, false
		}
	}
	return origin, true
}

// sameHost reports whether origin (scheme://host[:port]) names host, the
// request's Host; a Host without a port (behind a proxy that passes only
// the name) matches the origin's name on any port.
func sameHost(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false // "null", or not an origin
	}
	if strings.EqualFold(u.Host, host) {
		return true
	}
	if _, _, err := net.SplitHostPort(host); err != nil {
		return strings.EqualFold(u.Hostname(), host)
	}
	return false
}

// mayWrite reports whether r may write: no key is configured, or r carries
// one. given reports whether r carried a token at all.
func (s *Server) mayWrite(r *http.Request) (ok, given bool) {
	actor, given := s.writer(r)
	return actor != "", given
}

// writer returns the actor r writes as: AnonymousActor when no key is
// configured, the matching key's actor, or "" when r carries no valid key.
// The key comes as a Bearer token, or as the password of Basic
// authentication (a browser's prompt, for River's UI): the same key, another
// envelope. given reports whether r carried a token at all.
func (s *Server) writer(r *http.Request) (actor string, given bool) {
	keys := s.keys
	if len(keys) == 0 {
		return AnonymousActor, false
	}
	token, given := bearerToken(r.Header.Get("Authorization"))
	if !given {
		_, token, given = r.BasicAuth()
		given = given && token != ""
	}
	// Compare digests, so that neither the content nor the length of a
	// key leaks through timing; every key is compared.
	got := sha256.Sum256([]byte(token))
	for _, k := range keys {
		if subtle.ConstantTimeCompare(got[:], k.sum[:]) == 1 {
			actor = k.actor
		}
	}
	if !given {
		return "", false
	}
	return actor, given
}

// requireKeyBrowser is requireKey for pages a person opens in a browser
// (River's UI): the challenge asks for Basic authentication, whose password
// is the API key, so that the browser prompts for it.
func (s *Server) requireKeyBrowser(next http.Handler) http.Handler {
	if len(s.keys) == 0 {
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
