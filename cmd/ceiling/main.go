// Command ceiling is the measuring reference of make loadtest: the fastest
// plain server the standard library makes for POST /predict. It decodes
// the request body with encoding/json (one instance in "features" or a
// batch in "instances") and encodes, with encoding/json, a constant answer
// of the full response shape of irisd (5 neighbours per prediction, one
// prediction per row). No routing, middleware, logging or KNN: whatever
// irisd does beyond this costs throughput, and the ratio of the two in one
// run is the figure that matters on a shared machine.
//
//	ceiling -addr 127.0.0.1:0   # prints {"msg":"listening","addr":"127.0.0.1:PORT"}
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
}

// request is the body of POST /predict.
type request struct {
	Features  []float64   `json:"features"`
	Instances [][]float64 `json:"instances"`
	K         *int        `json:"k"`
	Metric    *string     `json:"metric"`
	Weights   *string     `json:"weights"`
}

type neighbor struct {
	ID       int64   `json:"id"`
	Species  string  `json:"species"`
	Distance float64 `json:"distance"`
}

type prediction struct {
	Species       string             `json:"species"`
	Probabilities map[string]float64 `json:"probabilities"`
	Neighbors     []neighbor         `json:"neighbors"`
	Tie           bool               `json:"tie"`
}

type single struct {
	prediction
	K              int    `json:"k"`
	Metric         string `json:"metric"`
	Weights        string `json:"weights"`
	DatasetVersion uint64 `json:"dataset_version"`
}

type batch struct {
	Predictions    []prediction `json:"predictions"`
	K              int          `json:"k"`
	Metric         string       `json:"metric"`
	Weights        string       `json:"weights"`
	DatasetVersion uint64       `json:"dataset_version"`
}

// answer is the constant prediction: what irisd answers for
// [5.1, 3.5, 1.4, 0.2] on the Iris data.
var answer = prediction{
	Species:       "setosa",
	Probabilities: map[string]float64{"setosa": 1, "versicolor": 0, "virginica": 0},
	Neighbors: []neighbor{
		{ID: 1, Species: "setosa", Distance: 0},
		{ID: 18, Species: "setosa", Distance: 0.09999999999999998},
		{ID: 5, Species: "setosa", Distance: 0.1414213562373093},
		{ID: 40, Species: "setosa", Distance: 0.14142135623730964},
		{ID: 28, Species: "setosa", Distance: 0.14142135623730995},
	},
}

func handlePredict(w http.ResponseWriter, r *http.Request) {
	var req request
	dec := json.NewDecoder(io.LimitReader(r.Body, 8<<20))
	if err := dec.Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	if req.Instances != nil {
		out := batch{Predictions: make([]prediction, len(req.Instances)), K: 5, Metric: "euclidean", Weights: "uniform", DatasetVersion: 1}
		for i := range out.Predictions {
			out.Predictions[i] = answer
		}
		enc.Encode(out)
		return
	}
	enc.Encode(single{prediction: answer, K: 5, Metric: "euclidean", Weights: "uniform", DatasetVersion: 1})
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ceiling", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /predict", handlePredict)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "{\"msg\":\"listening\",\"addr\":%q}\n", ln.Addr().String())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
