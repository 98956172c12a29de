package main

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCORSOriginsMustBeOrigins(t *testing.T) {
	for _, ok := range []string{"*", "http://localhost:3000", "https://iris.example", "http://127.0.0.1:8080, https://*.example.com"} {
		_, err := parseConfig([]string{"-cors-origins", ok}, env(), io.Discard)
		assert.NoError(t, err, ok)
	}
	for _, bad := range []string{"http://localhost:3000/", "localhost:3000", "http://a.example/app", "ftp://a.example", "http://a.example?x=1", "http://", "//a.example"} {
		_, err := parseConfig([]string{"-cors-origins", bad}, env(), io.Discard)
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), "is not an origin", bad)
	}
}
