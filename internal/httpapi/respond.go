package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/go-chi/chi/v5"
)

// writeJSON writes v as a JSON response. Headers are set before
// WriteHeader, so they are sent.
func writeJSON(w http.ResponseWriter, status int, version uint64, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only a programming error (an unencodable type) gets here.
		panic(err)
	}
	writeJSONBytes(w, status, version, append(b, '\n'))
}

// writeJSONBytes writes an encoded JSON response; version, when not zero,
// is sent as X-Dataset-Version.
func writeJSONBytes(w http.ResponseWriter, status int, version uint64, b []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	if version != 0 {
		h["X-Dataset-Version"] = versionHeader(version)
	}
	w.WriteHeader(status)
	w.Write(b)
}

// Header values that every response of their kind sends, shared by all
// responses. A shared value must never be changed in place; its length is
// its capacity, so that Header.Add copies it rather than appending to it.
var (
	jsonContentType = []string{"application/json"}
	noSniffValue    = []string{"nosniff"}
)

// versionValue is the X-Dataset-Version value of one version.
type versionValue struct {
	version uint64
	value   []string // shared, see jsonContentType
}

var lastVersionValue atomic.Pointer[versionValue]

// versionHeader returns the X-Dataset-Version value for version: the last
// one made while the version stays the same.
func versionHeader(version uint64) []string {
	if v := lastVersionValue.Load(); v != nil && v.version == version {
		return v.value
	}
	v := &versionValue{version: version, value: []string{strconv.FormatUint(version, 10)}}
	lastVersionValue.Store(v)
	return v.value
}

// quoteJSON returns s as a JSON string literal, as json.Marshal writes it.
func quoteJSON(s string) []byte {
	return appendQuoted(nil, s)
}

// appendQuoted appends s to b as a JSON string literal, byte for byte as
// json.Marshal writes it (TestAppendQuotedMatchesMarshal,
// FuzzAppendQuoted). A string of printable ASCII that needs no escape (no
// quote, backslash, or the <, > and & that json.Marshal escapes for HTML),
// as labels and names usually are, is copied between quotes; anything
// else goes through json.Marshal.
func appendQuoted(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// handleHealthz serves GET /healthz: the process is alive.
func handleHealthz() http.HandlerFunc {
	body := []byte(`{"status":"ok"}` + "\n")
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSONBytes(w, http.StatusOK, 0, body)
	}
}

// handleOpenAPI serves the OpenAPI document.
func handleOpenAPI(spec []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(spec)
	}
}

func (s *Server) handleNotFound() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, http.StatusNotFound, "no route "+r.URL.Path+": see /openapi.yaml for the API", nil)
	}
}

// handleMethodNotAllowed answers 405 with the Allow header that RFC 9110
// requires, computed from the router.
func (s *Server) handleMethodNotAllowed(routes chi.Routes) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		allow := allowedMethods(routes, r.URL.Path)
		w.Header().Set("Allow", strings.Join(allow, ", "))
		if r.Method == http.MethodOptions {
			// OPTIONS without a CORS preflight (no Origin): the methods,
			// as Allow has always listed OPTIONS.
			w.WriteHeader(http.StatusNoContent)
			return
		}
		msg := r.Method + " is not allowed on " + r.URL.Path + "; allowed: " + strings.Join(slices.DeleteFunc(allow, func(m string) bool { return m == http.MethodOptions || m == http.MethodHead }), ", ")
		writeProblem(w, r, http.StatusMethodNotAllowed, msg, nil)
	}
}

// noSniff marks every response X-Content-Type-Options: nosniff, so that a
// browser never runs an answer (JSON, CSV, a problem) as another type.
func noSniff(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-Content-Type-Options"] = noSniffValue
		next.ServeHTTP(w, r)
	})
}
