package oip_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/oip"
	pb "github.com/irisknn/irisknn/internal/oip/inferencepb"
)

var settingsCases = []struct {
	name string
	s    settings
}{
	{"defaults", settings{}},
	{"k3 manhattan distance", settings{K: intp(3), Metric: strp("manhattan"), Weights: strp("distance")}},
	{"k8 chebyshev uniform", settings{K: intp(8), Metric: strp("chebyshev"), Weights: strp("uniform")}},
	{"k1", settings{K: intp(1)}},
}

var allOutputs = []string{oip.OutputLabel, oip.OutputProbs, oip.OutputNeighborIDs, oip.OutputNeighborDst, oip.OutputTie, oip.OutputNovelty}

func TestRESTInferMatchesPredict(t *testing.T) {
	st := newStack(t, 16)
	rows := testRows(40)
	cases := []struct {
		name string
		rq   restReq
	}{
		{"json FP64 nested", restReq{datatype: "FP64"}},
		{"json FP64 flat", restReq{datatype: "FP64", flat: true}},
		{"json FP32 nested", restReq{datatype: "FP32"}},
		{"json FP32 flat with content type", restReq{datatype: "FP32", flat: true, jsonCT: true}},
		{"json INT32", restReq{datatype: "INT32"}},
		{"json INT64 flat", restReq{datatype: "INT64", flat: true}},
		{"json UINT8", restReq{datatype: "UINT8"}},
		{"binary FP32 in, json out", restReq{datatype: "FP32", binaryIn: true}},
		{"binary FP64 in, binary out", restReq{datatype: "FP64", binaryIn: true, binaryOut: true}},
		{"binary FP32 both ways, gzip both ways", restReq{datatype: "FP32", binaryIn: true, binaryOut: true, gzipReq: true, gzipResp: true}},
		{"json in, binary out", restReq{datatype: "FP64", binaryOut: true, id: "req-7"}},
		{"selected outputs", restReq{datatype: "FP64", outputs: []string{oip.OutputTie, oip.OutputLabel}, id: "42"}},
		{"selected outputs binary each", restReq{datatype: "FP32", binaryIn: true, binaryEach: true, outputs: []string{oip.OutputNeighborDst, oip.OutputProbs}}},
		{"gzip answer of json", restReq{datatype: "FP64", gzipResp: true}},
		{"novelty alone json", restReq{datatype: "FP64", outputs: []string{oip.OutputNovelty}}},
		{"novelty alone binary", restReq{datatype: "FP64", binaryOut: true, outputs: []string{oip.OutputNovelty}}},
	}
	for _, sc := range settingsCases {
		for _, c := range cases {
			t.Run(sc.name+"/"+c.name, func(t *testing.T) {
				sent := rounded(rows, c.rq.datatype)
				want, code, detail := st.predict(t, sent, sc.s)
				require.Equal(t, http.StatusOK, code, detail)
				got, names, code, msg := st.infer(t, rows, sc.s, c.rq)
				require.Equal(t, http.StatusOK, code, msg)
				outputs := allOutputs
				if c.rq.outputs != nil {
					outputs = c.rq.outputs
				}
				assert.Equal(t, outputs, names)
				assert.Equal(t, only(want, outputs), got)
			})
		}
	}
}

