package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// queryParams parses r's query string as the one rule every route with
// parameters follows: a malformed query (a bad %-escape, a ';' separator)
// is a 400, as is a parameter not in allowed or one given twice (a second
// value would otherwise be ignored, bad or not). It returns the values,
// each given once.
func queryParams(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("", fmt.Sprintf("the query string %q is malformed: %v; separate parameters with & and %%-encode special characters", r.URL.RawQuery, err), err)
	}
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names) // the same answer whatever the map's order
	for _, name := range names {
		if !slices.Contains(allowed, name) {
			return nil, badRequest(name, fmt.Sprintf("unknown query parameter %q: want %s", name, orList(allowed)), nil)
		}
		if n := len(q[name]); n > 1 {
			return nil, badRequest(name, fmt.Sprintf("query parameter %q is given %d times: give it once", name, n), nil)
		}
	}
	return q, nil
}

// orList formats names as "a", "a or b", "a, b or c".
func orList(names []string) string {
	switch len(names) {
	case 0:
		return "no parameters"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
