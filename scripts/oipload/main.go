// Command oipload measures one large batch two ways against a running
// irisd, one after the other: as JSON to POST /predict, and as an Open
// Inference Protocol request with binary FP32 input and binary outputs.
// The rows are the same (FP32 values, sent to /predict as the exact
// float64 they widen to). For each it prints rows/s and the server's CPU
// time per row (from /proc/PID/stat), then the ratio of the two. It checks
// first that both answers name the same labels.
//
// make loadtest runs it (scripts/loadtest.sh); by hand:
//
//	go run ./scripts/oipload -addr 127.0.0.1:8080 -pid $(pidof irisd)
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "oipload:", err)
		os.Exit(1)
	}
}

// body is one request to send.
type body struct {
	name    string
	url     string
	payload []byte
	header  map[string]string
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:8080", "irisd's address")
	pid := flag.Int("pid", 0, "irisd's process id (for its CPU time)")
	rows := flag.Int("rows", 10000, "rows per request")
	requests := flag.Int("requests", 30, "requests per measurement")
	conc := flag.Int("conc", 2, "requests in flight")
	model := flag.String("model", "iris", "the model name")
	flag.Parse()
	if *pid == 0 {
		return errors.New("-pid is required")
	}
	js, bin, jsonBody := bodies(*rows)
	predict := body{name: "json /predict", url: "http://" + *addr + "/predict", payload: jsonBody,
		header: map[string]string{"Content-Type": "application/json"}}
	oip := body{name: "oip binary FP32", url: "http://" + *addr + "/v2/models/" + *model + "/infer",
		payload: append(js, bin...), header: map[string]string{"Inference-Header-Content-Length": strconv.Itoa(len(js))}}
	if err := sameLabels(predict, oip, *rows); err != nil {
		return err
	}
	fmt.Printf("== %d-row batch, %d requests, %d in flight, in one run\n", *rows, *requests, *conc)
	fmt.Printf("%-16s %10s %10s %12s %12s\n", "path", "req/s", "rows/s", "cpu_us/row", "body_bytes")
	var cpu [2]float64
	for i, b := range []body{predict, oip} {
		rps, perRow, err := measure(b, *pid, *requests, *conc)
		if err != nil {
			return err
		}
		cpu[i] = perRow / float64(*rows)
		fmt.Printf("%-16s %10.1f %10.0f %12.3f %12d\n", b.name, rps, rps*float64(*rows), cpu[i], len(b.payload))
	}
	fmt.Printf("oip binary / json /predict CPU per row: %.3f (target <= 0.333)\n", cpu[1]/cpu[0])
	return nil
}

// bodies returns the OIP JSON header and binary FP32 rows, and the same
// rows as a /predict JSON body.
func bodies(n int) (header, bin, predict []byte) {
	var sb strings.Builder
	sb.WriteString(`{"instances":[`)
	for i := range n {
		r := [4]float32{4.3 + float32(i%36)/10, 2 + float32(i%24)/10, 1 + float32(i%59)/10, 0.1 + float32(i%25)/10}
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte('[')
		for j, v := range r {
			bin = binary.LittleEndian.AppendUint32(bin, math.Float32bits(v))
			if j > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.FormatFloat(float64(v), 'g', -1, 64))
		}
		sb.WriteByte(']')
	}
	sb.WriteString(`]}`)
	header, _ = json.Marshal(map[string]any{
		"parameters": map[string]any{"binary_data_output": true},
		"inputs": []any{map[string]any{"name": "features", "datatype": "FP32", "shape": []int{n, 4},
			"parameters": map[string]any{"binary_data_size": len(bin)}}},
	})
	return header, bin, []byte(sb.String())
}

// client asks for no compression (Go's default transport asks for gzip,
// and irisd's /v2 routes answer gzip when asked; tritonclient does not ask
// unless told to), so both paths are measured uncompressed.
var client = &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 8}}

func send(b body) ([]byte, http.Header, error) {
	req, err := http.NewRequest(http.MethodPost, b.url, bytes.NewReader(b.payload))
	if err != nil {
		return nil, nil, err
	}
	for k, v := range b.header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s answered %s: %.300s", b.url, resp.Status, out)
	}
	return out, resp.Header, err
}

// sameLabels checks that both paths give the same labels.
func sameLabels(predict, oip body, n int) error {
	pb, _, err := send(predict)
	if err != nil {
		return err
	}
	var p struct{ Predictions []struct{ Species string } }
	if err := json.Unmarshal(pb, &p); err != nil {
		return err
	}
	ob, h, err := send(oip)
	if err != nil {
		return err
	}
	hl, _ := strconv.Atoi(h.Get("Inference-Header-Content-Length"))
	var o struct {
		Outputs []struct {
			Name       string
			Parameters struct {
				BinaryDataSize int `json:"binary_data_size"`
			}
		}
	}
	if err := json.Unmarshal(ob[:hl], &o); err != nil {
		return err
	}
	tail := ob[hl:]
	// label is the first output: 4-byte lengths and names.
	labels := make([]string, 0, n)
	for b := tail[:o.Outputs[0].Parameters.BinaryDataSize]; len(b) >= 4; {
		l := int(binary.LittleEndian.Uint32(b))
		labels = append(labels, string(b[4:4+l]))
		b = b[4+l:]
	}
	if len(labels) != len(p.Predictions) {
		return fmt.Errorf("%d labels from OIP, %d predictions from /predict", len(labels), len(p.Predictions))
	}
	for i := range labels {
		if labels[i] != p.Predictions[i].Species {
			return fmt.Errorf("row %d: OIP says %s, /predict %s", i, labels[i], p.Predictions[i].Species)
		}
	}
	return nil
}

// measure sends b requests times (after two warm-ups) and returns req/s
// and the server's CPU microseconds per request.
func measure(b body, pid, requests, conc int) (float64, float64, error) {
	for range 2 {
		if _, _, err := send(b); err != nil {
			return 0, 0, err
		}
	}
	t0, err := cpuTicks(pid)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		next = make(chan struct{}, requests)
	)
	for range requests {
		next <- struct{}{}
	}
	close(next)
	for range conc {
		wg.Go(func() {
			for range next {
				if _, _, err := send(b); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	t1, err := cpuTicks(pid)
	if err != nil {
		return 0, 0, err
	}
	if err := errors.Join(errs...); err != nil {
		return 0, 0, err
	}
	cpuUS := float64(t1-t0) / clockTicks * 1e6
	return float64(requests) / wall.Seconds(), cpuUS / float64(requests), nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times (100 on Linux).
const clockTicks = 100

// cpuTicks returns a process's user+system CPU time in clock ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command (which may hold spaces) in parentheses.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return u + st, nil
}
