package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/httpapi"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestParseConfig(t *testing.T) {
	c, err := parseConfig(nil, env(), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, ":8080", c.Addr)
	assert.Equal(t, []string{"*"}, c.origins())
	assert.Equal(t, 5, c.K)

	// The environment fills what flags do not give; flags win.
	c, err = parseConfig([]string{"-k", "7"}, env("IRIS_ADDR", "127.0.0.1:9", "IRIS_K", "3",
		"IRIS_CORS_ORIGINS", "http://a.example, http://b.example", "IRIS_METRIC", "manhattan", "IRIS_DATA", "x.csv"), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9", c.Addr)
	assert.Equal(t, 7, c.K)
	assert.Equal(t, "manhattan", c.Metric)
	assert.Equal(t, "x.csv", c.DataPath)
	assert.Equal(t, []string{"http://a.example", "http://b.example"}, c.origins())

	for _, tc := range []struct {
		args []string
		env  func(string) string
		want string
	}{
		{[]string{"-k", "0"}, env(), "-k must be at least 1"},
		{[]string{"-metric", "cosine"}, env(), "-metric"},
		{[]string{"-weights", "x"}, env(), "-weights"},
		{[]string{"-k", "20", "-max-k", "10"}, env(), "larger than -max-k"},
		{nil, env("IRIS_K", "many"), "$IRIS_K"},
		{nil, env("IRIS_READ_TIMEOUT", "-1s"), "-read-timeout must be positive"},
		{[]string{"extra"}, env(), "unexpected arguments"},
		{[]string{"-log-level", "loud"}, env(), "-log-level"},
		{[]string{"-keep-versions", "0"}, env(), "-keep-versions must be at least 1"},
		{nil, env("IRIS_MODEL_NAME", "my/model"), "-model-name"},
	} {
		_, err := parseConfig(tc.args, tc.env, io.Discard)
		require.Error(t, err, "%v", tc.args)
		assert.Contains(t, err.Error(), tc.want)
	}
}

func TestHelpDocumentsEveryFlag(t *testing.T) {
	var out strings.Builder
	_, err := parseConfig([]string{"-h"}, env(), &out)
	assert.True(t, errors.Is(err, flag.ErrHelp))
	for _, want := range []string{"-addr [$IRIS_ADDR]", "-cors-origins [$IRIS_CORS_ORIGINS]", "-data [$IRIS_DATA]", "-label [$IRIS_LABEL]", "-scale [$IRIS_SCALE]", "-k [$IRIS_K]", "-healthcheck\n"} {
		assert.Contains(t, out.String(), want)
	}
}

// startRun runs the program on a free port and returns its base URL and a
// function that stops it and returns run's error.
func startRun(t *testing.T, args ...string) (string, func() error) {
	t.Helper()
	return startRunEnv(t, env(), args...)
}

// startRunEnv is startRun with an environment.
func startRunEnv(t *testing.T, getenv func(string) string, args ...string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0", "-grpc-addr", "127.0.0.1:0"}, args...), getenv, pw, io.Discard)
		pw.Close()
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addr <- line.Addr
			}
		}
	}()
	select {
	case a := <-addr:
		stop := func() error { cancel(); return <-done }
		t.Cleanup(func() { cancel() })
		return "http://" + a, stop
	case err := <-done:
		cancel()
		t.Fatalf("run exited early: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("irisd did not start listening in 30s")
	}
	return "", nil
}

