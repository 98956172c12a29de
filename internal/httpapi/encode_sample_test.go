package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/logging"
)

func TestAppendQuotedMatchesMarshal(t *testing.T) {
	for _, s := range []string{
		"", "setosa", "Iris-versicolor", "class 3", "a\"b", `back\slash`, "<b>", "a&b", "tab\there",
		"new\nline", "\x00", "\x7f", "ünïcödé", "\u2028", "\xff\xfe", "emoji 🌸", "~!@#$%^*()_+{}|:?",
	} {
		t.Run(fmt.Sprintf("%q", s), func(t *testing.T) {
			want, err := json.Marshal(s)
			require.NoError(t, err)
			assert.Equal(t, string(want), string(appendQuoted(nil, s)))
			assert.Equal(t, "x"+string(want), string(appendQuoted([]byte("x"), s)), "appends to what is there")
		})
	}
}

func FuzzAppendQuoted(f *testing.F) {
	for _, s := range []string{"setosa", "a\"b", "<", "\xff", "\u2028", "\x01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendQuoted(nil, s)))
	})
}

func TestETagIsTheRevisionIn16HexDigits(t *testing.T) {
	for _, x := range []dataset.Sample{
		{ID: 1, Features: []float64{5.1, 3.5, 1.4, 0.2}, Label: "setosa"},
		{ID: 2, Features: []float64{0}, Label: ""},
		{ID: math.MaxInt64, Features: []float64{-1e300, math.SmallestNonzeroFloat64}, Label: "ünï"},
	} {
		assert.Equal(t, fmt.Sprintf(`"%016x"`, uint64(x.Revision())), etag(x))
	}
}

func TestSampleAnswerIsWhatJSONMarshalWrites(t *testing.T) {
	schema := dataset.IrisSchema()
	for _, x := range []dataset.Sample{
		{ID: 7, Features: []float64{5.1, 3.5, 1.4, 0.2}, Label: "setosa"},
		{ID: 8, Features: []float64{1e-7, 1e21, math.Copysign(0, -1), 123456789.125}, Label: "a<b>&\"c\""},
	} {
		want, err := json.Marshal(map[string]any{"id": x.ID, "features": x.Features, schema.Label(): x.Label})
		require.NoError(t, err)
		rec := httptest.NewRecorder()
		writeSample(rec, http.StatusOK, 3, schema, x)
		assert.JSONEq(t, string(want), rec.Body.String())
		assert.Equal(t, etag(x), rec.Header().Get("ETag"))
		assert.Equal(t, "3", rec.Header().Get("X-Dataset-Version"))
		assert.True(t, json.Valid(rec.Body.Bytes()))
	}
}

// BenchmarkServePut is one PUT /samples/{id} through the whole handler
// chain (router, middleware, access log as irisd writes it, decode, the
// in-memory store's write, the answer), without the network and without
// a journal: irisd's own cost of a write before its fsync.
func BenchmarkServePut(b *testing.B) {
	store, err := irisSamples()
	require.NoError(b, err)
	cfg := DefaultConfig()
	cfg.Logger = logging.New(io.Discard, "json", slog.LevelInfo)
	benchServe(b, NewServer(cfg, store), http.MethodPut, "/samples/7", `{"features":[5.1,3.5,1.4,0.3],"species":"setosa"}`)
}
