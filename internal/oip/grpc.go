package oip

import (
	"context"
	"errors"
	"log/slog"
	"math"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/irisknn/irisknn/internal/dataset"
	pb "github.com/irisknn/irisknn/internal/oip/inferencepb"
)

// GRPCOptions are the gRPC server's settings.
type GRPCOptions struct {
	MaxMessageBytes int          // the largest request message (default 8 MiB)
	Logger          *slog.Logger // internal errors; nil discards
}

// GRPC is the protocol's gRPC server: inference.GRPCInferenceService, the
// standard grpc.health.v1 health service (for Kubernetes' gRPC probes) and
// server reflection.
type GRPC struct {
	Server *grpc.Server
	health *health.Server
}

// NewGRPC returns the gRPC server of m; serve it with g.Server.Serve.
func NewGRPC(m *Model, opt GRPCOptions) *GRPC {
	if opt.MaxMessageBytes <= 0 {
		opt.MaxMessageBytes = 8 << 20
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	s := grpc.NewServer(grpc.MaxRecvMsgSize(opt.MaxMessageBytes))
	pb.RegisterGRPCInferenceServiceServer(s, &grpcService{m: m, log: opt.Logger})
	hs := health.NewServer()
	healthpb.RegisterHealthServer(s, hs)
	reflection.Register(s)
	g := &GRPC{Server: s, health: hs}
	g.SetServing(m.ready())
	return g
}

// SetServing sets what the health service reports, for the server as a
// whole ("") and for the inference service.
func (g *GRPC) SetServing(ok bool) {
	st := healthpb.HealthCheckResponse_SERVING
	if !ok {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	g.health.SetServingStatus("", st)
	g.health.SetServingStatus(pb.GRPCInferenceService_ServiceDesc.ServiceName, st)
}

// Stop marks the server not serving and stops it gracefully.
func (g *GRPC) Stop() {
	g.health.Shutdown()
	g.Server.GracefulStop()
}

type grpcService struct {
	pb.UnimplementedGRPCInferenceServiceServer
	m   *Model
	log *slog.Logger
}

// grpcError maps an error to its gRPC status: the one table of the gRPC
// protocol.
func (g *grpcService) grpcError(method string, err error) error {
	msg := err.Error()
	if e, ok := errors.AsType[*dataset.Error](err); ok {
		msg = e.Message
	}
	if _, ok := errors.AsType[errTooLarge](err); ok {
		return status.Error(codes.ResourceExhausted, msg)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, msg)
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, msg)
	}
	switch dataset.ErrorKind(err) {
	case dataset.KindInvalid, dataset.KindConflict, dataset.KindPrecondition:
		return status.Error(codes.InvalidArgument, msg)
	case dataset.KindNotFound:
		return status.Error(codes.NotFound, msg)
	case dataset.KindUnavailable:
		return status.Error(codes.Unavailable, msg)
	}
	g.log.Error("oip: internal error", "method", method, "err", err)
	return status.Error(codes.Internal, "internal error")
}

func (g *grpcService) ServerLive(context.Context, *pb.ServerLiveRequest) (*pb.ServerLiveResponse, error) {
	return &pb.ServerLiveResponse{Live: true}, nil
}

func (g *grpcService) ServerReady(context.Context, *pb.ServerReadyRequest) (*pb.ServerReadyResponse, error) {
	return &pb.ServerReadyResponse{Ready: g.m.ready()}, nil
}

func (g *grpcService) ModelReady(_ context.Context, req *pb.ModelReadyRequest) (*pb.ModelReadyResponse, error) {
	if _, err := g.m.resolve(req.GetName(), req.GetVersion()); err != nil {
		return nil, g.grpcError("ModelReady", err)
	}
	return &pb.ModelReadyResponse{Ready: g.m.ready()}, nil
}

