package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/irisknn/irisknn/data"
	pb "github.com/irisknn/irisknn/internal/oip/inferencepb"
)

// TestRunServesTheOpenInferenceProtocol runs the program with a -data file
// and checks the protocol on both listeners: the model is named after the
// file, REST and gRPC answer, the gRPC health service says SERVING.
func TestRunServesTheOpenInferenceProtocol(t *testing.T) {
	csv := filepath.Join(t.TempDir(), "flowers.csv")
	require.NoError(t, os.WriteFile(csv, data.IrisCSV, 0o644))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-grpc-addr", "127.0.0.1:0", "-data", csv, "-keep-versions", "4"}, env(), pw, io.Discard)
		pw.Close()
	}()
	addrs := make(chan [2]string, 1)
	go func() {
		var httpAddr string
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var line struct {
				Msg      string
				Addr     string
				GRPCAddr string `json:"grpc_addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			switch line.Msg {
			case "listening":
				httpAddr = line.Addr
			case "grpc listening":
				addrs <- [2]string{httpAddr, line.GRPCAddr}
			}
		}
	}()
	var a [2]string
	select {
	case a = <-addrs:
	case err := <-done:
		t.Fatalf("run exited early: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("irisd did not start in 30s")
	}

	resp, err := http.Get("http://" + a[0] + "/v2/models/flowers")
	require.NoError(t, err)
	var md struct{ Name string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&md))
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "flowers", md.Name, "the model is named after the -data file")

	conn, err := grpc.NewClient(a[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	c := pb.NewGRPCInferenceServiceClient(conn)
	out, err := c.ModelInfer(ctx, &pb.ModelInferRequest{ModelName: "flowers", Inputs: []*pb.ModelInferRequest_InferInputTensor{{
		Name: "x", Datatype: "FP64", Shape: []int64{1, 4}, Contents: &pb.InferTensorContents{Fp64Contents: []float64{6.7, 3.0, 5.2, 2.3}},
	}}, Outputs: []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "label"}}})
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("virginica")}, out.GetOutputs()[0].GetContents().GetBytesContents())
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, h.GetStatus())

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err, "a clean shutdown of both servers")
	case <-time.After(30 * time.Second):
		t.Fatal("irisd did not stop in 30s")
	}
}

func TestModelNameAndGRPCSettings(t *testing.T) {
	for _, c := range []struct {
		args   []string
		env    func(string) string
		model  string
		grpc   string
		grpcOn bool
		keep   int
	}{
		{nil, env(), "iris", ":8081", true, 16},
		{[]string{"-data", "/data/wine-2024.csv"}, env(), "wine-2024", ":8081", true, 16},
		{[]string{"-data", "/data/x.csv", "-model-name", "flowers"}, env(), "flowers", ":8081", true, 16},
		{nil, env("IRIS_MODEL_NAME", "m1", "IRIS_GRPC_ADDR", "127.0.0.1:9", "IRIS_KEEP_VERSIONS", "3"), "m1", "127.0.0.1:9", true, 3},
		{[]string{"-grpc-addr", ""}, env(), "iris", "", false, 16},
		{nil, env("IRIS_GRPC_ADDR", "off"), "iris", "off", false, 16},
	} {
		cfg, err := parseConfig(c.args, c.env, io.Discard)
		require.NoError(t, err, "%v", c.args)
		assert.Equal(t, c.model, cfg.modelName(), "%v", c.args)
		assert.Equal(t, c.grpc, cfg.GRPCAddr)
		assert.Equal(t, c.grpcOn, cfg.grpcEnabled())
		assert.Equal(t, c.keep, cfg.KeepVersions)
	}
}
