package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/irisknn/irisknn/internal/dataset"
)

// etag formats a sample's revision as its strong entity tag: 16 hex digits
// in quotes.
func etag(x dataset.Sample) string {
	const hex = "0123456789abcdef"
	var b [18]byte
	b[0], b[17] = '"', '"'
	for i, r := 16, uint64(x.Revision()); i > 0; i, r = i-1, r>>4 {
		b[i] = hex[r&15]
	}
	return string(b[:])
}

// precondition reads the If-Match header (RFC 9110 13.1.1) as a domain
// precondition: absent is none, "*" is "the sample exists", a list of
// entity tags is "the sample has one of these revisions" (strong
// comparison: a weak tag, or one this server never made, matches nothing).
// A header that is empty or not a list of entity tags is a 400.
func precondition(r *http.Request) (dataset.Precondition, error) {
	values, given := r.Header["If-Match"]
	if !given {
		return dataset.Precondition{}, nil
	}
	raw := strings.TrimSpace(strings.Join(values, ","))
	bad := func(why string) error {
		return badRequest("If-Match", fmt.Sprintf("If-Match %s: give * or the ETag of the sample (as GET /samples/{id} sends it), in quotes", why), nil)
	}
	switch raw {
	case "":
		return dataset.Precondition{}, bad("is empty")
	case "*":
		return dataset.IfExists(), nil
	}
	var revs []dataset.Revision
	for tag := range strings.SplitSeq(raw, ",") {
		tag = strings.TrimSpace(tag)
		weak := strings.HasPrefix(tag, "W/")
		opaque := strings.TrimPrefix(tag, "W/")
		if len(opaque) < 2 || opaque[0] != '"' || opaque[len(opaque)-1] != '"' || strings.ContainsAny(opaque[1:len(opaque)-1], "\" ") {
			return dataset.Precondition{}, bad(fmt.Sprintf("has %q, which is not an entity tag", tag))
		}
		v, err := strconv.ParseUint(opaque[1:len(opaque)-1], 16, 64)
		if weak || err != nil || len(opaque) != 18 {
			continue // never one of ours: matches nothing
		}
		revs = append(revs, dataset.Revision(v))
	}
	return dataset.IfRevision(revs...), nil
}
