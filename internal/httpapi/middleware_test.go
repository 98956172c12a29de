package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidRequestID(t *testing.T) {
	for c := range 256 {
		want := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.'
		assert.Equal(t, want, validRequestID("id"+string([]byte{byte(c)})), "byte %#x", c)
	}
	assert.False(t, validRequestID(""))
	assert.True(t, validRequestID(strings.Repeat("a", 64)))
	assert.False(t, validRequestID(strings.Repeat("a", 65)))
	assert.Len(t, newRequestID(), 16)
	assert.True(t, validRequestID(newRequestID()))

	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	assert.Equal(t, "", requestIDFrom(r))
	r.Header.Set("X-Request-Id", "abc")
	assert.Equal(t, "abc", requestIDFrom(r))
	r.Header.Set("X-Request-Id", "a b")
	assert.Equal(t, "", requestIDFrom(r))
}

// TestLongSingleAnswer: a single answer longer than computeSingle's stack
// buffer is whole.
func TestLongSingleAnswer(t *testing.T) {
	s := newTestServer(t)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/predict", strings.NewReader(`{"features":[5.1,3.5,1.4,0.2],"k":100}`))
	req.Header.Set("Content-Type", "application/json")
	s.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Greater(t, rec.Body.Len(), 1024)
	var body struct {
		Neighbors []struct{ ID int64 } `json:"neighbors"`
		K         int                  `json:"k"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	assert.Len(t, body.Neighbors, 100)
	assert.Equal(t, 100, body.K)
}
