package oip_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/httpapi"
	"github.com/irisknn/irisknn/internal/knn"
	"github.com/irisknn/irisknn/internal/novelty"
	"github.com/irisknn/irisknn/internal/oip"
	pb "github.com/irisknn/irisknn/internal/oip/inferencepb"
)

// stack is the service as irisd wires it: the REST API with the protocol
// under /v2 on an httptest server, and the gRPC server on a real loopback
// listener, over one in-memory store.
type stack struct {
	url   string
	store *dataset.Memory
	api   *httpapi.Server
	model *oip.Model
	grpc  pb.GRPCInferenceServiceClient
	conn  *grpc.ClientConn
	gsrv  *oip.GRPC
}

// testNoveltyThreshold is the stack's novelty threshold (not the default,
// so that the output's threshold parameter is seen to follow it).
const testNoveltyThreshold = 90

func newStack(t testing.TB, keep int) *stack {
	t.Helper()
	table, err := dataset.ParseCSV(bytes.NewReader(data.IrisCSV), "")
	require.NoError(t, err)
	snap, err := dataset.NewSnapshot(table.Schema, table.Samples, dataset.ScaleNone)
	require.NoError(t, err)
	st := &stack{store: dataset.NewMemoryKeep(snap, nil, keep)}
	cfg := httpapi.DefaultConfig()
	cfg.Novelty = novelty.NewTracker(testNoveltyThreshold) // shared, as irisd shares it
	st.model = &oip.Model{Name: "iris", Store: st.store, MaxBatch: cfg.MaxBatch, ServerName: "irisknn", ServerVersion: "test",
		Ready: func() bool { return st.api.Ready() }, Novelty: cfg.Novelty}
	cfg.V2 = oip.Handler(st.model, oip.RESTOptions{MaxBodyBytes: cfg.MaxBodyBytes})
	st.api = httpapi.NewServer(cfg, st.store)
	st.model.Rules = st.api.QueryRules()
	srv := httptest.NewServer(st.api)
	t.Cleanup(srv.Close)
	st.url = srv.URL

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	st.gsrv = oip.NewGRPC(st.model, oip.GRPCOptions{})
	go st.gsrv.Server.Serve(ln)
	t.Cleanup(st.gsrv.Stop)
	st.conn, err = grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { st.conn.Close() })
	st.grpc = pb.NewGRPCInferenceServiceClient(st.conn)
	return st
}

// row is one prediction in a protocol-neutral form.
type row struct {
	Label string
	Probs []float64 // in class order
	IDs   []int64
	Dists []float64
	Tie   bool
	// Novelty is the row's novelty percentile (POST /predict's
	// novelty.percentile).
	Novelty float64
}

// settings of a request; nil fields are left to the server's defaults.
type settings struct {
	K       *int
	Metric  *string
	Weights *string
	Version *uint64
}

func intp(v int) *int          { return &v }
func strp(v string) *string    { return &v }
func f32(v float64) float64    { return float64(float32(v)) }
func jsonNum(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// predict asks POST /predict for rows and returns its answers, its status
// and, for an error, its problem detail.
func (st *stack) predict(t testing.TB, rows [][]float64, s settings) ([]row, int, string) {
	t.Helper()
	body := map[string]any{"instances": rows}
	if s.K != nil {
		body["k"] = *s.K
	}
	if s.Metric != nil {
		body["metric"] = *s.Metric
	}
	if s.Weights != nil {
		body["weights"] = *s.Weights
	}
	if s.Version != nil {
		body["dataset_version"] = *s.Version
	}
	b, _ := json.Marshal(body)
	resp, err := http.Post(st.url+"/predict", "application/json", bytes.NewReader(b))
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var p struct{ Detail string }
		require.NoError(t, json.Unmarshal(raw, &p), "%s", raw)
		return nil, resp.StatusCode, p.Detail
	}
	var out struct {
		Predictions []struct {
			Species       string
			Probabilities map[string]float64
			Neighbors     []struct {
				ID       int64
				Distance float64
			}
			Tie     bool
			Novelty struct{ Percentile float64 }
		}
	}
	require.NoError(t, json.Unmarshal(raw, &out))
	classes := st.store.Snapshot().Classes()
	rs := make([]row, len(out.Predictions))
	for i, p := range out.Predictions {
		r := row{Label: p.Species, Tie: p.Tie, Novelty: p.Novelty.Percentile}
		for _, c := range classes {
			r.Probs = append(r.Probs, p.Probabilities[c])
		}
		for _, n := range p.Neighbors {
			r.IDs = append(r.IDs, n.ID)
			r.Dists = append(r.Dists, n.Distance)
		}
		rs[i] = r
	}
	return rs, http.StatusOK, ""
}