func TestGRPCInferMatchesPredict(t *testing.T) {
	st := newStack(t, 16)
	rows := testRows(40)
	cases := []struct {
		name string
		gr   grpcReq
	}{
		{"contents FP64", grpcReq{datatype: "FP64"}},
		{"contents FP32", grpcReq{datatype: "FP32", id: "a"}},
		{"contents INT32", grpcReq{datatype: "INT32"}},
		{"contents INT64", grpcReq{datatype: "INT64"}},
		{"contents UINT8", grpcReq{datatype: "UINT8"}},
		{"raw FP32", grpcReq{datatype: "FP32", raw: true}},
		{"raw FP64", grpcReq{datatype: "FP64", raw: true}},
		{"raw selected outputs", grpcReq{datatype: "FP32", raw: true, outputs: []string{oip.OutputNeighborIDs, oip.OutputLabel}}},
		{"contents selected outputs", grpcReq{datatype: "FP64", outputs: []string{oip.OutputProbs}}},
		{"raw novelty", grpcReq{datatype: "FP64", raw: true, outputs: []string{oip.OutputNovelty, oip.OutputLabel}}},
		{"contents novelty", grpcReq{datatype: "FP64", outputs: []string{oip.OutputNovelty}}},
	}
	for _, sc := range settingsCases {
		for _, c := range cases {
			t.Run(sc.name+"/"+c.name, func(t *testing.T) {
				want, code, detail := st.predict(t, rounded(rows, c.gr.datatype), sc.s)
				require.Equal(t, http.StatusOK, code, detail)
				got, names, err := st.grpcInfer(t, rows, sc.s, c.gr)
				require.NoError(t, err)
				outputs := allOutputs
				if c.gr.outputs != nil {
					outputs = c.gr.outputs
				}
				assert.Equal(t, outputs, names)
				assert.Equal(t, only(want, outputs), got)
			})
		}
	}
}

// TestSettingErrorsMatchPredict checks that a bad k, metric or weights is
// refused by every protocol with the same message (one rule).
func TestSettingErrorsMatchPredict(t *testing.T) {
	st := newStack(t, 16)
	for _, c := range []struct {
		name string
		rows int
		s    settings
	}{
		{"k above max", 3, settings{K: intp(1001)}},
		{"k above samples", 3, settings{K: intp(151)}},
		{"k zero", 3, settings{K: intp(0)}},
		{"unknown metric", 3, settings{Metric: strp("cosine")}},
		{"unknown weights", 3, settings{Weights: strp("heavy")}},
		{"rows times k above max-neighbors", 1000, settings{K: intp(101)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rows := testRows(c.rows)
			_, code, detail := st.predict(t, rows, c.s)
			require.Equal(t, http.StatusUnprocessableEntity, code)
			_, _, code, msg := st.infer(t, rows, c.s, restReq{datatype: "FP64"})
			assert.Equal(t, http.StatusBadRequest, code)
			assert.Equal(t, detail, msg)
			_, _, err := st.grpcInfer(t, rows, c.s, grpcReq{datatype: "FP64"})
			assert.Equal(t, codes.InvalidArgument, status.Code(err))
			assert.Equal(t, detail, status.Convert(err).Message())
		})
	}
}

func post(t *testing.T, url string, header map[string]string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	checkSpec(t, http.MethodPost, strings.TrimPrefix(url, urlPrefix(url)), resp.StatusCode, resp.Header, b)
	var e struct {
		Error string `json:"error"`
	}
	if resp.StatusCode != http.StatusOK {
		require.NoError(t, json.Unmarshal(b, &e), "not an OIP error body: %s", b)
		require.NotEmpty(t, e.Error)
	}
	return resp.StatusCode, e.Error
}

