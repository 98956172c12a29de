package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
)

// uiCSP is the Content-Security-Policy of the page: its own scripts and
// styles only, no inline code, no framing; fetch may go to any http(s)
// origin because the API base URL is the page's ?api= parameter.
const uiCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self' http: https:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// uiTypes are the content types of the frontend's files, fixed here rather
// than taken from the system's mime.types, which differs between machines.
var uiTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
}

// uiFile is one file of the frontend, read once at start.
type uiFile struct {
	body  []byte
	ctype string
	etag  string
}

// uiSite is the embedded browser frontend (package web): index.html at GET /,
// docs.html at GET /docs and their assets at GET /ui/*.
type uiSite map[string]uiFile

// newUISite reads every file of fsys. An unreadable embedded file is a
// build defect, so it panics.
func newUISite(fsys fs.FS) uiSite {
	site := uiSite{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		ct, ok := uiTypes[path.Ext(p)]
		if !ok {
			ct = http.DetectContentType(b)
		}
		sum := sha256.Sum256(b)
		site[p] = uiFile{body: b, ctype: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic("httpapi: reading the embedded frontend: " + err.Error())
	}
	return site
}

// serve writes the file at p, or calls notFound. Clients revalidate every
// time (no-cache) and get 304 while the ETag matches, so a new build is
// picked up at once.
func (site uiSite) serve(w http.ResponseWriter, r *http.Request, p string, notFound http.Handler) {
	f, ok := site[p]
	if !ok {
		notFound.ServeHTTP(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("ETag", f.etag)
	h.Set("Cache-Control", "no-cache")
	if strings.HasSuffix(p, ".html") {
		h.Set("Content-Security-Policy", uiCSP)
		h.Set("Referrer-Policy", "no-referrer")
	}
	http.ServeContent(w, r, p, time.Time{}, bytes.NewReader(f.body))
}

// handlePage serves one HTML page of the frontend: index.html at /, and
// docs.html (Swagger UI over the served /openapi.yaml) at /docs.
func (site uiSite) handlePage(name string, notFound http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		site.serve(w, r, name, notFound)
	}
}

// handleAsset serves GET /ui/{file}: only files that exist, never a
// directory listing; anything else is the API's 404 problem.
func (site uiSite) handleAsset(notFound http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rest := chi.URLParam(r, "*")
		if rest == "" || strings.Contains(rest, "..") || strings.HasSuffix(rest, "/") {
			notFound.ServeHTTP(w, r)
			return
		}
		site.serve(w, r, "ui/"+rest, notFound)
	}
}
