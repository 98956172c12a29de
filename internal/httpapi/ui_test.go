package httpapi_test

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/web"
)

func TestUIRoutes(t *testing.T) {
	api := corsAPI(t, pageOrigin)
	cases := []struct {
		path, ctype string
		status      int
	}{
		{"/", "text/html; charset=utf-8", http.StatusOK},
		{"/ui/app.js", "text/javascript; charset=utf-8", http.StatusOK},
		{"/ui/api.js", "text/javascript; charset=utf-8", http.StatusOK},
		{"/ui/plot.js", "text/javascript; charset=utf-8", http.StatusOK},
		{"/ui/style.css", "text/css; charset=utf-8", http.StatusOK},
		{"/ui/icon.svg", "image/svg+xml", http.StatusOK},
		{"/docs", "text/html; charset=utf-8", http.StatusOK},
		{"/ui/docs.js", "text/javascript; charset=utf-8", http.StatusOK},
		{"/ui/swagger-ui/swagger-ui-bundle.js", "text/javascript; charset=utf-8", http.StatusOK},
		{"/ui/swagger-ui/swagger-ui.css", "text/css; charset=utf-8", http.StatusOK},
		{"/docs.html", "application/problem+json", http.StatusNotFound},
		// No directory listings, no escape from ui/, no catch-all:
		// anything else is the API's 404 problem.
		{"/ui/", "application/problem+json", http.StatusNotFound},
		{"/ui", "application/problem+json", http.StatusNotFound},
		{"/ui/nope.js", "application/problem+json", http.StatusNotFound},
		{"/ui/../index.html", "application/problem+json", http.StatusNotFound},
		{"/ui/%2e%2e/index.html", "application/problem+json", http.StatusNotFound},
		{"/index.html", "application/problem+json", http.StatusNotFound},
		{"/no/such/route", "application/problem+json", http.StatusNotFound},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			rec := corsDo(t, api, http.MethodGet, c.path, "", nil)
			assert.Equal(t, c.status, rec.Status, string(rec.Body))
			assert.Equal(t, c.ctype, rec.Header.Get("Content-Type"))
			assert.Equal(t, "nosniff", rec.Header.Get("X-Content-Type-Options"))
			if c.status == http.StatusNotFound {
				var p struct{ Status int }
				require.NoError(t, json.Unmarshal(rec.Body, &p))
				assert.Equal(t, http.StatusNotFound, p.Status)
			}
		})
	}
}

func TestUIPageHeaders(t *testing.T) {
	api := corsAPI(t, pageOrigin)
	for _, page := range []string{"/", "/docs"} {
		rec := corsDo(t, api, http.MethodGet, page, "", nil)
		require.Equal(t, http.StatusOK, rec.Status)
		csp := rec.Header.Get("Content-Security-Policy")
		assert.Contains(t, csp, "script-src 'self'", "%s: no inline or foreign scripts", page)
		assert.Contains(t, csp, "style-src 'self';", "%s: no inline styles", page)
		assert.Contains(t, csp, "connect-src 'self' http: https:", "%s: the API may be on any origin (?api=)", page)
		assert.Contains(t, csp, "frame-ancestors 'none'", page)
		assert.Equal(t, "no-cache", rec.Header.Get("Cache-Control"), page)
	}
	rec := corsDo(t, api, http.MethodGet, "/", "", nil)

	etag := rec.Header.Get("ETag")
	require.NotEmpty(t, etag)
	rec = corsDo(t, api, http.MethodGet, "/", "", map[string]string{"If-None-Match": etag})
	assert.Equal(t, http.StatusNotModified, rec.Status)
	assert.Empty(t, string(rec.Body))

	rec = corsDo(t, api, http.MethodHead, "/ui/app.js", "", nil)
	assert.Equal(t, http.StatusOK, rec.Status)
	assert.Empty(t, string(rec.Body))
}

// TestUIReferencesResolve checks that every file the page links to or
// imports is embedded and served: a typo would break the page only in a
// browser otherwise.
func TestUIReferencesResolve(t *testing.T) {
	api := corsAPI(t, pageOrigin)
	var refs [][]string
	for _, page := range []string{"index.html", "docs.html"} {
		html, err := fs.ReadFile(web.Files, page)
		require.NoError(t, err)
		found := regexp.MustCompile(`(?:href|src)="(ui/[^"]+)"`).FindAllStringSubmatch(string(html), -1)
		require.NotEmpty(t, found, page)
		refs = append(refs, found...)
	}
	seen := map[string]bool{}
	var check func(p string)
	check = func(p string) {
		if seen[p] {
			return
		}
		seen[p] = true
		rec := corsDo(t, api, http.MethodGet, "/"+p, "", nil)
		if !assert.Equal(t, http.StatusOK, rec.Status, "/%s", p) {
			return
		}
		if strings.HasSuffix(p, ".js") {
			for _, m := range regexp.MustCompile(`from '(\./[^']+)'`).FindAllStringSubmatch(string(rec.Body), -1) {
				check(path.Join(path.Dir(p), m[1]))
			}
		}
	}
	for _, r := range refs {
		check(r[1])
	}
	assert.True(t, seen["ui/api.js"] && seen["ui/plot.js"], "the modules imported by app.js were followed: %v", seen)
	assert.True(t, seen["ui/swagger-ui/swagger-ui-bundle.js"], "the docs' Swagger UI: %v", seen)
}
