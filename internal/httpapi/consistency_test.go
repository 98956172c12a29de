package httpapi_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/apitest"
	"github.com/irisknn/irisknn/internal/httpapi"
)

// TestSmallInconsistenciesHaveOneAnswer: each request that used to get a
// surprising answer (a 405 for a listed method, an ignored parameter, two
// spellings of one id answering differently) gets a clear, consistent one,
// as problem+json.
func TestSmallInconsistenciesHaveOneAnswer(t *testing.T) {
	a := apitest.Start(t, httpapi.Config{}, nil)
	for _, c := range []struct {
		name         string
		method, path string
		hdr          []string
		want         int
		detail       string
	}{
		{"a second, bad value of a parameter", "GET", "/samples?limit=10&limit=x", nil, 400, `"limit" is given 2 times`},
		{"a second, good value of a parameter", "GET", "/samples?limit=10&limit=20", nil, 400, `"limit" is given 2 times`},
		{"a repeated parameter of the change feed", "GET", "/dataset/changes?since=1&since=2", nil, 400, "given 2 times"},
		{"a bad %-escape in the query", "GET", "/samples?%zz=1", nil, 400, "malformed"},
		{"a ';' between parameters", "GET", "/samples?limit=5;offset=3", nil, 400, "malformed"},
		{"a ';' in the change feed's query", "GET", "/dataset/changes?since=1;limit=2", nil, 400, "malformed"},
		{"an unknown parameter", "GET", "/samples?colour=red", nil, 400, `unknown query parameter "colour"`},
		{"an id with leading zeros", "GET", "/samples/0001", nil, 400, `got "0001"`},
		{"an id %-encoded", "GET", "/samples/%31", nil, 400, "not %-encoded"},
		{"a write to an id with leading zeros", "DELETE", "/samples/007", nil, 400, "no leading zeros"},
		{"the id as the API writes it", "GET", "/samples/1", nil, 200, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := a.Do(c.method, c.path, "", c.hdr...)
			assert.Equal(t, c.want, r.Status, "%s", r.Body)
			assert.Equal(t, "nosniff", r.Header.Get("X-Content-Type-Options"))
			if c.want >= 400 {
				assert.Equal(t, "application/problem+json", r.Header.Get("Content-Type"))
				assert.Contains(t, r.JSON(t)["detail"], c.detail)
			}
		})
	}
}

// TestAnEmptyIfMatchIsNotNoCondition: "If-Match:" with no value is a 400,
// and the sample is not deleted.
func TestAnEmptyIfMatchIsNotNoCondition(t *testing.T) {
	a := apitest.Start(t, httpapi.Config{}, nil)
	req, err := http.NewRequest(http.MethodDelete, a.URL+"/samples/3", nil)
	require.NoError(t, err)
	req.Header["If-Match"] = []string{""}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(b), "If-Match is empty")
	_, ok := a.Store.Snapshot().Get(3)
	assert.True(t, ok, "not deleted")
}

// TestOptionsWithoutOriginListsTheMethods: OPTIONS that is not a CORS
// preflight answers 204 with Allow (which has always listed OPTIONS), not
// 405; an unknown path is still 404.
func TestOptionsWithoutOriginListsTheMethods(t *testing.T) {
	a := apitest.Start(t, httpapi.Config{}, nil)
	for path, allow := range map[string]string{
		"/samples":   "GET, POST, HEAD, OPTIONS",
		"/samples/1": "GET, PUT, DELETE, HEAD, OPTIONS",
		"/predict":   "POST, OPTIONS",
	} {
		req, err := http.NewRequest(http.MethodOptions, a.URL+path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusNoContent, resp.StatusCode, path)
		assert.Equal(t, allow, resp.Header.Get("Allow"), path)
	}
}

// TestEveryJSONAnswerSaysNoSniff: successes, problems and the page alike.
func TestEveryJSONAnswerSaysNoSniff(t *testing.T) {
	a := apitest.Start(t, httpapi.Config{}, nil)
	for _, path := range []string{"/dataset", "/samples?limit=1", "/samples/1", "/healthz", "/readyz", "/samples/999999"} {
		r := a.Do("GET", path, "")
		assert.Equal(t, "nosniff", r.Header.Get("X-Content-Type-Options"), path)
	}
	r := a.Do("POST", "/predict", `{"features":[5.1,3.5,1.4,0.2]}`)
	assert.Equal(t, "nosniff", r.Header.Get("X-Content-Type-Options"))
}
