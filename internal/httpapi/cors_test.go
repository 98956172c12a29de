package httpapi_test

import (
	"github.com/irisknn/irisknn/internal/apitest"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/irisknn/irisknn/internal/httpapi"
)

// corsAPI starts the API over the shipped Iris data with the given
// allowed origins.
func corsAPI(t *testing.T, origins ...string) *apitest.Server {
	t.Helper()
	cfg := httpapi.DefaultConfig()
	cfg.CORSOrigins = origins
	return apitest.Start(t, cfg, nil)
}

// corsHeaders returns the response's Access-Control-* headers.
func corsHeaders(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			out[k] = v
		}
	}
	return out
}

// corsCalls are the browser's requests of the page: one of each method.
var corsCalls = []struct {
	method, path, body string
	status             int
}{
	{http.MethodGet, "/dataset", "", http.StatusOK},
	{http.MethodHead, "/dataset", "", http.StatusOK}, // a "simple" method: no preflight, so the actual answer must allow it
	{http.MethodGet, "/samples?limit=2", "", http.StatusOK},
	{http.MethodPost, "/predict", `{"features":[5.1,3.5,1.4,0.2]}`, http.StatusOK},
	{http.MethodPost, "/samples", `{"features":[5,3,1.5,0.2],"species":"setosa"}`, http.StatusCreated},
	{http.MethodPut, "/samples/3", `{"features":[5,3,1.5,0.2],"species":"setosa"}`, http.StatusOK},
	{http.MethodDelete, "/samples/4", "", http.StatusNoContent},
	{http.MethodPost, "/dataset/reset", "", http.StatusOK},
	{http.MethodPost, "/predict", `{"features":[1,2,3]}`, http.StatusUnprocessableEntity}, // errors carry CORS headers too
}

func corsDo(t *testing.T, a *apitest.Server, method, path, body string, hdr map[string]string) *apitest.Response {
	t.Helper()
	var pairs []string
	for k, v := range hdr {
		pairs = append(pairs, k, v)
	}
	return a.Do(method, path, body, pairs...)
}

const pageOrigin = "http://page.example:8080"

func TestCORSAllowedOrigin(t *testing.T) {
	api := corsAPI(t, pageOrigin, "https://other.example")
	for _, c := range corsCalls {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			rec := corsDo(t, api, c.method, c.path, c.body, map[string]string{"Origin": pageOrigin})
			assert.Equal(t, c.status, rec.Status, string(rec.Body))
			assert.Equal(t, pageOrigin, rec.Header.Get("Access-Control-Allow-Origin"))
			assert.Contains(t, rec.Header.Values("Vary"), "Origin", "caches must key on Origin")
			assert.Empty(t, rec.Header.Get("Access-Control-Allow-Credentials"))
			exposed := rec.Header.Get("Access-Control-Expose-Headers")
			for _, h := range []string{"Etag", "Location", "X-Request-Id", "X-Dataset-Version", "Retry-After"} {
				assert.Contains(t, exposed, h)
			}
		})
	}
}

func TestCORSPreflight(t *testing.T) {
	api := corsAPI(t, pageOrigin)
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		for _, path := range []string{"/samples/1", "/predict", "/dataset/reset", "/no/such/route"} {
			t.Run(method+" "+path, func(t *testing.T) {
				rec := corsDo(t, api, http.MethodOptions, path, "", map[string]string{
					"Origin":                         pageOrigin,
					"Access-Control-Request-Method":  method,
					"Access-Control-Request-Headers": "authorization,content-type,if-match",
				})
				assert.Equal(t, http.StatusOK, rec.Status)
				assert.Equal(t, pageOrigin, rec.Header.Get("Access-Control-Allow-Origin"))
				assert.Equal(t, method, rec.Header.Get("Access-Control-Allow-Methods"))
				assert.Equal(t, "Authorization, Content-Type, If-Match", rec.Header.Get("Access-Control-Allow-Headers"))
				assert.Equal(t, "600", rec.Header.Get("Access-Control-Max-Age"))
				assert.Empty(t, string(rec.Body), "a preflight never reaches a handler")
			})
		}
	}
}

func TestCORSOriginNotAllowed(t *testing.T) {
	api := corsAPI(t, pageOrigin)
	origins := []string{
		"http://evil.example",
		"http://page.example:8081",  // another port
		"https://page.example:8080", // another scheme
		"http://page.example",       // default port is another origin
		"null",                      // sandboxed frames, file:// pages
	}
	for _, origin := range origins {
		t.Run(origin, func(t *testing.T) {
			for _, c := range corsCalls {
				// The server still answers (a browser, not the server,
				// withholds the response), but says nothing of CORS.
				rec := corsDo(t, api, c.method, c.path, c.body, map[string]string{"Origin": origin})
				assert.Equal(t, c.status, rec.Status, "%s %s", c.method, c.path)
				assert.Empty(t, corsHeaders(rec.Header), "%s %s", c.method, c.path)
			}
			for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
				rec := corsDo(t, api, http.MethodOptions, "/samples/1", "", map[string]string{
					"Origin": origin, "Access-Control-Request-Method": method,
				})
				assert.Empty(t, corsHeaders(rec.Header), "preflight for %s", method)
			}
		})
	}
}

func TestCORSPreflightRefusesOtherHeadersAndMethods(t *testing.T) {
	api := corsAPI(t, pageOrigin)
	for name, hdr := range map[string]map[string]string{
		"header": {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-secret"},
		"method": {"Access-Control-Request-Method": "PATCH"},
	} {
		t.Run(name, func(t *testing.T) {
			hdr["Origin"] = pageOrigin
			rec := corsDo(t, api, http.MethodOptions, "/samples/1", "", hdr)
			assert.Empty(t, corsHeaders(rec.Header))
		})
	}
}

func TestCORSAnyOrigin(t *testing.T) {
	for _, origins := range [][]string{nil, {"*"}} {
		api := corsAPI(t, origins...)
		rec := corsDo(t, api, http.MethodGet, "/dataset", "", map[string]string{"Origin": "http://anywhere.example:1234"})
		assert.Equal(t, "*", rec.Header.Get("Access-Control-Allow-Origin"), "origins %q", origins)
		assert.Empty(t, rec.Header.Get("Access-Control-Allow-Credentials"), "* never goes with credentials")
		rec = corsDo(t, api, http.MethodOptions, "/samples/1", "", map[string]string{
			"Origin": "http://anywhere.example:1234", "Access-Control-Request-Method": "DELETE",
		})
		assert.Equal(t, "*", rec.Header.Get("Access-Control-Allow-Origin"))
		assert.Equal(t, "DELETE", rec.Header.Get("Access-Control-Allow-Methods"))
	}
}

func TestCORSNoOrigin(t *testing.T) {
	// Requests that are not from a browser page (curl, servers) get no CORS headers.
	rec := corsDo(t, corsAPI(t, pageOrigin), http.MethodGet, "/dataset", "", nil)
	assert.Equal(t, http.StatusOK, rec.Status)
	assert.Empty(t, corsHeaders(rec.Header))
}
