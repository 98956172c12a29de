package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/dataset"
)

// fuzzServer is the API over a fresh store, with small limits so that the
// fuzzer reaches them.
func fuzzServer(t testing.TB) (*Server, *dataset.Memory) {
	samples, err := dataset.ParseCSV(bytes.NewReader(data.IrisCSV), "")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := dataset.NewSnapshot(samples.Schema, samples.Samples, dataset.ScaleNone)
	if err != nil {
		t.Fatal(err)
	}
	m := dataset.NewMemory(snap, nil)
	cfg := DefaultConfig()
	cfg.MaxBatch = 50
	cfg.MaxBodyBytes = 32 << 10
	return NewServer(cfg, m), m
}

// checkAnswer fails unless rec is a well-formed answer: never a 5xx, a
// JSON body, problem+json with a detail for every error.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, in ...any) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("status %d for %q: %s", rec.Code, in, rec.Body.Bytes())
	}
	if rec.Code == http.StatusNoContent {
		return
	}
	if !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("status %d with a body that is not JSON for %q: %q", rec.Code, in, rec.Body.Bytes())
	}
	if rec.Code >= 400 {
		if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("status %d with Content-Type %q", rec.Code, ct)
		}
		var p problem
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Detail == "" || p.Status != rec.Code {
			t.Fatalf("bad problem body for %q: %s", in, rec.Body.Bytes())
		}
	}
}

// FuzzPredict sends arbitrary bodies to POST /predict through the real
// handler: every answer must be a 200 or a 4xx problem, never a 5xx or a
// panic (the recoverer would turn one into a 500).
func FuzzPredict(f *testing.F) {
	for _, s := range []string{
		`{"features":[5.1,3.5,1.4,0.2]}`,
		`{"features":{"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2},"k":3,"metric":"manhattan","weights":"distance"}`,
		`{"instances":[[5.1,3.5,1.4,0.2],[6.7,3.0,5.2,2.3]],"k":150,"metric":"chebyshev"}`,
		`{"features":[1e308,-1e308,5e-324,0],"k":1}`,
		`{"features":[NaN,1,2,3]}`,
		`{"instances":[]}`,
		`{"k":-1,"features":[1,2,3]}`,
		`{"features":[1,2,3,4],"features":[1,2,3,4]}`,
	} {
		f.Add("application/json", []byte(s))
	}
	f.Add("text/plain", []byte(`{}`))
	s, store := fuzzServer(f)
	before := store.Snapshot()
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/predict", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		checkAnswer(t, rec, contentType, body)
		if store.Snapshot() != before {
			t.Fatal("a prediction changed the training set")
		}
	})
}

// FuzzSampleWrite sends arbitrary bodies and path ids to the sample writes
// (POST /samples, PUT and DELETE /samples/{id}) through the real handler.
// Besides never failing with a 5xx, a write that succeeds must be visible
// at the next version, and one that fails must change nothing.
func FuzzSampleWrite(f *testing.F) {
	for _, s := range []string{
		`{"features":[5.1,3.5,1.4,0.2],"species":"setosa"}`,
		`{"id":7,"features":{"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2},"species":"virginica"}`,
		`{"features":[5.1,3.5,1.4],"species":"setosa"}`,
		`{"features":[5.1,3.5,1.4,0.2],"species":"rose"}`,
		`{"features":[5.1,3.5,1.4,0.2],"species":"setosa","species":"setosa"}`,
	} {
		f.Add(uint8(0), "", []byte(s))
		f.Add(uint8(1), "7", []byte(s))
	}
	f.Add(uint8(1), "9223372036854775807", []byte(`{"features":[1,2,3,4],"species":"setosa"}`))
	f.Add(uint8(2), "150", []byte(nil))
	f.Add(uint8(2), "..%2F1", []byte(nil))
	s, store := fuzzServer(f)
	f.Fuzz(func(t *testing.T, op uint8, id string, body []byte) {
		method, path := http.MethodPost, "/samples"
		switch op % 3 {
		case 1:
			method, path = http.MethodPut, "/samples/"+id
		case 2:
			method, path = http.MethodDelete, "/samples/"+id
		}
		req, err := http.NewRequest(method, path, bytes.NewReader(body))
		if err != nil {
			return // not a request a client can send
		}
		req.Header.Set("Content-Type", "application/json")
		before := store.Snapshot()
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		checkAnswer(t, rec, op, id, body)
		after := store.Snapshot()
		switch {
		case rec.Code < 300 && after.Version() != before.Version()+1:
			t.Fatalf("%s %s answered %d but the version went %d -> %d", method, path, rec.Code, before.Version(), after.Version())
		case rec.Code >= 300 && after != before:
			t.Fatalf("%s %s answered %d but changed the set", method, path, rec.Code)
		}
		if after.Len() == 1 { // keep the set big enough to be interesting
			if _, err := store.Reset(req.Context()); err != nil {
				t.Fatal(err)
			}
		}
	})
}