func TestRESTErrors(t *testing.T) {
	st := newStack(t, 16)
	infer := st.url + "/v2/models/iris/infer"
	good := func(mut func(in map[string]any)) []byte {
		in := map[string]any{"name": "x", "datatype": "FP64", "shape": []int{1, 4}, "data": []float64{5.1, 3.5, 1.4, 0.2}}
		if mut != nil {
			mut(in)
		}
		b, _ := json.Marshal(map[string]any{"inputs": []any{in}})
		return b
	}
	bin := func(js string, tail string) []byte { return append([]byte(js), tail...) }
	hdr := func(n int) map[string]string { return map[string]string{oip.HeaderLength: itoa(n)} }
	binJSON := `{"inputs":[{"name":"x","datatype":"FP64","shape":[1,4],"parameters":{"binary_data_size":32}}]}`
	bothJSON := strings.Replace(binJSON, `"parameters"`, `"data":[1,2,3,4],"parameters"`, 1)
	nan := string([]byte{0, 0, 0, 0, 0, 0, 0xf8, 0x7f}) // FP64 NaN
	cases := []struct {
		name   string
		url    string
		header map[string]string
		body   []byte
		status int
		want   string // in the message
	}{
		{"unknown model", st.url + "/v2/models/roses/infer", nil, good(nil), 404, `unknown model "roses"`},
		{"unknown version", st.url + "/v2/models/iris/versions/99/infer", nil, good(nil), 404, "the oldest kept version is 1"},
		{"version not a number", st.url + "/v2/models/iris/versions/latest/infer", nil, good(nil), 404, "the oldest kept version is 1"},
		{"not json", infer, nil, []byte("{"), 400, "not a valid inference request"},
		{"id not a string", infer, nil, []byte(`{"id":7,"inputs":[]}`), 400, "not a valid inference request"},
		{"no inputs", infer, nil, []byte(`{"inputs":[]}`), 400, "exactly one input"},
		{"two inputs", infer, nil, []byte(`{"inputs":[{"name":"a","datatype":"FP64","shape":[1,4],"data":[1,2,3,4]},{"name":"b","datatype":"FP64","shape":[1,4],"data":[1,2,3,4]}]}`), 400, "exactly one input"},
		{"bad shape", infer, nil, good(func(in map[string]any) { in["shape"] = []int{4} }), 400, "shape must be [n, 4]"},
		{"wrong width", infer, nil, good(func(in map[string]any) { in["shape"] = []int{2, 2} }), 400, "shape must be [n, 4]"},
		{"zero rows", infer, nil, good(func(in map[string]any) { in["shape"] = []int{0, 4} }), 400, "n >= 1"},
		{"too many rows", infer, nil, good(func(in map[string]any) { in["shape"] = []int{10001, 4} }), 400, "at most 10000 rows"},
		{"BOOL datatype", infer, nil, good(func(in map[string]any) { in["datatype"] = "BOOL" }), 400, "not supported"},
		{"BYTES datatype", infer, nil, good(func(in map[string]any) { in["datatype"] = "BYTES" }), 400, "not supported"},
		{"too few values", infer, nil, good(func(in map[string]any) { in["data"] = []float64{1, 2, 3} }), 400, "has 3 elements"},
		{"too many values", infer, nil, good(func(in map[string]any) { in["data"] = []float64{1, 2, 3, 4, 5} }), 400, "more elements"},
		{"nesting off the shape", infer, nil, good(func(in map[string]any) { in["data"] = [][]float64{{1, 2}, {3, 4}} }), 400, "does not match its shape"},
		{"too deep", infer, nil, good(func(in map[string]any) { in["data"] = [][][]float64{{{1, 2, 3, 4}}} }), 400, "does not match its shape"},
		{"string data", infer, nil, good(func(in map[string]any) { in["data"] = []any{"5.1", 3.5, 1.4, 0.2} }), 400, "give numbers"},
		{"no data", infer, nil, good(func(in map[string]any) { delete(in, "data") }), 400, "has no data"},
		{"null data", infer, nil, good(func(in map[string]any) { in["data"] = nil }), 400, "must be a JSON array"},
		{"fraction for INT32", infer, nil, good(func(in map[string]any) { in["datatype"] = "INT32" }), 400, "not an integer"},
		{"UINT8 out of range", infer, nil, good(func(in map[string]any) { in["datatype"] = "UINT8"; in["data"] = []int{300, 1, 1, 1} }), 400, "out of the range of UINT8"},
		{"INT64 beyond 2^53", infer, nil, good(func(in map[string]any) { in["datatype"] = "INT64"; in["data"] = []int64{9007199254740993, 1, 1, 1} }), 400, "out of the range"},
		{"FP32 overflow", infer, nil, good(func(in map[string]any) { in["datatype"] = "FP32"; in["data"] = []float64{1e39, 1, 1, 1} }), 400, "out of the range of FP32"},
		{"underflow", infer, nil, []byte(`{"inputs":[{"name":"x","datatype":"FP64","shape":[1,4],"data":[1e-400,1,1,1]}]}`), 400, "underflows"},
		{"feature out of domain", infer, nil, good(func(in map[string]any) { in["data"] = []float64{1e200, 1, 1, 1} }), 400, "sepal_length"},
		{"k not an integer", infer, nil, []byte(`{"parameters":{"k":2.5},"inputs":[{"name":"x","datatype":"FP64","shape":[1,4],"data":[1,2,3,4]}]}`), 400, "parameter k must be an integer"},
		{"metric not a string", infer, nil, []byte(`{"parameters":{"metric":1},"inputs":[{"name":"x","datatype":"FP64","shape":[1,4],"data":[1,2,3,4]}]}`), 400, "parameter metric must be a string"},
		{"binary_data_output not a bool", infer, nil, []byte(`{"parameters":{"binary_data_output":"yes"},"inputs":[{"name":"x","datatype":"FP64","shape":[1,4],"data":[1,2,3,4]}]}`), 400, "must be true or false"},
		{"unknown output", infer, nil, []byte(`{"outputs":[{"name":"species"}],"inputs":[{"name":"x","datatype":"FP64","shape":[1,4],"data":[1,2,3,4]}]}`), 400, `unknown output "species"`},
		{"output twice", infer, nil, []byte(`{"outputs":[{"name":"tie"},{"name":"tie"}],"inputs":[{"name":"x","datatype":"FP64","shape":[1,4],"data":[1,2,3,4]}]}`), 400, "requested twice"},
		{"binary without header", infer, nil, []byte(binJSON), 400, "no Inference-Header-Content-Length"},
		{"header beyond body", infer, hdr(5000), []byte(binJSON), 400, "only"},
		{"header not a number", infer, map[string]string{oip.HeaderLength: "x"}, []byte(binJSON), 400, "non-negative integer"},
		{"binary too short", infer, hdr(len(binJSON)), bin(binJSON, "12345678"), 400, "binary_data_size 32 but 8 bytes"},
		{"binary left over", infer, hdr(len(binJSON)), bin(binJSON, strings.Repeat("\x00", 40)), 400, "40 bytes of binary data"},
		{"binary without size", infer, hdr(len(good(nil))), bin(string(good(nil)), "abcd"), 400, "no input has binary_data_size"},
		{"binary NaN", infer, hdr(len(binJSON)), bin(binJSON, nan+strings.Repeat("\x00", 24)), 400, "finite"},
		{"data and binary", infer, hdr(len(bothJSON)), bin(bothJSON, strings.Repeat("\x00", 32)), 400, "both data and binary_data_size"},
		{"gzip that is not", infer, map[string]string{"Content-Encoding": "gzip"}, good(nil), 400, "not gzip"},
		{"unknown encoding", infer, map[string]string{"Content-Encoding": "br"}, good(nil), 400, `"br" is not supported`},
		{"body too large", infer, nil, bytes.Repeat([]byte(" "), 9<<20), 413, "-max-body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, msg := post(t, c.url, c.header, c.body)
			assert.Equal(t, c.status, code)
			assert.Contains(t, msg, c.want)
		})
	}
}

