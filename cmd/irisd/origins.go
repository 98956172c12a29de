package main

import (
	"fmt"
	"net/url"
)

// checkOrigins reports each -cors-origins entry that can never match a
// browser's Origin header. A browser sends scheme://host[:port] and nothing
// more, and the CORS middleware compares exactly, so "http://host:8080/"
// (a trailing slash) or a bare "host:8080" would silently block the page.
// "*" (any origin) and one "*" wildcard in the host ("https://*.example.com")
// are allowed.
func checkOrigins(origins []string) []error {
	var errs []error
	for _, o := range origins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" {
			errs = append(errs, fmt.Errorf("-cors-origins: %q is not an origin: write scheme://host[:port] with no path, such as \"http://localhost:3000\", or \"*\" for any", o))
		}
	}
	return errs
}