func TestRunEndToEnd(t *testing.T) {
	base, stop := startRun(t)
	resp, err := http.Post(base+"/predict", "application/json", strings.NewReader(`{"features":[6.7,3.0,5.2,2.3]}`))
	require.NoError(t, err)
	var body struct {
		Species string `json:"species"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "virginica", body.Species)

	// irisd -healthcheck against the running server.
	addr := strings.TrimPrefix(base, "http://")
	assert.NoError(t, run(context.Background(), []string{"-healthcheck", "-addr", addr}, env(), io.Discard, io.Discard))

	require.NoError(t, stop(), "graceful shutdown returns nil")
	assert.Error(t, run(context.Background(), []string{"-healthcheck", "-addr", addr}, env(), io.Discard, io.Discard),
		"healthcheck fails when nothing listens")
}

func TestRunWithDataFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.csv")
	require.NoError(t, os.WriteFile(good, []byte("sepal_length,sepal_width,petal_length,petal_width,species\n0,0,0,0,small\n10,10,10,10,big\n9,9,9,9,big\n"), 0o644))
	base, stop := startRun(t, "-data", good, "-k", "1")
	resp, err := http.Post(base+"/predict", "application/json", strings.NewReader(`{"features":[8,8,8,8]}`))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(b), `"species":"big"`)
	assert.Contains(t, string(b), `"probabilities":{"big":1,"small":0}`)
	require.NoError(t, stop())

	bad := filepath.Join(dir, "bad.csv")
	require.NoError(t, os.WriteFile(bad, []byte("sepal_length,sepal_width,petal_length,petal_width,species\n1,2,x,4,a\n"), 0o644))
	err = run(context.Background(), []string{"-data", bad}, env(), io.Discard, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 2: petal_length")
	err = run(context.Background(), []string{"-data", filepath.Join(dir, "missing.csv")}, env(), io.Discard, io.Discard)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestVersionPrintsTheBuild(t *testing.T) {
	for _, args := range [][]string{{"-version"}, {"worker", "-version"}} {
		var out strings.Builder
		require.NoError(t, run(context.Background(), args, env(), &out, io.Discard), "%v", args)
		assert.Regexp(t, `^irisd \S+ \(commit \S+, built \S+, go\S+\)\n$`, out.String(), "%v", args)
	}
}

func TestMetricsReportTheBuild(t *testing.T) {
	base, stop := startRun(t)
	defer stop()
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Regexp(t, `(?m)^irisknn_build_info\{build_date="[^"]+",commit="[^"]+",go_version="go[^"]+",version="[^"]+"\} 1$`, string(b))
}

func TestLogDurationsReadAsDurations(t *testing.T) {
	c, err := parseConfig([]string{"-shutdown-timeout", "15s"}, env(), io.Discard)
	require.NoError(t, err)
	var out strings.Builder
	c.logger(&out).Info("shutting down", "timeout", c.ShutdownTO)
	assert.Contains(t, out.String(), `"timeout":"15s"`)
}

// TestAccessLogLines: the access line of a request, in both formats, as
// slog writes it: time, level, msg, then the request's fields in order,
// the duration as text; a path that needs escaping is escaped.
func TestAccessLogLines(t *testing.T) {
	samples, err := dataset.ParseCSV(bytes.NewReader(data.IrisCSV), "")
	require.NoError(t, err)
	snap, err := dataset.NewSnapshot(samples.Schema, samples.Samples, dataset.ScaleNone)
	require.NoError(t, err)
	store := dataset.NewMemory(snap, nil)
	for _, tc := range []struct {
		format          string
		predict, escape string
	}{
		{"json",
			`^\{"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)","level":"INFO","msg":"request","method":"POST","path":"/predict","status":200,"bytes":\d+,"duration":"\d+(\.\d+)?(ns|µs|ms|s)","remote":"192\.0\.2\.1:1234","request_id":"[0-9a-f]{16}"\}$`,
			`"path":"/no\"such\u0001","status":404,`},
		{"text",
			`^time=\S+ level=INFO msg=request method=POST path=/predict status=200 bytes=\d+ duration=\d+(\.\d+)?(ns|µs|ms|s) remote=192\.0\.2\.1:1234 request_id=[0-9a-f]{16}$`,
			`path="/no\"such\x01" status=404 `},
	} {
		t.Run(tc.format, func(t *testing.T) {
			c, err := parseConfig([]string{"-log-format", tc.format}, env(), io.Discard)
			require.NoError(t, err)
			var out bytes.Buffer
			api := httpapi.NewServer(c.apiConfig(c.logger(&out)), store)
			req := httptest.NewRequest(http.MethodPost, "/predict", strings.NewReader(`{"features":[5.1,3.5,1.4,0.2]}`))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, req)
			require.Equal(t, http.StatusOK, rec.Code)
			assert.Regexp(t, tc.predict, strings.TrimSuffix(out.String(), "\n"))
			assert.Contains(t, out.String(), fmt.Sprintf("bytes%s%d", map[string]string{"json": `":`, "text": "="}[tc.format], rec.Body.Len()))

			out.Reset()
			api.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/no%22such%01", nil))
			assert.Contains(t, out.String(), tc.escape)
		})
	}
}