// urlPrefix returns the scheme and host of a URL.
func urlPrefix(u string) string {
	i := strings.Index(u, "/v2")
	if i < 0 {
		return u
	}
	return u[:i]
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestGRPCErrors(t *testing.T) {
	st := newStack(t, 16)
	ctx := context.Background()
	in := func(mut func(*pb.ModelInferRequest_InferInputTensor)) *pb.ModelInferRequest {
		t := &pb.ModelInferRequest_InferInputTensor{Name: "x", Datatype: "FP64", Shape: []int64{1, 4}, Contents: &pb.InferTensorContents{Fp64Contents: []float64{5.1, 3.5, 1.4, 0.2}}}
		if mut != nil {
			mut(t)
		}
		return &pb.ModelInferRequest{ModelName: "iris", Inputs: []*pb.ModelInferRequest_InferInputTensor{t}}
	}
	with := func(r *pb.ModelInferRequest, f func(*pb.ModelInferRequest)) *pb.ModelInferRequest { f(r); return r }
	cases := []struct {
		name string
		req  *pb.ModelInferRequest
		code codes.Code
		want string
	}{
		{"unknown model", with(in(nil), func(r *pb.ModelInferRequest) { r.ModelName = "roses" }), codes.NotFound, `unknown model "roses"`},
		{"unknown version", with(in(nil), func(r *pb.ModelInferRequest) { r.ModelVersion = "99" }), codes.NotFound, "the oldest kept version is 1"},
		{"no inputs", &pb.ModelInferRequest{ModelName: "iris"}, codes.InvalidArgument, "exactly one input"},
		{"bad shape", in(func(x *pb.ModelInferRequest_InferInputTensor) { x.Shape = []int64{4} }), codes.InvalidArgument, "shape must be"},
		{"wrong count", in(func(x *pb.ModelInferRequest_InferInputTensor) { x.Contents.Fp64Contents = []float64{1} }), codes.InvalidArgument, "hold 1 elements"},
		{"wrong field for datatype", in(func(x *pb.ModelInferRequest_InferInputTensor) { x.Datatype = "FP32" }), codes.InvalidArgument, "hold 0 elements of FP32"},
		{"no contents", in(func(x *pb.ModelInferRequest_InferInputTensor) { x.Contents = nil }), codes.InvalidArgument, "neither contents nor raw"},
		{"contents and raw", with(in(nil), func(r *pb.ModelInferRequest) { r.RawInputContents = [][]byte{make([]byte, 32)} }), codes.InvalidArgument, "not both"},
		{"raw too short", with(in(func(x *pb.ModelInferRequest_InferInputTensor) { x.Contents = nil }), func(r *pb.ModelInferRequest) { r.RawInputContents = [][]byte{make([]byte, 31)} }), codes.InvalidArgument, "31 bytes"},
		{"INT8 out of range", in(func(x *pb.ModelInferRequest_InferInputTensor) {
			x.Datatype = "INT8"
			x.Contents = &pb.InferTensorContents{IntContents: []int32{200, 1, 1, 1}}
		}), codes.InvalidArgument, "out of the range of INT8"},
		{"k wrong type", with(in(nil), func(r *pb.ModelInferRequest) {
			r.Parameters = map[string]*pb.InferParameter{"k": {ParameterChoice: &pb.InferParameter_StringParam{StringParam: "3"}}}
		}), codes.InvalidArgument, "int64_param"},
		{"metric wrong type", with(in(nil), func(r *pb.ModelInferRequest) {
			r.Parameters = map[string]*pb.InferParameter{"metric": {ParameterChoice: &pb.InferParameter_BoolParam{BoolParam: true}}}
		}), codes.InvalidArgument, "string_param"},
		{"unknown output", with(in(nil), func(r *pb.ModelInferRequest) {
			r.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "species"}}
		}), codes.InvalidArgument, "unknown output"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := st.grpc.ModelInfer(ctx, c.req)
			assert.Equal(t, c.code, status.Code(err), "%v", err)
			assert.Contains(t, status.Convert(err).Message(), c.want)
		})
	}
}