// restReq describes how to send an inference request over REST.
type restReq struct {
	datatype   string   // FP64, FP32, INT32, ...
	flat       bool     // data flat rather than nested
	binaryIn   bool     // the input as binary data
	binaryOut  bool     // binary_data_output
	outputs    []string // selected outputs (nil: all)
	binaryEach bool     // binary_data on each selected output instead
	gzipReq    bool
	gzipResp   bool
	jsonCT     bool // Content-Type: application/json (else none)
	id         string
	path       string // default /v2/models/iris[/versions/v]/infer
}

// encodeRows returns the rows in the request's datatype: JSON values and
// binary bytes.
func encodeRows(rows [][]float64, datatype string) (nested [][]json.Number, flat []json.Number, raw []byte) {
	le := binary.LittleEndian
	for _, r := range rows {
		var jr []json.Number
		for _, v := range r {
			var n json.Number
			switch datatype {
			case "FP32":
				n = json.Number(strconv.FormatFloat(v, 'g', -1, 32))
				raw = le.AppendUint32(raw, math.Float32bits(float32(v)))
			case "FP64":
				n = json.Number(jsonNum(v))
				raw = le.AppendUint64(raw, math.Float64bits(v))
			case "INT32":
				n = json.Number(strconv.Itoa(int(math.Round(v))))
				raw = le.AppendUint32(raw, uint32(int32(math.Round(v))))
			case "INT64":
				n = json.Number(strconv.Itoa(int(math.Round(v))))
				raw = le.AppendUint64(raw, uint64(int64(math.Round(v))))
			case "UINT8":
				n = json.Number(strconv.Itoa(int(math.Round(v))))
				raw = append(raw, uint8(math.Round(v)))
			}
			jr = append(jr, n)
		}
		nested = append(nested, jr)
		flat = append(flat, jr...)
	}
	return
}