func TestHealthcheckFollowsTheAddressTheServerWrote(t *testing.T) {
	addrFile := filepath.Join(t.TempDir(), "irisd.addr")
	base, stop := startRun(t, "-addr-file", addrFile)
	addr := strings.TrimPrefix(base, "http://")
	b, err := os.ReadFile(addrFile)
	require.NoError(t, err)
	assert.Equal(t, addr+"\n", string(b))

	// The image's health check gives no -addr: IRIS_ADDR says :8080 (where
	// nothing listens), the file says where the server is.
	hcEnv := env("IRIS_ADDR", "127.0.0.1:1", "IRIS_ADDR_FILE", addrFile)
	assert.NoError(t, run(context.Background(), []string{"-healthcheck"}, hcEnv, io.Discard, io.Discard))
	// An -addr on the command line wins over the file.
	assert.Error(t, run(context.Background(), []string{"-healthcheck", "-addr", "127.0.0.1:1"}, hcEnv, io.Discard, io.Discard))

	require.NoError(t, stop())
	assert.NoFileExists(t, addrFile, "removed on exit")
	assert.Error(t, run(context.Background(), []string{"-healthcheck"}, hcEnv, io.Discard, io.Discard))
}

func TestBrowseURL(t *testing.T) {
	for addr, want := range map[string]string{
		"[::]:8080":      "http://localhost:8080/",
		"0.0.0.0:9000":   "http://localhost:9000/",
		"127.0.0.1:8081": "http://127.0.0.1:8081/",
		"[::1]:8080":     "http://[::1]:8080/",
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		require.NoError(t, err)
		assert.Equal(t, want, browseURL(a), addr)
	}
}

// TestRunWithOwnData loads a set that is not Iris, its label chosen with
// -label and its features scaled with IRIS_SCALE, and checks what it
// serves; a bad label or scaling stops the start with a clear error.
func TestRunWithOwnData(t *testing.T) {
	dir := t.TempDir()
	wine := filepath.Join(dir, "wine.csv")
	require.NoError(t, os.WriteFile(wine, []byte("class,alcohol,malic acid\n1,13.2,1.78\n1,13.16,2.36\n2,12.37,0.94\n2,12.33,1.1\n"), 0o644))
	base, stop := startRunEnv(t, env("IRIS_SCALE", "minmax"), "-data", wine, "-label", "class", "-k", "1")
	resp, err := http.Get(base + "/dataset")
	require.NoError(t, err)
	var ds struct {
		Features []string `json:"features"`
		Label    string   `json:"label"`
		Scaler   struct {
			Kind string `json:"kind"`
		} `json:"scaler"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ds))
	resp.Body.Close()
	assert.Equal(t, []string{"alcohol", "malic acid"}, ds.Features)
	assert.Equal(t, "class", ds.Label)
	assert.Equal(t, "minmax", ds.Scaler.Kind)
	resp, err = http.Post(base+"/predict", "application/json", strings.NewReader(`{"features":{"alcohol":12.4,"malic acid":1.0}}`))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(b), `"class":"2"`)
	require.NoError(t, stop())

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-data", wine, "-label", "colour"}, `line 1: no label column "colour" (-label)`},
		{[]string{"-data", wine, "-scale", "zscore"}, `-scale: unknown scaling "zscore"`},
	} {
		err := run(context.Background(), tc.args, env(), io.Discard, io.Discard)
		assert.ErrorContains(t, err, tc.want)
	}
}