func (g *grpcService) ServerMetadata(context.Context, *pb.ServerMetadataRequest) (*pb.ServerMetadataResponse, error) {
	return &pb.ServerMetadataResponse{Name: g.m.ServerName, Version: g.m.ServerVersion, Extensions: []string{ExtensionBinary}}, nil
}

func (g *grpcService) ModelMetadata(_ context.Context, req *pb.ModelMetadataRequest) (*pb.ModelMetadataResponse, error) {
	snap, err := g.m.resolve(req.GetName(), req.GetVersion())
	if err != nil {
		return nil, g.grpcError("ModelMetadata", err)
	}
	md := g.m.metadata(snap)
	tensors := func(ts []TensorMeta) []*pb.ModelMetadataResponse_TensorMetadata {
		out := make([]*pb.ModelMetadataResponse_TensorMetadata, len(ts))
		for i, t := range ts {
			out[i] = &pb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape}
		}
		return out
	}
	return &pb.ModelMetadataResponse{Name: md.Name, Versions: md.Versions, Platform: md.Platform, Inputs: tensors(md.Inputs), Outputs: tensors(md.Outputs)}, nil
}

func (g *grpcService) ModelInfer(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	resp, err := g.infer(ctx, req)
	if err != nil {
		return nil, g.grpcError("ModelInfer", err)
	}
	return resp, nil
}

func (g *grpcService) infer(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	snap, err := g.m.resolve(req.GetModelName(), req.GetModelVersion())
	if err != nil {
		return nil, err
	}
	s, err := grpcSettings(req.GetParameters())
	if err != nil {
		return nil, err
	}
	if len(req.GetInputs()) != 1 {
		return nil, dataset.Invalidf("inputs", "give exactly one input (the rows of %s), got %d", InputFeatures, len(req.GetInputs()))
	}
	in := req.GetInputs()[0]
	names := make([]string, len(req.GetOutputs()))
	for i, o := range req.GetOutputs() {
		names[i] = o.GetName()
	}
	r, err := g.m.prepare(snap, s, in.GetDatatype(), in.GetShape(), names)
	if err != nil {
		return nil, err
	}
	sc := getScratch(r)
	flat := sc.flat
	raw := len(req.GetRawInputContents()) > 0
	switch {
	case raw && in.GetContents() != nil:
		err = dataset.Invalidf("inputs", "give the input as contents or as raw_input_contents, not both")
	case raw && len(req.GetRawInputContents()) != 1:
		err = dataset.Invalidf("raw_input_contents", "raw_input_contents must hold one entry per input (1), got %d", len(req.GetRawInputContents()))
	case raw:
		err = decodeRaw(r.datatype, req.GetRawInputContents()[0], flat)
	default:
		err = decodeContents(r.datatype, in.GetContents(), flat)
	}
	if err != nil {
		sc.release()
		return nil, err
	}
	res, err := g.m.infer(ctx, r, sc)
	if err != nil {
		sc.release()
		return nil, err
	}
	defer res.release()
	resp := &pb.ModelInferResponse{
		ModelName:    g.m.Name,
		ModelVersion: versionString(res.snap.Version()),
		Id:           req.GetId(),
		Parameters: map[string]*pb.InferParameter{
			"dataset_version": {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: int64(res.snap.Version())}},
			"k":               {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: int64(res.query.K)}},
			"metric":          {ParameterChoice: &pb.InferParameter_StringParam{StringParam: res.query.Metric.String()}},
			"weights":         {ParameterChoice: &pb.InferParameter_StringParam{StringParam: res.query.Weights.String()}},
		},
	}
	for i := range res.outputs {
		name, dt, shape, params := res.meta(i)
		o := &pb.ModelInferResponse_InferOutputTensor{Name: name, Datatype: dt, Shape: shape}
		if len(params) > 0 {
			o.Parameters = map[string]*pb.InferParameter{}
			for k, v := range params {
				o.Parameters[k] = &pb.InferParameter{ParameterChoice: &pb.InferParameter_StringParam{StringParam: v}}
			}
		}
		if raw {
			// A client that sent raw contents reads raw contents.
			resp.RawOutputContents = append(resp.RawOutputContents, res.appendRaw(make([]byte, 0, res.rawSize(i)), i))
		} else {
			t := res.tensor(i)
			o.Contents = &pb.InferTensorContents{BytesContents: t.Bytes, Fp64Contents: t.F64, Int64Contents: t.I64, BoolContents: t.Bool}
		}
		resp.Outputs = append(resp.Outputs, o)
	}
	return resp, nil
}

