package httpapi

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/logging"
)

// slowDecode is the reference: the encoding/json path alone.
func slowDecode(body []byte) (predictRequest, error) {
	var req predictRequest
	err := decodePredictSlow(body, dataset.IrisSchema(), &req)
	return req, err
}

// describe renders a decode outcome for comparison: the status, message
// and fields of an error, or the decoded request.
func describe(req predictRequest, err error) string {
	if err != nil {
		status, msg, fields := errorStatus(err)
		return fmt.Sprintf("error %d %q %v", status, msg, fields)
	}
	out := "ok"
	if req.Features != nil {
		out += fmt.Sprintf(" features=%#v", *req.Features)
	}
	if req.Instances != nil {
		out += fmt.Sprintf(" instances=%#v", req.Instances)
	}
	if req.K != nil {
		out += fmt.Sprintf(" k=%d", *req.K)
	}
	if req.Metric != nil {
		out += fmt.Sprintf(" metric=%q", *req.Metric)
	}
	if req.Weights != nil {
		out += fmt.Sprintf(" weights=%q", *req.Weights)
	}
	return out
}

// checkSame fails unless the fast decoder gives exactly what the
// encoding/json path gives for body (and reports whether the fast path
// itself, not its fallback, accepted it).
func checkSame(t testing.TB, body []byte) bool {
	want, werr := slowDecode(bytes.Clone(body))
	var got predictRequest
	gerr := decodePredictBody(bytes.Clone(body), dataset.IrisSchema(), &got)
	if describe(want, werr) != describe(got, gerr) || (werr == nil && !reflect.DeepEqual(want, got)) {
		t.Fatalf("body %q:\nencoding/json: %s\nfast:          %s", body, describe(want, werr), describe(got, gerr))
	}
	p := predictParser{b: body, schema: dataset.IrisSchema(), nums: make([]float64, 0, 8)}
	return p.parse()
}