func TestMetadataAndHealth(t *testing.T) {
	st := newStack(t, 3)
	for range 4 { // versions 2..5; 3..5 kept
		_, _, err := st.store.Create(context.Background(), validOf(t, st.store, []float64{5, 3, 1.5, 0.2}, "setosa"))
		require.NoError(t, err)
	}
	get := func(path string) (int, map[string]any) {
		resp, err := http.Get(st.url + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		var m map[string]any
		b, _ := io.ReadAll(resp.Body)
		checkSpec(t, http.MethodGet, path, resp.StatusCode, resp.Header, b)
		if len(b) > 0 {
			require.NoError(t, json.Unmarshal(b, &m), "%s", b)
		}
		return resp.StatusCode, m
	}
	code, m := get("/v2")
	require.Equal(t, 200, code)
	assert.Equal(t, "irisknn", m["name"])
	assert.Equal(t, []any{oip.ExtensionBinary}, m["extensions"])

	code, m = get("/v2/models/iris")
	require.Equal(t, 200, code)
	assert.Equal(t, []any{"3", "4", "5"}, m["versions"])
	assert.Equal(t, []any{map[string]any{"name": "features", "datatype": "FP64", "shape": []any{-1.0, 4.0}}}, m["inputs"])
	params := m["parameters"].(map[string]any)
	assert.Equal(t, []any{"setosa", "versicolor", "virginica"}, params["classes"])
	assert.Equal(t, 5.0, params["dataset_version"])
	var outs []string
	for _, o := range m["outputs"].([]any) {
		outs = append(outs, o.(map[string]any)["name"].(string))
	}
	assert.Equal(t, allOutputs, outs)

	code, m = get("/v2/models/iris/versions/3")
	require.Equal(t, 200, code)
	assert.Equal(t, 3.0, m["parameters"].(map[string]any)["dataset_version"])
	code, m = get("/v2/models/iris/versions/2")
	assert.Equal(t, 404, code)
	assert.Contains(t, m["error"], "the oldest kept version is 3")
	code, _ = get("/v2/models/nope")
	assert.Equal(t, 404, code)

	for _, p := range []string{"/v2/health/live", "/v2/health/ready", "/v2/models/iris/ready", "/v2/models/iris/versions/4/ready"} {
		code, _ = get(p)
		assert.Equal(t, 200, code, p)
	}
	code, _ = get("/v2/models/iris/versions/1/ready")
	assert.Equal(t, 404, code)
	code, m = get("/v2/nothing")
	assert.Equal(t, 404, code)
	assert.Contains(t, m["error"], "no route")

	ctx := context.Background()
	md, err := st.grpc.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: "iris"})
	require.NoError(t, err)
	assert.Equal(t, []string{"3", "4", "5"}, md.GetVersions())
	assert.Equal(t, []int64{-1, 4}, md.GetInputs()[0].GetShape())
	assert.Equal(t, []int64{-1, 3}, md.GetOutputs()[1].GetShape())
	_, err = st.grpc.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: "iris", Version: "1"})
	assert.Equal(t, codes.NotFound, status.Code(err))
	sm, err := st.grpc.ServerMetadata(ctx, &pb.ServerMetadataRequest{})
	require.NoError(t, err)
	assert.Equal(t, []string{oip.ExtensionBinary}, sm.GetExtensions())
	live, err := st.grpc.ServerLive(ctx, &pb.ServerLiveRequest{})
	require.NoError(t, err)
	assert.True(t, live.GetLive())
	hc := healthpb.NewHealthClient(st.conn)
	h, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, h.GetStatus())

	// Not ready: 503 over REST, ready false over gRPC, and the health service says NOT_SERVING.
	st.api.SetReady(false)
	st.gsrv.SetServing(false)
	code, m = get("/v2/health/ready")
	assert.Equal(t, 503, code)
	assert.Contains(t, m["error"], "not ready")
	code, _ = get("/v2/models/iris/ready")
	assert.Equal(t, 503, code)
	code, _ = get("/v2/health/live")
	assert.Equal(t, 200, code)
	rd, err := st.grpc.ServerReady(ctx, &pb.ServerReadyRequest{})
	require.NoError(t, err)
	assert.False(t, rd.GetReady())
	mr, err := st.grpc.ModelReady(ctx, &pb.ModelReadyRequest{Name: "iris"})
	require.NoError(t, err)
	assert.False(t, mr.GetReady())
	h, err = hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "inference.GRPCInferenceService"})
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, h.GetStatus())
}

