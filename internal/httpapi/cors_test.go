package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/irisknn/irisknn/internal/apitest"
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

// isWrite reports whether a call of corsCalls writes to the training set.
func isWrite(method, path string) bool {
	return method == http.MethodPut || method == http.MethodDelete || (method == http.MethodPost && path != "/predict")
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
				want := c.status
				if isWrite(c.method, c.path) {
					want = http.StatusForbidden // and the server refuses writes
				}
				assert.Equal(t, want, rec.Status, "%s %s", c.method, c.path)
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

// TestCrossOriginWrites: with the defaults (CORS "*"), a page on any origin
// may read and predict, but the server itself refuses its writes, even those
// a browser sends without a preflight; pages listed in -cors-origins, the
// server's own origin, clients that are not pages and clients with the key
// may write.
func TestCrossOriginWrites(t *testing.T) {
	open := apitest.Start(t, httpapi.Config{}, nil)
	keyed := apitest.Start(t, httpapi.Config{APIKey: "k"}, nil)
	listed := apitest.Start(t, httpapi.Config{CORSOrigins: []string{pageOrigin}}, nil)
	evil := []string{"Origin", "http://evil.example"}
	for _, c := range []struct {
		name   string
		api    *apitest.Server
		method string
		path   string
		body   string
		hdr    []string
		want   int
	}{
		{"a reset from another origin, with no body and no preflight", open, "POST", "/dataset/reset", "", evil, 403},
		{"a delete from another origin", open, "DELETE", "/samples/5", "", evil, 403},
		{"a create from another origin", open, "POST", "/samples", `{"features":[5,3,1.5,0.2],"species":"setosa"}`, evil, 403},
		{"an import from another origin", open, "POST", "/dataset/import?mode=replace", "sepal_length,sepal_width,petal_length,petal_width,species\n1,2,3,4,setosa\n", append([]string{"Content-Type", "text/csv"}, evil...), 403},
		{"Sec-Fetch-Site cross-site without Origin", open, "DELETE", "/samples/6", "", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"Sec-Fetch-Site same-site (a sibling subdomain)", open, "DELETE", "/samples/6", "", []string{"Sec-Fetch-Site", "same-site", "Origin", "http://a.localhost"}, 403},
		{"the opaque origin null", open, "DELETE", "/samples/6", "", []string{"Origin", "null"}, 403},
		{"a prediction from another origin", open, "POST", "/predict", `{"features":[5.1,3.5,1.4,0.2]}`, evil, 200},
		{"a read from another origin", open, "GET", "/samples/5", "", evil, 200},
		{"a client that is not a page (curl)", open, "DELETE", "/samples/7", "", nil, 204},
		{"the server's own page, by Sec-Fetch-Site", open, "DELETE", "/samples/8", "", []string{"Sec-Fetch-Site", "same-origin", "Origin", "http://evil.example"}, 204},
		{"the server's own page, by Origin", open, "DELETE", "/samples/9", "", []string{"Origin", open.URL}, 204},
		{"a listed origin", listed, "DELETE", "/samples/5", "", []string{"Origin", pageOrigin, "Sec-Fetch-Site", "cross-site"}, 204},
		{"another origin with the key", keyed, "DELETE", "/samples/5", "", []string{"Origin", "http://evil.example", "Authorization", "Bearer k"}, 204},
		{"another origin with a wrong key", keyed, "DELETE", "/samples/5", "", []string{"Origin", "http://evil.example", "Authorization", "Bearer x"}, 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := c.api.Store.Snapshot().Version()
			r := c.api.Do(c.method, c.path, c.body, c.hdr...)
			assert.Equal(t, c.want, r.Status, "%s", r.Body)
			if c.want == 403 {
				assert.Contains(t, string(r.Body), "-cors-origins", "the refusal says how to allow it")
				assert.Equal(t, before, c.api.Store.Snapshot().Version(), "nothing was written")
			}
		})
	}
}
