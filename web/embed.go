// Package web holds the browser frontend: a static single-page app (plain
// HTML, CSS and JavaScript modules, no build step) embedded in the binary.
//
// Files is laid out as the page expects to be hosted: index.html at the
// root and its assets under ui/. The API serves it at GET / and GET /ui/*;
// any other static host can serve the same tree (see the README), with the
// API base URL given to the page as ?api=http://host:port.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Files is the frontend: index.html and ui/*.
var Files fs.FS = mustSub(static, "static")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // only a wrong constant gets here
	}
	return sub
}
