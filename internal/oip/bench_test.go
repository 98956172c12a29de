package oip_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"syscall"
	"testing"

	"github.com/irisknn/irisknn/internal/oip"
)

// BenchmarkBatch10k compares one 10,000-row batch as JSON POST /predict and
// as OIP binary FP32 (in and out), through the same server, in one run:
// see ns/row.
func BenchmarkBatch10k(b *testing.B) {
	st := newStack(b, 16)
	const n = 10000
	rows := make([][]float64, n)
	var bin []byte
	for i := range rows {
		r := [4]float32{4.3 + float32(i%36)/10, 2 + float32(i%24)/10, 1 + float32(i%59)/10, 0.1 + float32(i%25)/10}
		rows[i] = []float64{float64(r[0]), float64(r[1]), float64(r[2]), float64(r[3])}
		for _, v := range r {
			bin = binary.LittleEndian.AppendUint32(bin, math.Float32bits(v))
		}
	}
	predictBody, _ := json.Marshal(map[string]any{"instances": rows})
	header, _ := json.Marshal(map[string]any{
		"parameters": map[string]any{"binary_data_output": true},
		"inputs":     []any{map[string]any{"name": "x", "datatype": "FP32", "shape": []int{n, 4}, "parameters": map[string]any{"binary_data_size": len(bin)}}},
	})
	oipBody := append(header, bin...)
	for _, c := range []struct {
		name string
		path string
		body []byte
		hdr  map[string]string
	}{
		{"json_predict", "/predict", predictBody, map[string]string{"Content-Type": "application/json"}},
		{"oip_binary_fp32", "/v2/models/iris/infer", oipBody, map[string]string{oip.HeaderLength: strconv.Itoa(len(header))}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, c.path, bytes.NewReader(c.body))
				for k, v := range c.hdr {
					req.Header.Set(k, v)
				}
				rec := httptest.NewRecorder()
				st.api.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%d: %s", rec.Code, rec.Body.Bytes())
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/row")
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/n, "cpu-ns/row")
		})
	}
}

// cpuTime returns the process's user+system CPU time in nanoseconds: on a
// shared machine a steadier measure than wall time.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
