// Package apitest runs the HTTP API in tests: a real HTTP server (httptest)
// over a store, and a client whose every answer is checked against the
// OpenAPI document that very server serves at GET /openapi.yaml, generated
// for its schema. Errors included (401, 413, 429, 503...): a status or a
// body the document does not describe fails the test. Every test of the API
// starts its server here, so the contract holds for any dataset.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/httpapi"
)

func init() {
	// The page and its assets are documented as strings of these types.
	for _, ct := range []string{"text/html", "text/javascript", "text/css", "image/svg+xml"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
	}
}

// Server is the API under test.
type Server struct {
	T     testing.TB
	URL   string
	API   *httpapi.Server
	Store dataset.Store
	// Spec is the OpenAPI document the server serves.
	Spec   []byte
	router routers.Router
}

// Iris returns an in-memory store of the shipped Iris set, unscaled.
func Iris(t testing.TB) *dataset.Memory {
	t.Helper()
	return CSV(t, string(data.IrisCSV), "", dataset.ScaleNone)
}

// CSV returns an in-memory store of a training set given as CSV text, with
// its label column and scaling.
func CSV(t testing.TB, text, label string, scale dataset.ScaleKind) *dataset.Memory {
	t.Helper()
	table, err := dataset.ParseCSV(strings.NewReader(text), label)
	require.NoError(t, err)
	snap, err := dataset.NewSnapshot(table.Schema, table.Samples, scale)
	require.NoError(t, err)
	return dataset.NewMemory(snap, nil)
}

// Start serves the API with cfg over store (the shipped Iris when nil)
// until the test ends.
func Start(t testing.TB, cfg httpapi.Config, store dataset.Store) *Server {
	t.Helper()
	if store == nil {
		store = Iris(t)
	}
	s := &Server{T: t, Store: store, API: httpapi.NewServer(cfg, store)}
	srv := httptest.NewServer(s.API)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	// The document is read from the handler itself, from an address of
	// its own, so that it counts against no client's rate limit.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/openapi.yaml", nil)
	req.RemoteAddr = "192.0.2.1:9"
	s.API.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, "GET /openapi.yaml")
	s.Spec = rec.Body.Bytes()
	s.router = Router(t, s.Spec)
	return s
}

// Router returns a router over the OpenAPI document spec, which must be
// valid.
func Router(t testing.TB, spec []byte) routers.Router {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(spec)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(loader.Context), "the served /openapi.yaml is a valid OpenAPI 3 document")
	doc.Servers = nil // match any host
	router, err := legacy.NewRouter(doc)
	require.NoError(t, err)
	return router
}

// Response is what a test looks at.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic map.
func (r *Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), "body: %s", r.Body)
	return m
}

// Do sends a request; headers are name, value pairs (an empty value
// removes the header). A body is sent as application/json unless a
// Content-Type header is given. The answer is
// checked against the document (when the route is in it), an error must be
// a problem, and nothing may be a 500.
func (s *Server) Do(method, path, body string, headers ...string) *Response {
	s.T.Helper()
	return s.do(context.Background(), method, path, body, headers...)
}

// DoWithin is Do bounded by d: a request not answered within d fails the
// test instead of hanging it (for answers that must not wait).
func (s *Server) DoWithin(d time.Duration, method, path, body string, headers ...string) *Response {
	s.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return s.do(ctx, method, path, body, headers...)
}

func (s *Server) do(ctx context.Context, method, path, body string, headers ...string) *Response {
	t := s.T
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if body == "" {
		req.Body = http.NoBody
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	s.check(req, r, body)
	if r.Status >= 400 && method != http.MethodHead {
		assert.Equal(t, "application/problem+json", r.Header.Get("Content-Type"), "errors are problem+json")
		p := r.JSON(t)
		assert.EqualValues(t, r.Status, p["status"])
		assert.NotEmpty(t, p["detail"], "a problem says what is wrong")
	}
	assert.NotEqual(t, http.StatusInternalServerError, r.Status, "%s %s: %s", method, path, r.Body)
	return r
}

// check validates a response against the document when the route is in it.
func (s *Server) check(req *http.Request, r *Response, body string) {
	t := s.T
	t.Helper()
	switch {
	case req.Method == http.MethodHead, req.Method == http.MethodOptions:
		return // HEAD mirrors GET; OPTIONS is CORS, answered by the middleware
	case r.Status == http.StatusMethodNotAllowed:
		return // the method is not in the spec, by definition
	}
	vreq, _ := http.NewRequest(req.Method, "http://localhost"+req.URL.RequestURI(), strings.NewReader(body))
	vreq.Header = req.Header.Clone()
	route, params, err := s.router.FindRoute(vreq)
	if err != nil && strings.Contains(strings.ToLower(req.URL.RawPath), "%2f") {
		// An encoded slash in an id: the spec's router decodes it into a
		// path it cannot match; the server rejects the id with a 400.
		assert.Equal(t, http.StatusBadRequest, r.Status)
		return
	}
	if err != nil {
		// Undocumented route or method: only 404 and 405 may answer.
		assert.Contains(t, []int{http.StatusNotFound, http.StatusMethodNotAllowed}, r.Status,
			"%s %s is not in the served /openapi.yaml", req.Method, req.URL.Path)
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route},
		Status:                 r.Status,
		Header:                 r.Header,
		Body:                   io.NopCloser(bytes.NewReader(r.Body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	assert.NoError(t, openapi3filter.ValidateResponse(context.Background(), in),
		"%s %s -> %d does not match the served /openapi.yaml: %s", req.Method, req.URL.Path, r.Status, r.Body)
}
