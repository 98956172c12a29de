package oip_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/api"
)

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
)

// checkSpec validates a JSON answer of a /v2 route against
// api/openapi.yaml. Binary answers (application/octet-stream) are checked
// by decoding them instead.
func checkSpec(t testing.TB, method, path string, status int, header http.Header, body []byte) {
	t.Helper()
	if header.Get("Content-Type") == "application/octet-stream" || header.Get("Content-Encoding") != "" || len(body) == 0 {
		return
	}
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(api.OpenAPIYAML)
		if err == nil {
			err = doc.Validate(loader.Context)
		}
		if err == nil {
			doc.Servers = nil
			specRouter, err = legacy.NewRouter(doc)
		}
		specErr = err
	})
	require.NoError(t, specErr)
	req, _ := http.NewRequest(method, "http://localhost"+path, nil)
	route, params, err := specRouter.FindRoute(req)
	if err != nil {
		assert.Contains(t, []int{http.StatusNotFound, http.StatusMethodNotAllowed}, status, "%s %s is not in api/openapi.yaml", method, path)
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	assert.NoError(t, openapi3filter.ValidateResponse(context.Background(), in), "%s %s -> %d does not match api/openapi.yaml: %.500s", method, path, status, body)
}
