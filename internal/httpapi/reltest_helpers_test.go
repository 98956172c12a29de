package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/dataset"
)

// relServer starts the API over a fresh in-memory store of the embedded
// Iris data, behind a real HTTP server.
func relServer(t testing.TB, cfg Config) (*Server, *dataset.Memory, *httptest.Server) {
	t.Helper()
	samples, err := dataset.ParseCSV(bytes.NewReader(data.IrisCSV), "")
	require.NoError(t, err)
	snap, err := dataset.NewSnapshot(samples.Schema, samples.Samples)
	require.NoError(t, err)
	m := dataset.NewMemory(snap, nil)
	s := NewServer(cfg, m)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, m, ts
}

// relDo sends a request and returns the response with its body read.
func relDo(t testing.TB, method, url string, header http.Header, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(t, err)
	if body == nil {
		req.Body = http.NoBody
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}
