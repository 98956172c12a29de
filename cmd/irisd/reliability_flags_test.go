package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/dataset"
)

func TestReliabilityFlags(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(keyFile, []byte("  from-file-key\n"), 0o600))
	emptyFile := filepath.Join(t.TempDir(), "empty")
	require.NoError(t, os.WriteFile(emptyFile, []byte("\n"), 0o600))
	getenv := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	c, err := parseConfig([]string{"-api-key-file", keyFile, "-rate-limit", "10", "-rate-window", "2s", "-max-inflight-batch", "3", "-drain-delay", "1s", "-data-dir", "/x"}, getenv(nil), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "from-file-key", c.APIKey)
	a := c.apiConfig(nil)
	assert.Equal(t, "from-file-key", a.APIKey)
	assert.Equal(t, 10, a.RateLimit)
	assert.Equal(t, 2*time.Second, a.RateWindow)
	assert.Equal(t, 3, a.MaxHeavy)
	assert.Equal(t, time.Second, c.DrainDelay)
	assert.Equal(t, "/x", c.DataDir)

	c, err = parseConfig(nil, getenv(map[string]string{"IRIS_API_KEY": "env-key", "IRIS_DATA_DIR": "/d", "IRIS_RATE_LIMIT": "5"}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "env-key", c.APIKey)
	assert.Equal(t, "/d", c.DataDir)
	assert.Equal(t, 5, c.RateLimit)

	c, err = parseConfig(nil, getenv(map[string]string{"IRIS_API_KEY_FILE": keyFile}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "from-file-key", c.APIKey)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-api-key", "a", "-api-key-file", keyFile}, "not both"},
		{[]string{"-api-key-file", emptyFile}, "is empty"},
		{[]string{"-api-key-file", filepath.Join(t.TempDir(), "missing")}, "-api-key-file"},
		{[]string{"-rate-limit", "-1"}, "-rate-limit"},
		{[]string{"-rate-window", "0s"}, "-rate-window"},
		{[]string{"-max-inflight-batch", "0"}, "-max-inflight-batch"},
		{[]string{"-drain-delay", "-1s"}, "-drain-delay"},
	} {
		_, err := parseConfig(tc.args, getenv(nil), io.Discard)
		require.Error(t, err, "%v", tc.args)
		assert.Contains(t, err.Error(), tc.want)
	}
}

// TestDataDirThroughRun writes through run with -data-dir, stops it, and
// finds the write again after a second run.
func TestDataDirThroughRun(t *testing.T) {
	dir := t.TempDir()
	base, stop := startRun(t, "-data-dir", dir, "-api-key", "k")
	client := &http.Client{Timeout: 30 * time.Second}
	r := send(client, base, "k", writeReq{Op: dataset.OpPut, Post: true, Features: []float64{6.5, 3, 5.2, 2}, Species: "virginica"})
	require.NoError(t, r.err)
	require.Equal(t, 201, r.status)
	require.NoError(t, stop())

	base, stop = startRun(t, "-data-dir", dir)
	st := fetchState(t, client, base)
	assert.Equal(t, r.version, st.Version)
	assert.Equal(t, sampleWire{ID: r.id, Features: [4]float64{6.5, 3, 5.2, 2}, Species: "virginica"}, st.Samples[len(st.Samples)-1])
	require.NoError(t, stop())
}
