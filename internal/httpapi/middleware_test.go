package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
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