// mutate returns seed with one to three random insertions, deletions or
// replacements of bytes of alphabet.
func mutate(rng *rand.Rand, seed string, alphabet []byte) []byte {
	b := []byte(seed)
	for range 1 + rng.IntN(3) {
		i := rng.IntN(len(b) + 1)
		switch rng.IntN(3) {
		case 0:
			b = append(b[:i], append([]byte{alphabet[rng.IntN(len(alphabet))]}, b[i:]...)...)
		case 1:
			if i < len(b) {
				b = append(b[:i], b[i+1:]...)
			}
		default:
			if i < len(b) {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
		}
	}
	return b
}

var predictSeeds = []string{
	`{"features":[5.1,3.5,1.4,0.2]}`,
	` { "features" : [ 5.1 , 3.5 , 1.4 , 0.2 ] , "k" : 3 , "metric" : "manhattan" , "weights" : "distance" } `,
	"{\n\t\"features\":[5,3,1,0]\r\n}\n",
	`{"features":{"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2}}`,
	`{"features":{"petal_width":0.2,"sepal_length":5.1}}`,
	`{"features":{}}`,
	`{"features":{"sepal_length":5.1,"sepal_length":5.1}}`,
	`{"features":{"sepal_length":5.1,"color":1}}`,
	`{"features":[1,2,3]}`,
	`{"features":[1,2,3,4,5]}`,
	`{"features":[]}`,
	`{"features":null}`,
	`{"features":"1,2,3,4"}`,
	`{"features":[1,2,3,"4"]}`,
	`{"features":[1,2,3,NaN]}`,
	`{"features":[1,2,3,Infinity]}`,
	`{"features":[1,2,3,-Infinity]}`,
	`{"features":[1,2,3,1e400]}`,
	`{"features":[1,2,3,1e-400]}`,
	`{"features":[1,2,3,-0]}`,
	`{"features":[01,2,3,4]}`,
	`{"features":[1.,2,3,4]}`,
	`{"features":[.5,2,3,4]}`,
	`{"features":[+1,2,3,4]}`,
	`{"features":[1E+2,2e-2,3.25E5,4]}`,
	`{"features":[1,2,3,4]} x`,
	`{"features":[1,2,3,4]}{}`,
	`{"features":[1,2,3,4],}`,
	`{"features":[1,2,3,4,]}`,
	`{"features":[1,2,3,4]`,
	`{"features":[1,2,3,4],"features":[1,2,3,4]}`,
	`{"Features":[1,2,3,4]}`,
	`{"FEATURES":[1,2,3,4]}`,
	`{"feat\u0075res":[1,2,3,4]}`,
	`{"features":[1,2,3,4],"extra":1}`,
	`{"features":[1,2,3,4],"k":2.0}`,
	`{"features":[1,2,3,4],"k":1e1}`,
	`{"features":[1,2,3,4],"k":-1}`,
	`{"features":[1,2,3,4],"k":0}`,
	`{"features":[1,2,3,4],"k":99999999999999999999}`,
	`{"features":[1,2,3,4],"k":"3"}`,
	`{"features":[1,2,3,4],"k":null}`,
	`{"features":[1,2,3,4],"metric":"cosine"}`,
	`{"features":[1,2,3,4],"metric":"MANHATTAN"}`,
	`{"features":[1,2,3,4],"metric":"man\u0068attan"}`,
	`{"features":[1,2,3,4],"metric":null}`,
	`{"features":[1,2,3,4],"metric":1}`,
	"{\"features\":[1,2,3,4],\"metric\":\"\xff\"}",
	"{\"features\":[1,2,3,4],\"metric\":\"é\"}",
	`{"instances":[[5.1,3.5,1.4,0.2],[6,3,5,2]]}`,
	`{"instances":[[5.1,3.5,1.4,0.2],{"sepal_length":1,"sepal_width":2,"petal_length":3,"petal_width":4}]}`,
	`{"instances":[]}`,
	`{"instances":null}`,
	`{"instances":[null]}`,
	`{"instances":[[1,2,3]]}`,
	`{"instances":[[1,2,3,4]],"features":[1,2,3,4]}`,
	`{"instances":[[1,2,3,4],]}`,
	`{"instances":{}}`,
	`{}`,
	`[]`,
	`null`,
	``,
	`   `,
	`{"features":[1,2,3,4]}` + "\x00",
	"\ufeff{\"features\":[1,2,3,4]}",
}

func TestDecodePredictMatchesEncodingJSON(t *testing.T) {
	fast := 0
	for _, s := range predictSeeds {
		if checkSame(t, []byte(s)) {
			fast++
		}
	}
	assert.Greater(t, fast, 10, "the fast path takes the common bodies")
	assert.True(t, checkSame(t, []byte(predictSeeds[0])), "the plain single body takes the fast path")
	assert.True(t, checkSame(t, []byte(predictSeeds[3])), "the named form takes the fast path")

	// Mutations of the seeds: random insertions, deletions and
	// replacements with the bytes that matter to JSON.
	rng := rand.New(rand.NewPCG(11, 12))
	alphabet := []byte(`{}[],:" 0123456789.eE+-nulltrueNaInfity\fkmsw_\` + "\t\n\x00\xff")
	n := 30000
	if testing.Short() {
		n = 5000
	}
	for range n {
		checkSame(t, mutate(rng, predictSeeds[rng.IntN(len(predictSeeds))], alphabet))
	}
	// Random well-formed batches, both forms, odd spacing.
	for range 300 {
		var sb strings.Builder
		sb.WriteString(`{"instances":[`)
		rows := rng.IntN(20)
		for r := range rows {
			if r > 0 {
				sb.WriteString(" ,\n")
			}
			if rng.IntN(2) == 0 {
				fmt.Fprintf(&sb, "[%v,%v, %v ,%v]", rng.NormFloat64(), rng.Float64()*1e-7, rng.IntN(100), rng.Float64()*1e22)
			} else {
				fmt.Fprintf(&sb, `{"petal_width":%v,"sepal_length":%v,"sepal_width":%v,"petal_length":%v}`, rng.Float64(), rng.IntN(9), -rng.Float64(), rng.Float64())
			}
		}
		fmt.Fprintf(&sb, `],"k":%d}`, rng.IntN(10))
		assert.True(t, checkSame(t, []byte(sb.String())), sb.String())
	}
}

// TestPredictBodyStatuses checks the statuses through the real handler:
// the fast path must not change any of them.
func TestPredictBodyStatuses(t *testing.T) {
	s := newTestServer(t)
	for _, tc := range []struct {
		body, ct string
		want     int
	}{
		{`{"features":[5.1,3.5,1.4,0.2]}`, "application/json", 200},
		{`{"features":{"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2}}`, "application/json", 200},
		{`{"features":[5.1,3.5,1.4,0.2]}`, "", 200},
		{`{"features":[5.1,3.5,1.4,0.2]}`, "application/problem+json; charset=utf-8", 200},
		{`{"features":[5.1,3.5,1.4,0.2]}`, "text/plain", 415},
		{`{"features":[5.1,3.5,1.4,0.2],"features":[1,2,3,4]}`, "application/json", 400},
		{`{"features":[5.1,3.5,1.4,0.2],"color":"red"}`, "application/json", 400},
		{`{"features":[NaN,3.5,1.4,0.2]}`, "application/json", 400},
		{`{"features":[Infinity,3.5,1.4,0.2]}`, "application/json", 400},
		{"{\"features\":[5.1,3.5,1.4,0.2],\"metric\":\"\xff\"}", "application/json", 400},
		{`{"features":[5.1,3.5,1.4,0.2]} {}`, "application/json", 400},
		{`{"features":[5.1,3.5,1.4]}`, "application/json", 422},
		{`{"features":[5.1,3.5,1.4,0.2],"k":0}`, "application/json", 422},
		{`{"instances":[[5.1,3.5,1.4,0.2],[6,3,5,2]]}`, "application/json", 200},
		{`{"instances":[]}`, "application/json", 422},
		{`{"features":[1e400,3.5,1.4,0.2]}`, "application/json", 400},
	} {
		t.Run(tc.body, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/predict", strings.NewReader(tc.body))
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			assert.Equal(t, tc.want, rec.Code, rec.Body.String())
		})
	}
	big := `{"instances":[` + strings.Repeat(`[5.1,3.5,1.4,0.2],`, 600000) + `[1,2,3,4]]}`
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/predict", strings.NewReader(big)))
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
}

func FuzzDecodePredict(f *testing.F) {
	for _, s := range predictSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkSame(t, body) })
}

