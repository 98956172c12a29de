package httpapi_test

import (
	"encoding/json"
	"github.com/irisknn/irisknn/internal/apitest"
	"github.com/irisknn/irisknn/internal/httpapi"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBadInput sends malformed and hostile requests and checks that each
// gets the right 4xx as problem+json with a detail, and that none of them
// changes the training set.
func TestBadInput(t *testing.T) {
	const key = "bad-input-key"
	cfg := httpapi.DefaultConfig()
	cfg.MaxBatch = 100
	cfg.MaxBodyBytes = 64 << 10
	cfg.APIKey = key
	a := apitest.Start(t, cfg, nil)
	store := a.Store
	before := store.Snapshot()

	const ok = `[5.1,3.5,1.4,0.2]`
	row := `[5.1,3.5,1.4,0.2],`
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		header map[string]string // replaces the defaults
		noKey  bool
		want   int
	}{
		// Bodies the JSON decoder rejects: 400.
		{name: "empty body", path: "/predict", body: "", want: 400},
		{name: "only whitespace", path: "/predict", body: " \n\t ", want: 400},
		{name: "truncated object", path: "/predict", body: `{"features":[5.1,3.5`, want: 400},
		{name: "truncated after value", path: "/predict", body: `{"features":` + ok, want: 400},
		{name: "truncated string", path: "/predict", body: `{"metric":"eucl`, want: 400},
		{name: "features a string", path: "/predict", body: `{"features":"5.1,3.5,1.4,0.2"}`, want: 400},
		{name: "feature a string", path: "/predict", body: `{"features":[5.1,"x",1.4,0.2]}`, want: 400},
		{name: "feature true", path: "/predict", body: `{"features":[true,3.5,1.4,0.2]}`, want: 400},
		{name: "feature overflows float64", path: "/predict", body: `{"features":[1e400,3.5,1.4,0.2]}`, want: 400},
		{name: "NaN spelled", path: "/predict", body: `{"features":[NaN,3.5,1.4,0.2]}`, want: 400},
		{name: "Infinity spelled", path: "/predict", body: `{"features":[Infinity,3.5,1.4,0.2]}`, want: 400},
		{name: "-Infinity spelled", path: "/predict", body: `{"features":[-Infinity,3.5,1.4,0.2]}`, want: 400},
		{name: "NaN as string", path: "/predict", body: `{"features":["NaN",3.5,1.4,0.2]}`, want: 400},
		{name: "hex number", path: "/predict", body: `{"features":[0x10,3.5,1.4,0.2]}`, want: 400},
		{name: "k fractional", path: "/predict", body: `{"features":` + ok + `,"k":1.5}`, want: 400},
		{name: "k a string", path: "/predict", body: `{"features":` + ok + `,"k":"5"}`, want: 400},
		{name: "k overflows int", path: "/predict", body: `{"features":` + ok + `,"k":1e20}`, want: 400},
		{name: "k huge integer", path: "/predict", body: `{"features":` + ok + `,"k":99999999999999999999999}`, want: 400},
		{name: "metric a number", path: "/predict", body: `{"features":` + ok + `,"metric":5}`, want: 400},
		{name: "nested arrays as features", path: "/predict", body: `{"features":[[1,2],[3,4]]}`, want: 400},
		{name: "object inside named features", path: "/predict", body: `{"features":{"sepal_length":{"a":[1]}}}`, want: 400},
		{name: "unknown measurement", path: "/predict", body: `{"features":{"sepal_length":1,"sepal_width":1,"petal_length":1,"petal_size":1}}`, want: 400},
		{name: "deeply nested garbage", path: "/predict", body: strings.Repeat("[", 20000) + strings.Repeat("]", 20000), want: 400},
		{name: "top-level array", path: "/predict", body: `[5.1,3.5,1.4,0.2]`, want: 400},
		{name: "top-level string", path: "/predict", body: `"hello"`, want: 400},
		{name: "unknown field", path: "/predict", body: `{"features":` + ok + `,"extra":1}`, want: 400},
		{name: "duplicate key", path: "/predict", body: `{"k":3,"k":4,"features":` + ok + `}`, want: 400},
		{name: "duplicate nested key", path: "/predict", body: `{"features":{"sepal_length":1,"sepal_length":2,"sepal_width":1,"petal_length":1,"petal_width":1}}`, want: 400},
		{name: "trailing data", path: "/predict", body: `{"features":` + ok + `} {}`, want: 400},
		{name: "invalid UTF-8", path: "/predict", body: "{\"metric\":\"\xff\xfe\"}", want: 400},
		{name: "control character in string", path: "/predict", body: "{\"metric\":\"a\x01b\"}", want: 400},
		// Well-formed JSON with invalid values: 422.
		{name: "k zero", path: "/predict", body: `{"features":` + ok + `,"k":0}`, want: 422},
		{name: "k negative", path: "/predict", body: `{"features":` + ok + `,"k":-3}`, want: 422},
		{name: "k larger than the set", path: "/predict", body: `{"features":` + ok + `,"k":151}`, want: 422},
		{name: "k larger than max-k", path: "/predict", body: `{"features":` + ok + `,"k":5000}`, want: 422},
		{name: "three features", path: "/predict", body: `{"features":[5.1,3.5,1.4]}`, want: 422},
		{name: "five features", path: "/predict", body: `{"features":[5.1,3.5,1.4,0.2,9]}`, want: 422},
		{name: "no features", path: "/predict", body: `{"features":[]}`, want: 422},
		{name: "named feature missing", path: "/predict", body: `{"features":{"sepal_length":1,"sepal_width":1,"petal_length":1}}`, want: 422},
		{name: "empty object", path: "/predict", body: `{}`, want: 422},
		{name: "null body", path: "/predict", body: `null`, want: 400},
		{name: "empty batch", path: "/predict", body: `{"instances":[]}`, want: 422},
		{name: "batch over max", path: "/predict", body: `{"instances":[` + strings.Repeat(row, 100) + ok + `]}`, want: 422},
		{name: "batch row with 3 features", path: "/predict", body: `{"instances":[` + ok + `,[1,2,3]]}`, want: 422},
		{name: "features and instances", path: "/predict", body: `{"features":` + ok + `,"instances":[` + ok + `]}`, want: 422},
		{name: "feature too large to measure distances", path: "/predict", body: `{"features":[1e308,3.5,1.4,0.2]}`, want: 422},
		{name: "feature subnormal", path: "/predict", body: `{"features":[5e-324,3.5,1.4,0.2]}`, want: 422},
		{name: "sample feature too large", method: "POST", path: "/samples", body: `{"features":[5.1,-1e200,1.4,0.2],"species":"setosa"}`, want: 422},
		{name: "unknown metric", path: "/predict", body: `{"features":` + ok + `,"metric":"cosine"}`, want: 422},
		{name: "unknown weights", path: "/predict", body: `{"features":` + ok + `,"weights":"heavy"}`, want: 422},
		// Content type and size.
		{name: "text/plain", path: "/predict", body: `{"features":` + ok + `}`, header: map[string]string{"Content-Type": "text/plain"}, want: 415},
		{name: "form encoded", path: "/predict", body: `features=1`, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, want: 415},
		{name: "malformed content type", path: "/predict", body: `{}`, header: map[string]string{"Content-Type": ";;;=="}, want: 415},
		{name: "body over the limit", path: "/predict", body: `{"instances":[` + strings.Repeat(row, 4000) + ok + `]}`, want: 413},
		// Samples.
		{name: "unknown species", method: "POST", path: "/samples", body: `{"features":` + ok + `,"species":"rose"}`, want: 422},
		{name: "empty species", method: "POST", path: "/samples", body: `{"features":` + ok + `,"species":""}`, want: 422},
		{name: "species a number", method: "POST", path: "/samples", body: `{"features":` + ok + `,"species":5}`, want: 400},
		{name: "sample without features", method: "POST", path: "/samples", body: `{"species":"setosa"}`, want: 422},
		{name: "POST with an id", method: "POST", path: "/samples", body: `{"id":7,"features":` + ok + `,"species":"setosa"}`, want: 422},
		{name: "sample with 5 features", method: "POST", path: "/samples", body: `{"features":[1,2,3,4,5],"species":"setosa"}`, want: 422},
		{name: "sample truncated", method: "POST", path: "/samples", body: `{"features":` + ok + `,"species":"seto`, want: 400},
		{name: "id not a number", method: "PUT", path: "/samples/abc", body: `{"features":` + ok + `,"species":"setosa"}`, want: 400},
		{name: "id negative", method: "PUT", path: "/samples/-1", body: `{"features":` + ok + `,"species":"setosa"}`, want: 400},
		{name: "id zero", method: "PUT", path: "/samples/0", body: `{"features":` + ok + `,"species":"setosa"}`, want: 400},
		{name: "id overflows int64", method: "PUT", path: "/samples/99999999999999999999", body: `{"features":` + ok + `,"species":"setosa"}`, want: 400},
		{name: "id max int64 plus one", method: "DELETE", path: "/samples/9223372036854775808", want: 400},
		{name: "id fractional", method: "DELETE", path: "/samples/1.5", want: 400},
		{name: "id with sign", method: "DELETE", path: "/samples/+1", want: 400},
		{name: "body id differs from path", method: "PUT", path: "/samples/1", body: `{"id":2,"features":` + ok + `,"species":"setosa"}`, want: 422},
		{name: "id body a string", method: "PUT", path: "/samples/1", body: `{"id":"1","features":` + ok + `,"species":"setosa"}`, want: 400},
		{name: "path traversal, encoded", method: "GET", path: "/samples/..%2F..%2Fetc%2Fpasswd", want: 400},
		{name: "path traversal, encoded, delete", method: "DELETE", path: "/samples/..%2F1", want: 400},
		{name: "path traversal, raw", method: "DELETE", path: "/samples/../samples/1", want: 404},
		{name: "delete a missing id", method: "DELETE", path: "/samples/424242", want: 404},
		{name: "If-Match that does not match", method: "PUT", path: "/samples/1", body: `{"features":` + ok + `,"species":"setosa"}`, header: map[string]string{"If-Match": `"0000"`, "Content-Type": "application/json"}, want: 412},
		{name: "If-Match on a missing sample", method: "DELETE", path: "/samples/424242", header: map[string]string{"If-Match": `*`}, want: 404},
		// Queries.
		{name: "limit not a number", method: "GET", path: "/samples?limit=abc", want: 400},
		{name: "limit too large", method: "GET", path: "/samples?limit=100000", want: 422},
		{name: "offset negative", method: "GET", path: "/samples?offset=-1", want: 422},
		{name: "unknown species filter", method: "GET", path: "/samples?species=rose", want: 422},
		{name: "unknown query parameter", method: "GET", path: "/samples?sort=desc", want: 400},
		// Strict input: null is never a number, keys match exactly, a
		// number that underflows to 0 is refused (issue 9, part 7).
		{name: "null feature", path: "/predict", body: `{"features":[null,3,1,0.2]}`, want: 400},
		{name: "null row", path: "/predict", body: `{"instances":[[null,null,null,null]]}`, want: 400},
		{name: "null named feature", path: "/predict", body: `{"features":{"sepal_length":null,"sepal_width":3,"petal_length":1,"petal_width":0.2}}`, want: 400},
		{name: "null k", path: "/predict", body: `{"features":` + ok + `,"k":null}`, want: 400},
		{name: "null features", path: "/predict", body: `{"features":null}`, want: 400},
		{name: "null in a sample", method: "POST", path: "/samples", body: `{"features":[null,3,1,0.2],"species":"setosa"}`, want: 400},
		{name: "null species", method: "POST", path: "/samples", body: `{"features":` + ok + `,"species":null}`, want: 400},
		{name: "key in capitals", path: "/predict", body: `{"FEATURES":` + ok + `}`, want: 400},
		{name: "key capitalised", path: "/predict", body: `{"Features":` + ok + `}`, want: 400},
		{name: "capitals past the duplicate check", path: "/predict", body: `{"features":` + ok + `,"FEATURES":[1,1,1,1]}`, want: 400},
		{name: "sample key in capitals", method: "POST", path: "/samples", body: `{"features":` + ok + `,"Species":"setosa"}`, want: 400},
		{name: "feature name in capitals", path: "/predict", body: `{"features":{"SEPAL_LENGTH":5.1,"sepal_width":3,"petal_length":1,"petal_width":0.2}}`, want: 400},
		{name: "underflow to 0", path: "/predict", body: `{"features":[1e-400,3.5,1.4,0.2]}`, want: 400},
		{name: "underflow in a sample", method: "POST", path: "/samples", body: `{"features":[1e-400,3.5,1.4,0.2],"species":"setosa"}`, want: 400},
		{name: "subnormal", path: "/predict", body: `{"features":[1e-320,3.5,1.4,0.2]}`, want: 422},
		{name: "empty If-Match", method: "PUT", path: "/samples/1", body: `{"features":` + ok + `,"species":"setosa"}`, header: map[string]string{"Content-Type": "application/json", "If-Match": " "}, want: 400},
		{name: "If-Match without quotes", method: "DELETE", path: "/samples/1", header: map[string]string{"If-Match": "0123456789abcdef"}, want: 400},
		{name: "If-Match of another server", method: "DELETE", path: "/samples/1", header: map[string]string{"If-Match": `"xyz"`}, want: 412},
		{name: "If-Match weak", method: "DELETE", path: "/samples/1", header: map[string]string{"If-Match": `W/"0123456789abcdef"`}, want: 412},
		// Methods and routes.
		{name: "PATCH a sample", method: "PATCH", path: "/samples/1", body: `{}`, want: 405},
		{name: "DELETE the collection", method: "DELETE", path: "/samples", want: 405},
		{name: "PUT /predict", method: "PUT", path: "/predict", body: `{}`, want: 405},
		{name: "GET /predict", method: "GET", path: "/predict", want: 405},
		{name: "GET /dataset/reset", method: "GET", path: "/dataset/reset", want: 405},
		{name: "no such route", method: "GET", path: "/admin", want: 404},
		// Writes without the key.
		{name: "POST without a key", method: "POST", path: "/samples", body: `{"features":` + ok + `,"species":"setosa"}`, noKey: true, want: 401},
		{name: "reset without a key", method: "POST", path: "/dataset/reset", noKey: true, want: 401},
		{name: "DELETE with a wrong key", method: "DELETE", path: "/samples/1", header: map[string]string{"Authorization": "Bearer " + key + "x"}, want: 401},
		{name: "PUT with a Basic credential", method: "PUT", path: "/samples/1", body: `{"features":` + ok + `,"species":"setosa"}`, header: map[string]string{"Authorization": "Basic YTpi", "Content-Type": "application/json"}, want: 401},
	}
	require.GreaterOrEqual(t, len(tests), 40)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			h := http.Header{}
			if tc.header != nil {
				for k, v := range tc.header {
					h.Set(k, v)
				}
			} else if tc.body != "" {
				h.Set("Content-Type", "application/json")
			}
			if !tc.noKey && h.Get("Authorization") == "" {
				h.Set("Authorization", "Bearer "+key)
			}
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			resp, b := relDo(a, method, tc.path, h, body)
			assert.Equal(t, tc.want, resp.Status, "%s", b)
			assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
			var p struct {
				Status int    `json:"status"`
				Detail string `json:"detail"`
			}
			if assert.NoError(t, json.Unmarshal(b, &p), "%s", b) {
				assert.NotEmpty(t, p.Detail)
				assert.Equal(t, resp.Status, p.Status)
			}
			if resp.Status == http.StatusUnauthorized {
				assert.Contains(t, resp.Header.Get("WWW-Authenticate"), `Bearer realm="irisknn"`)
			}
			assert.Same(t, before, store.Snapshot(), "the training set changed")
		})
	}
}
