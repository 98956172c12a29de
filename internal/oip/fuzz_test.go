package oip_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/oip"
)

// FuzzInferDecode sends arbitrary bodies, with or without a binary part
// and gzip, to POST /v2/models/iris/infer through the real handler: every
// answer must be a 200 with a well-formed body or a 4xx {"error": ...},
// never a 5xx or a panic.
func FuzzInferDecode(f *testing.F) {
	table, err := dataset.ParseCSV(bytes.NewReader(data.IrisCSV), "")
	if err != nil {
		f.Fatal(err)
	}
	snap, err := dataset.NewSnapshot(table.Schema, table.Samples, dataset.ScaleNone)
	if err != nil {
		f.Fatal(err)
	}
	m := &oip.Model{Name: "iris", Store: dataset.NewMemory(snap, nil), MaxBatch: 50,
		Rules: dataset.QueryRules{DefaultK: 5, MaxK: 100, MaxNeighbors: 100_000}}
	h := oip.Handler(m, oip.RESTOptions{MaxBodyBytes: 32 << 10})

	fp32 := binary.LittleEndian.AppendUint32(nil, math.Float32bits(5.1))
	for _, s := range []struct {
		json   string
		bin    []byte
		header int // Inference-Header-Content-Length: -1 none, else len(json)
		gz     bool
	}{
		{`{"inputs":[{"name":"x","datatype":"FP64","shape":[1,4],"data":[5.1,3.5,1.4,0.2]}]}`, nil, -1, false},
		{`{"id":"1","parameters":{"k":3,"metric":"manhattan","weights":"distance","binary_data_output":true},"inputs":[{"name":"x","datatype":"FP32","shape":[2,4],"data":[[5.1,3.5,1.4,0.2],[6,3,5,2]]}],"outputs":[{"name":"tie"},{"name":"label","parameters":{"binary_data":false}}]}`, nil, -1, true},
		{`{"inputs":[{"name":"x","datatype":"FP32","shape":[1,4],"parameters":{"binary_data_size":16}}]}`, bytes.Repeat(fp32, 4), 1, false},
		{`{"inputs":[{"name":"x","datatype":"UINT8","shape":[1,4],"parameters":{"binary_data_size":4}}]}`, []byte{5, 3, 1, 0}, 1, true},
		{`{"inputs":[{"name":"x","datatype":"INT64","shape":[1,4],"data":[[5],[3],[1],[0]]}]}`, nil, -1, false},
		{`{"inputs":[{"datatype":"FP64","shape":[1,4],"data":[1e-400,1e400,-0,1]}]}`, nil, -1, false},
		{`{"inputs":[{"datatype":"FP64","shape":[9223372036854775807,4],"data":[]}]}`, nil, -1, false},
	} {
		hl := -1
		if s.header >= 0 {
			hl = len(s.json)
		}
		f.Add([]byte(s.json), s.bin, hl, s.gz)
	}
	f.Fuzz(func(t *testing.T, js, bin []byte, headerLen int, gz bool) {
		body := append(append([]byte(nil), js...), bin...)
		if gz {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(body)
			zw.Close()
			body = buf.Bytes()
		}
		req := httptest.NewRequest(http.MethodPost, "/v2/models/iris/infer", bytes.NewReader(body))
		if headerLen >= -1 {
			if headerLen >= 0 {
				req.Header.Set(oip.HeaderLength, strconv.Itoa(headerLen))
			}
		} else {
			req.Header.Set(oip.HeaderLength, strconv.Itoa(headerLen)) // negative: refused
		}
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("took %v for %q + %x", d, js, bin)
		}
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q + %x: %s", rec.Code, js, bin, rec.Body.Bytes())
		}
		out := rec.Body.Bytes()
		if n := rec.Header().Get(oip.HeaderLength); n != "" {
			l, err := strconv.Atoi(n)
			if err != nil || l > len(out) {
				t.Fatalf("bad %s %q for a %d-byte body", oip.HeaderLength, n, len(out))
			}
			out = out[:l]
		}
		if !json.Valid(out) {
			t.Fatalf("status %d with a body that is not JSON: %q", rec.Code, out)
		}
		if rec.Code != http.StatusOK {
			var e struct {
				Error string `json:"error"`
			}
			if json.Unmarshal(out, &e) != nil || e.Error == "" {
				t.Fatalf("status %d without an error message: %s", rec.Code, out)
			}
		}
	})
}