func TestGRPCReflectionListsTheServices(t *testing.T) {
	st := newStack(t, 16)
	stream, err := reflectionpb.NewServerReflectionClient(st.conn).ServerReflectionInfo(context.Background())
	require.NoError(t, err)
	require.NoError(t, stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}))
	resp, err := stream.Recv()
	require.NoError(t, err)
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	assert.Subset(t, names, []string{"inference.GRPCInferenceService", "grpc.health.v1.Health"})
	require.NoError(t, stream.CloseSend())
}

func TestMethodNotAllowed(t *testing.T) {
	st := newStack(t, 16)
	code, msg := post(t, st.url+"/v2/health/live", nil, nil)
	assert.Equal(t, http.StatusMethodNotAllowed, code)
	assert.Contains(t, msg, "use GET")
	resp, err := http.Get(st.url + "/v2/models/iris/infer")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

// validOf checks a new sample for st's current set.
func validOf(t testing.TB, st dataset.Store, f []float64, label string) dataset.ValidSample {
	t.Helper()
	v, err := st.Snapshot().NewSample(0, f, label)
	require.NoError(t, err)
	return v
}

// TestNoveltyOutputIsPredictsNovelty: the novelty output is, row for row,
// POST /predict's novelty.percentile (the same tracker), spans the range on
// rows from the training set to far outside it, and carries the tracker's
// threshold as its parameter.
func TestNoveltyOutputIsPredictsNovelty(t *testing.T) {
	st := newStack(t, 16)
	rows := append(testRows(20), []float64{5.1, 3.5, 1.4, 0.2}, []float64{40, 40, 40, 40})
	want, code, detail := st.predict(t, rows, settings{})
	require.Equal(t, http.StatusOK, code, detail)
	got, _, code, msg := st.infer(t, rows, settings{}, restReq{datatype: "FP64", binaryOut: true, outputs: []string{oip.OutputNovelty}})
	require.Equal(t, http.StatusOK, code, msg)
	assert.Equal(t, only(want, []string{oip.OutputNovelty}), got)
	assert.Zero(t, got[len(rows)-2].Novelty, "a training sample is as close as can be")
	assert.Equal(t, 100.0, got[len(rows)-1].Novelty, "a row far outside the set is past every distance")
	assert.True(t, slices.ContainsFunc(got[:20], func(r row) bool { return r.Novelty > 0 && r.Novelty < 100 }), "rows near the set fall in between")

	body := `{"outputs":[{"name":"novelty"}],"inputs":[{"name":"x","datatype":"FP64","shape":[1,4],"data":[40,40,40,40]}]}`
	resp, err := http.Post(st.url+"/v2/models/iris/infer", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		Outputs []struct {
			Name       string
			Datatype   string
			Shape      []int64
			Parameters map[string]string
			Data       []float64
		}
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Len(t, out.Outputs, 1)
	o := out.Outputs[0]
	assert.Equal(t, "FP64", o.Datatype)
	assert.Equal(t, []int64{1}, o.Shape)
	assert.Equal(t, []float64{100}, o.Data)
	assert.Equal(t, "90", o.Parameters["threshold"], "the tracker's threshold")
}

// TestAContentLengthOverTheLimitIs413AtOnce: an inference request whose
// declared body is above -max-body is answered 413 before its body is
// sent.
func TestAContentLengthOverTheLimitIs413AtOnce(t *testing.T) {
	st := newStack(t, 16)
	conn, err := net.Dial("tcp", strings.TrimPrefix(st.url, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v2/models/iris/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"in", 8<<20+1)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err, "answered without the body")
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "%s", b)
	assert.Contains(t, string(b), "-max-body")
}