// grpcSettings reads k, metric and weights from InferParameters.
func grpcSettings(p map[string]*pb.InferParameter) (settings, error) {
	var s settings
	if v, ok := p["k"]; ok {
		x, ok := v.GetParameterChoice().(*pb.InferParameter_Int64Param)
		if !ok {
			return s, dataset.Invalidf("k", "parameter k must be an int64_param")
		}
		if x.Int64Param > math.MaxInt32 || x.Int64Param < math.MinInt32 {
			return s, dataset.Invalidf("k", "parameter k is out of range: %d", x.Int64Param)
		}
		k := int(x.Int64Param)
		s.k = &k
	}
	for _, f := range []struct {
		name string
		dst  **string
	}{{"metric", &s.metric}, {"weights", &s.weights}} {
		name, dst := f.name, f.dst
		if v, ok := p[name]; ok {
			x, ok := v.GetParameterChoice().(*pb.InferParameter_StringParam)
			if !ok {
				return s, dataset.Invalidf(name, "parameter %s must be a string_param", name)
			}
			str := x.StringParam
			*dst = &str
		}
	}
	return s, nil
}

// decodeContents converts typed tensor contents into out, exactly (see
// parseNumber), from the field the datatype uses.
func decodeContents(datatype string, c *pb.InferTensorContents, out []float64) error {
	if c == nil {
		return dataset.Invalidf("inputs", "the input has neither contents nor raw_input_contents")
	}
	var n int
	set := func(i int, v float64) {
		if i < len(out) {
			out[i] = v
		}
	}
	lo, hi, isInt := intRange(datatype)
	check := func(i int, v float64) error {
		if isInt && (v < lo || v > hi) {
			return dataset.Invalidf("inputs", "element %d: %v is out of the range of %s (%g to %g, for an exact conversion)", i, v, datatype, lo, hi)
		}
		return nil
	}
	switch datatype {
	case "FP32":
		n = len(c.GetFp32Contents())
		for i, v := range c.GetFp32Contents() {
			set(i, float64(v))
		}
	case "FP64":
		n = len(c.GetFp64Contents())
		for i, v := range c.GetFp64Contents() {
			set(i, v)
		}
	case "INT8", "INT16", "INT32":
		n = len(c.GetIntContents())
		for i, v := range c.GetIntContents() {
			if err := check(i, float64(v)); err != nil {
				return err
			}
			set(i, float64(v))
		}
	case "INT64":
		n = len(c.GetInt64Contents())
		for i, v := range c.GetInt64Contents() {
			if v > maxExactInt || v < -maxExactInt {
				return errInexact(i, formatInt(v))
			}
			set(i, float64(v))
		}
	case "UINT8", "UINT16", "UINT32":
		n = len(c.GetUintContents())
		for i, v := range c.GetUintContents() {
			if err := check(i, float64(v)); err != nil {
				return err
			}
			set(i, float64(v))
		}
	case "UINT64":
		n = len(c.GetUint64Contents())
		for i, v := range c.GetUint64Contents() {
			if v > maxExactInt {
				return errInexact(i, formatUint(v))
			}
			set(i, float64(v))
		}
	}
	if n != len(out) {
		return dataset.Invalidf("inputs", "the input's contents hold %d elements of %s; its shape needs %d", n, datatype, len(out))
	}
	return nil
}