// infer sends rows over REST as rq says and returns the answers in row
// form (only the outputs returned are filled), the output names in order,
// the status and the error message.
func (st *stack) infer(t testing.TB, rows [][]float64, s settings, rq restReq) ([]row, []string, int, string) {
	t.Helper()
	nested, flat, raw := encodeRows(rows, rq.datatype)
	in := map[string]any{"name": "input-0", "datatype": rq.datatype, "shape": []int{len(rows), len(rows[0])}}
	switch {
	case rq.binaryIn:
		in["parameters"] = map[string]any{"binary_data_size": len(raw)}
	case rq.flat:
		in["data"] = flat
	default:
		in["data"] = nested
	}
	params := map[string]any{}
	if s.K != nil {
		params["k"] = *s.K
	}
	if s.Metric != nil {
		params["metric"] = *s.Metric
	}
	if s.Weights != nil {
		params["weights"] = *s.Weights
	}
	if rq.binaryOut {
		params["binary_data_output"] = true
	}
	body := map[string]any{"inputs": []any{in}, "parameters": params}
	if rq.id != "" {
		body["id"] = rq.id
	}
	if rq.outputs != nil {
		var outs []any
		for _, o := range rq.outputs {
			m := map[string]any{"name": o}
			if rq.binaryEach {
				m["parameters"] = map[string]any{"binary_data": true}
			}
			outs = append(outs, m)
		}
		body["outputs"] = outs
	}
	js, _ := json.Marshal(body)
	payload := js
	if rq.binaryIn {
		payload = append(slices.Clone(js), raw...)
	}
	if rq.gzipReq {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(payload)
		zw.Close()
		payload = buf.Bytes()
	}
	path := rq.path
	if path == "" {
		path = "/v2/models/iris/infer"
		if s.Version != nil {
			path = fmt.Sprintf("/v2/models/iris/versions/%d/infer", *s.Version)
		}
	}
	req, err := http.NewRequest(http.MethodPost, st.url+path, bytes.NewReader(payload))
	require.NoError(t, err)
	req.Header.Del("Content-Type")
	if rq.jsonCT {
		req.Header.Set("Content-Type", "application/json")
	}
	if rq.binaryIn {
		req.Header.Set(oip.HeaderLength, strconv.Itoa(len(js)))
	}
	if rq.gzipReq {
		req.Header.Set("Content-Encoding", "gzip")
	}
	tr := &http.Transport{DisableCompression: true} // see the gzip answer as sent
	defer tr.CloseIdleConnections()
	if rq.gzipResp {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	checkSpec(t, http.MethodPost, path, resp.StatusCode, resp.Header, rb)
	if rq.gzipResp {
		require.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
		zr, err := gzip.NewReader(bytes.NewReader(rb))
		require.NoError(t, err)
		rb, err = io.ReadAll(zr)
		require.NoError(t, err)
	} else {
		require.Empty(t, resp.Header.Get("Content-Encoding"))
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		require.NoError(t, json.Unmarshal(rb, &e), "%s", rb)
		require.NotEmpty(t, e.Error)
		return nil, nil, resp.StatusCode, e.Error
	}
	header := rb
	var tail []byte
	if h := resp.Header.Get(oip.HeaderLength); h != "" {
		n, err := strconv.Atoi(h)
		require.NoError(t, err)
		header, tail = rb[:n], rb[n:]
		require.Equal(t, "application/octet-stream", resp.Header.Get("Content-Type"))
	} else {
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	}
	var out struct {
		ModelName    string `json:"model_name"`
		ModelVersion string `json:"model_version"`
		ID           string `json:"id"`
		Parameters   map[string]any
		Outputs      []struct {
			Name       string
			Datatype   string
			Shape      []int64
			Parameters map[string]any
			Data       json.RawMessage
		}
	}
	require.NoError(t, json.Unmarshal(header, &out))
	require.Equal(t, "iris", out.ModelName)
	require.Equal(t, rq.id, out.ID)
	require.Equal(t, out.ModelVersion, fmt.Sprint(out.Parameters["dataset_version"]))
	if s.Version != nil {
		require.Equal(t, strconv.FormatUint(*s.Version, 10), out.ModelVersion)
	}
	rs := make([]row, len(rows))
	var names []string
	for _, o := range out.Outputs {
		names = append(names, o.Name)
		var vals tensorValues
		if size, ok := o.Parameters["binary_data_size"]; ok {
			n := int(size.(float64))
			require.LessOrEqual(t, n, len(tail))
			vals = decodeBinary(t, o.Datatype, tail[:n])
			tail = tail[n:]
		} else {
			vals = decodeJSONData(t, o.Datatype, o.Data)
		}
		fill(t, rs, o.Name, o.Shape, vals)
	}
	require.Empty(t, tail, "binary data left over")
	return rs, names, http.StatusOK, ""
}

// tensorValues holds one output's values, by datatype.
type tensorValues struct {
	str  []string
	f64  []float64
	i64  []int64
	bool []bool
}

func decodeJSONData(t testing.TB, datatype string, data json.RawMessage) tensorValues {
	var v tensorValues
	var err error
	switch datatype {
	case "BYTES":
		err = json.Unmarshal(data, &v.str)
	case "FP64":
		err = json.Unmarshal(data, &v.f64)
	case "INT64":
		err = json.Unmarshal(data, &v.i64)
	case "BOOL":
		err = json.Unmarshal(data, &v.bool)
	}
	require.NoError(t, err)
	return v
}

func decodeBinary(t testing.TB, datatype string, b []byte) tensorValues {
	var v tensorValues
	le := binary.LittleEndian
	switch datatype {
	case "BYTES":
		for len(b) > 0 {
			require.GreaterOrEqual(t, len(b), 4)
			n := int(le.Uint32(b))
			v.str = append(v.str, string(b[4:4+n]))
			b = b[4+n:]
		}
	case "FP64":
		for ; len(b) >= 8; b = b[8:] {
			v.f64 = append(v.f64, math.Float64frombits(le.Uint64(b)))
		}
	case "INT64":
		for ; len(b) >= 8; b = b[8:] {
			v.i64 = append(v.i64, int64(le.Uint64(b)))
		}
	case "BOOL":
		for _, c := range b {
			require.LessOrEqual(t, c, byte(1))
			v.bool = append(v.bool, c == 1)
		}
		b = nil
	}
	require.Empty(t, b)
	return v
}

// fill puts one output's values into rows, checking its shape.
func fill(t testing.TB, rs []row, name string, shape []int64, v tensorValues) {
	n := len(rs)
	require.Equal(t, int64(n), shape[0], name)
	cols := 1
	if len(shape) == 2 {
		cols = int(shape[1])
	}
	for i := range rs {
		r := &rs[i]
		switch name {
		case oip.OutputLabel:
			require.Len(t, v.str, n)
			r.Label = v.str[i]
		case oip.OutputProbs:
			require.Len(t, v.f64, n*cols)
			r.Probs = v.f64[i*cols : (i+1)*cols]
		case oip.OutputNeighborIDs:
			require.Len(t, v.i64, n*cols)
			r.IDs = v.i64[i*cols : (i+1)*cols]
		case oip.OutputNeighborDst:
			require.Len(t, v.f64, n*cols)
			r.Dists = v.f64[i*cols : (i+1)*cols]
		case oip.OutputTie:
			require.Len(t, v.bool, n)
			r.Tie = v.bool[i]
		case oip.OutputNovelty:
			require.Len(t, v.f64, n)
			r.Novelty = v.f64[i]
		default:
			t.Fatalf("unexpected output %q", name)
		}
	}
}

// only keeps the fields of the named outputs, to compare a selection.
func only(rs []row, outputs []string) []row {
	out := make([]row, len(rs))
	for i, r := range rs {
		for _, o := range outputs {
			switch o {
			case oip.OutputLabel:
				out[i].Label = r.Label
			case oip.OutputProbs:
				out[i].Probs = r.Probs
			case oip.OutputNeighborIDs:
				out[i].IDs = r.IDs
			case oip.OutputNeighborDst:
				out[i].Dists = r.Dists
			case oip.OutputTie:
				out[i].Tie = r.Tie
			case oip.OutputNovelty:
				out[i].Novelty = r.Novelty
			}
		}
	}
	return out
}

// grpcReq describes how to send an inference request over gRPC.
type grpcReq struct {
	datatype string
	raw      bool
	outputs  []string
	id       string
	name     string // model name (default iris)
}

func (st *stack) grpcInfer(t testing.TB, rows [][]float64, s settings, gr grpcReq) ([]row, []string, error) {
	t.Helper()
	_, _, raw := encodeRows(rows, gr.datatype)
	in := &pb.ModelInferRequest_InferInputTensor{Name: "x", Datatype: gr.datatype, Shape: []int64{int64(len(rows)), int64(len(rows[0]))}}
	req := &pb.ModelInferRequest{ModelName: "iris", Id: gr.id, Inputs: []*pb.ModelInferRequest_InferInputTensor{in}, Parameters: map[string]*pb.InferParameter{}}
	if gr.name != "" {
		req.ModelName = gr.name
	}
	if s.Version != nil {
		req.ModelVersion = strconv.FormatUint(*s.Version, 10)
	}
	if s.K != nil {
		req.Parameters["k"] = &pb.InferParameter{ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: int64(*s.K)}}
	}
	if s.Metric != nil {
		req.Parameters["metric"] = &pb.InferParameter{ParameterChoice: &pb.InferParameter_StringParam{StringParam: *s.Metric}}
	}
	if s.Weights != nil {
		req.Parameters["weights"] = &pb.InferParameter{ParameterChoice: &pb.InferParameter_StringParam{StringParam: *s.Weights}}
	}
	for _, o := range gr.outputs {
		req.Outputs = append(req.Outputs, &pb.ModelInferRequest_InferRequestedOutputTensor{Name: o})
	}
	if gr.raw {
		req.RawInputContents = [][]byte{raw}
	} else {
		c := &pb.InferTensorContents{}
		for _, r := range rows {
			for _, v := range r {
				switch gr.datatype {
				case "FP32":
					c.Fp32Contents = append(c.Fp32Contents, float32(v))
				case "FP64":
					c.Fp64Contents = append(c.Fp64Contents, v)
				case "INT32":
					c.IntContents = append(c.IntContents, int32(math.Round(v)))
				case "INT64":
					c.Int64Contents = append(c.Int64Contents, int64(math.Round(v)))
				case "UINT8":
					c.UintContents = append(c.UintContents, uint32(math.Round(v)))
				}
			}
		}
		in.Contents = c
	}
	resp, err := st.grpc.ModelInfer(context.Background(), req)
	if err != nil {
		return nil, nil, err
	}
	require.Equal(t, "iris", resp.GetModelName())
	require.Equal(t, gr.id, resp.GetId())
	require.Equal(t, resp.GetModelVersion(), strconv.FormatInt(resp.GetParameters()["dataset_version"].GetInt64Param(), 10))
	if s.Version != nil {
		require.Equal(t, strconv.FormatUint(*s.Version, 10), resp.GetModelVersion())
	}
	if gr.raw {
		require.Len(t, resp.GetRawOutputContents(), len(resp.GetOutputs()))
	} else {
		require.Empty(t, resp.GetRawOutputContents())
	}
	rs := make([]row, len(rows))
	var names []string
	for i, o := range resp.GetOutputs() {
		names = append(names, o.GetName())
		var v tensorValues
		if gr.raw {
			require.Nil(t, o.GetContents())
			v = decodeBinary(t, o.GetDatatype(), resp.GetRawOutputContents()[i])
		} else {
			c := o.GetContents()
			for _, b := range c.GetBytesContents() {
				v.str = append(v.str, string(b))
			}
			v.f64, v.i64, v.bool = c.GetFp64Contents(), c.GetInt64Contents(), c.GetBoolContents()
		}
		fill(t, rs, o.GetName(), o.GetShape(), v)
	}
	return rs, names, nil
}

// testRows returns n rows near the Iris data (seeded, with exact
// duplicates of training rows and rows between classes, where ties and
// zero distances happen).
func testRows(n int) [][]float64 {
	base := [][]float64{{5.1, 3.5, 1.4, 0.2}, {6.7, 3.0, 5.2, 2.3}, {5.9, 3.0, 4.2, 1.5}, {6.0, 2.7, 5.1, 1.6}, {6.3, 2.8, 5.1, 1.5}}
	rows := make([][]float64, n)
	for i := range rows {
		b := base[i%len(base)]
		d := float64(i/len(base)) * 0.05
		rows[i] = []float64{b[0] + d, b[1] - d/2, b[2] + d/3, b[3]}
	}
	return rows
}

// rounded returns rows as an FP32 client holds them.
func rounded(rows [][]float64, datatype string) [][]float64 {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		out[i] = make([]float64, len(r))
		for j, v := range r {
			switch datatype {
			case "FP32":
				out[i][j] = f32(v)
			case "FP64":
				out[i][j] = v
			default:
				out[i][j] = math.Round(v)
			}
		}
	}
	return out
}

var _ = knn.Euclidean