func BenchmarkDecodePredict(b *testing.B) {
	single := []byte(predictSeeds[0])
	var rows []string
	for range 100 {
		rows = append(rows, "[5.1,3.5,1.4,0.2]")
	}
	batch := []byte(`{"instances":[` + strings.Join(rows, ",") + `]}`)
	for _, tc := range []struct {
		name string
		body []byte
	}{{"single", single}, {"batch100", batch}} {
		b.Run(tc.name+"/fast", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var req predictRequest
				if err := decodePredictBody(tc.body, dataset.IrisSchema(), &req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var req predictRequest
				if err := decodePredictSlow(tc.body, dataset.IrisSchema(), &req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func newTestServer(t testing.TB) *Server {
	t.Helper()
	samples, err := irisSamples()
	require.NoError(t, err)
	return NewServer(DefaultConfig(), samples)
}

// BenchmarkServePredict is one POST /predict through the whole handler
// chain (router, middleware, access log as irisd writes it, decode, KNN,
// encode), without the network: the part of a request's cost that is
// irisd's own.
func BenchmarkServePredict(b *testing.B) {
	store, err := irisSamples()
	require.NoError(b, err)
	for _, tc := range []struct {
		name string
		log  bool
	}{{"log=json", true}, {"log=off", false}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := DefaultConfig()
			if tc.log {
				cfg.Logger = logging.New(io.Discard, "json", slog.LevelInfo)
			}
			benchServe(b, NewServer(cfg, store), http.MethodPost, "/predict", predictSeeds[0])
		})
	}
}

// benchServe times one JSON request with body through s's whole handler
// chain, after checking that it answers 200, with a fresh request id each
// time, as the load test's requests have.
func benchServe(b *testing.B, s *Server, method, path, body string) {
	b.Helper()
	raw := []byte(body)
	rd := bytes.NewReader(raw)
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	require.Equal(b, http.StatusOK, rec.Code, rec.Body.String())
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(raw)
		rec.Body.Reset()
		clear(rec.Header())
		delete(req.Header, "X-Request-Id")
		s.ServeHTTP(rec, req)
	}
}

// BenchmarkServePredictBatch is BenchmarkServePredict for the load test's
// 100-row batch (with the JSON access log; the prediction cache off).
func BenchmarkServePredictBatch(b *testing.B) {
	store, err := irisSamples()
	require.NoError(b, err)
	cfg := DefaultConfig()
	cfg.Logger = logging.New(io.Discard, "json", slog.LevelInfo)
	s := NewServer(cfg, store)
	var sb strings.Builder
	sb.WriteString(`{"instances":[`)
	for i := range 100 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "[%.1f,%.1f,%.1f,%.1f]", 4.3+float64(i%36)/10, 2+float64(i%24)/10, 1+float64(i%59)/10, 0.1+float64(i%25)/10)
	}
	sb.WriteString(`]}`)
	benchServe(b, s, http.MethodPost, "/predict", sb.String())
}
