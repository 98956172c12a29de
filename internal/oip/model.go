// Package oip speaks the Open Inference Protocol (the "KServe V2 inference
// protocol", also spoken by Triton, Seldon Core and MLServer) for the
// service's one model, over REST (Handler) and gRPC (NewGRPC, with the
// generated code in package inferencepb).
//
// The model's versions are the dataset's versions: a request may name any
// version the store keeps (dataset.History) and is answered exactly as it
// was when that version was current.
//
// # Wire contract
//
// One input, of any name, with shape [n, d] (d features per row) and
// datatype FP32, FP64 or an integer type, converted to float64 exactly.
// Outputs: label (BYTES [n]), probabilities (FP64 [n, C]), neighbor_ids
// (INT64 [n, k]), neighbor_distances (FP64 [n, k]), tie (BOOL [n]) and
// novelty (FP64 [n]: how unusual each row is, the percentile of its nearest
// distance among the training set's nearest-neighbour distances, the
// number POST /predict gives as novelty.percentile; the output's parameter
// threshold is the percentile above which POST /predict calls a row
// unusual).
// Request parameters k, metric and weights follow POST /predict's defaults
// and limits (dataset.QueryRules). Errors are dataset errors: invalid input
// is 400 / INVALID_ARGUMENT, an unknown model or version 404 / NOT_FOUND,
// a server not ready 503 / UNAVAILABLE.
//
// The package reaches the domain only through Model and the few functions
// of domain.go.
package oip

import (
	"context"
	"slices"
	"strconv"
	"sync"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/knn"
	"github.com/irisknn/irisknn/internal/novelty"
)

// The names of the model's input and outputs, as its metadata gives them.
const (
	InputFeatures     = "features"
	OutputLabel       = "label"
	OutputProbs       = "probabilities"
	OutputNeighborIDs = "neighbor_ids"
	OutputNeighborDst = "neighbor_distances"
	OutputTie         = "tie"
	OutputNovelty     = "novelty"
)

// outputNames lists every output in metadata order (the default selection).
var outputNames = []string{OutputLabel, OutputProbs, OutputNeighborIDs, OutputNeighborDst, OutputTie, OutputNovelty}

// ExtensionBinary is the binary tensor data extension (Triton's
// extension_binary_data.md), advertised in the server metadata.
const ExtensionBinary = "binary_tensor_data"

// Model is the one model the server serves: a name over a dataset store.
type Model struct {
	Name          string             // the model's name in every URL and message
	Store         dataset.Store      // the current and kept versions
	Rules         dataset.QueryRules // k, metric and weights: defaults and limits
	MaxBatch      int                // the most rows in one request
	ServerName    string             // the server metadata's name
	ServerVersion string             // the server metadata's version
	// Ready reports whether the server is ready; nil means always.
	Ready func() bool
	// Novelty assesses how unusual each row is: the tracker POST /predict
	// uses, so that both give the same number; nil makes one with the
	// default threshold.
	Novelty *novelty.Tracker

	noveltyOnce sync.Once
}

func (m *Model) ready() bool { return m.Ready == nil || m.Ready() }

// tracker returns m.Novelty, made on first use when nil.
func (m *Model) tracker() *novelty.Tracker {
	m.noveltyOnce.Do(func() {
		if m.Novelty == nil {
			m.Novelty = novelty.NewTracker(novelty.DefaultThreshold)
		}
	})
	return m.Novelty
}

// errNotReady is the error of a request refused while not ready.
func errNotReady() error {
	return dataset.Unavailable("the server is not ready (starting or shutting down)", nil)
}

// checkName reports an unknown model name.
func (m *Model) checkName(name string) error {
	if name != m.Name {
		return dataset.NotFoundf("unknown model %q: this server serves the model %q", name, m.Name)
	}
	return nil
}

// snapshot returns the version named by version ("": the current one).
func (m *Model) snapshot(version string) (*dataset.Snapshot, error) {
	if version == "" {
		return m.Store.Snapshot(), nil
	}
	return dataset.SnapshotAtString(m.Store, version)
}

// resolve checks a model name and version and returns the snapshot.
func (m *Model) resolve(name, version string) (*dataset.Snapshot, error) {
	if err := m.checkName(name); err != nil {
		return nil, err
	}
	return m.snapshot(version)
}

// versionString formats a dataset version as a model version.
func versionString(v uint64) string { return strconv.FormatUint(v, 10) }

// TensorMeta describes one input or output in the model metadata.
type TensorMeta struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// Metadata is the model metadata of one version.
type Metadata struct {
	Name     string       `json:"name"`
	Versions []string     `json:"versions"`
	Platform string       `json:"platform"`
	Inputs   []TensorMeta `json:"inputs"`
	Outputs  []TensorMeta `json:"outputs"`
	// Parameters (an extension of the metadata object): classes (the order
	// of probabilities), feature_names, dataset_version (of this
	// metadata), default_k, max_k, max_batch and max_neighbors.
	Parameters map[string]any `json:"parameters"`
}

// Platform is the model metadata's platform.
const Platform = "irisknn_knn"

// metadata returns the metadata of snap.
func (m *Model) metadata(snap *dataset.Snapshot) Metadata {
	d := int64(featureDim(snap))
	c := int64(len(snap.Classes()))
	versions := m.Store.Versions()
	vs := make([]string, len(versions))
	for i, v := range versions {
		vs[i] = versionString(v)
	}
	return Metadata{
		Name:     m.Name,
		Versions: vs,
		Platform: Platform,
		Inputs:   []TensorMeta{{Name: InputFeatures, Datatype: "FP64", Shape: []int64{-1, d}}},
		Outputs: []TensorMeta{
			{Name: OutputLabel, Datatype: "BYTES", Shape: []int64{-1}},
			{Name: OutputProbs, Datatype: "FP64", Shape: []int64{-1, c}},
			{Name: OutputNeighborIDs, Datatype: "INT64", Shape: []int64{-1, -1}},
			{Name: OutputNeighborDst, Datatype: "FP64", Shape: []int64{-1, -1}},
			{Name: OutputTie, Datatype: "BOOL", Shape: []int64{-1}},
			{Name: OutputNovelty, Datatype: "FP64", Shape: []int64{-1}},
		},
		Parameters: map[string]any{
			"classes":         slices.Clone(snap.Classes()),
			"feature_names":   featureNames(snap),
			"dataset_version": snap.Version(),
			"default_k":       m.Rules.DefaultK,
			"max_k":           m.Rules.MaxK,
			"max_batch":       m.MaxBatch,
			"max_neighbors":   m.Rules.MaxNeighbors,
		},
	}
}

// settings are a request's optional k, metric and weights.
type settings struct {
	k               *int
	metric, weights *string
}

// request is an inference request once decoded from either protocol, up
// to its input's values, which each protocol converts itself.
type request struct {
	snap     *dataset.Snapshot
	query    knn.Query
	datatype string
	rows     int // n of the input's shape [n, d]
	dim      int // d
	outputs  []string
}

// prepare checks everything of a request to snap but its values: the
// settings, the input's datatype and shape, the outputs.
func (m *Model) prepare(snap *dataset.Snapshot, s settings, datatype string, shape []int64, outputs []string) (*request, error) {
	q, err := m.Rules.Resolve(snap, s.k, s.metric, s.weights)
	if err != nil {
		return nil, err
	}
	if _, err := elemSize(datatype); err != nil {
		return nil, err
	}
	d := featureDim(snap)
	if len(shape) != 2 || shape[1] != int64(d) || shape[0] < 1 {
		return nil, dataset.Invalidf("shape", "input shape must be [n, %d] (n rows of %d features, n >= 1), got %v", d, d, shape)
	}
	if shape[0] > int64(m.MaxBatch) {
		return nil, dataset.Invalidf("shape", "a request may have at most %d rows (-max-batch), got %d", m.MaxBatch, shape[0])
	}
	if err := m.Rules.CheckWork(int(shape[0]), q); err != nil {
		return nil, err
	}
	if len(outputs) == 0 {
		outputs = outputNames
	}
	for i, o := range outputs {
		if !slices.Contains(outputNames, o) {
			return nil, dataset.Invalidf("outputs", "unknown output %q: the model's outputs are %v", o, outputNames)
		}
		if slices.Contains(outputs[:i], o) {
			return nil, dataset.Invalidf("outputs", "output %q is requested twice", o)
		}
	}
	return &request{snap: snap, query: q, datatype: datatype, rows: int(shape[0]), dim: d, outputs: outputs}, nil
}

// Tensor is one output with its values copied out: exactly one of its
// value slices is set, per its datatype (BYTES: Bytes, FP64: F64, INT64:
// I64, BOOL: Bool).
type Tensor struct {
	Name     string
	Datatype string
	Shape    []int64
	Bytes    [][]byte
	F64      []float64
	I64      []int64
	Bool     []bool
	// Params are the output's parameters (probabilities: classes).
	Params map[string]string
}

// scratch is the per-request memory of an inference, reused across
// requests: a 10,000-row batch would otherwise allocate megabytes.
type scratch struct {
	flat  []float64
	preds []knn.Prediction
	nb    []knn.Neighbor
	probs []float64
	nov   []float64 // the novelty percentile of each row
	rows  rowScratch
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// maxPooledValues caps the scratch kept in the pool (a few MB). It admits
// the largest batch at the default k (10,000 rows: 40,000 inputs, 50,000
// neighbours, 30,000 probabilities, 10,000 novelties, with slices.Grow's
// rounding up), which at 1<<17 fell just out of the pool and was
// allocated afresh, about 3 MB, every request.
const maxPooledValues = 1 << 18

// getScratch returns scratch for a request: flat sized for r's values.
func getScratch(r *request) *scratch {
	sc := scratchPool.Get().(*scratch)
	sc.flat = slices.Grow(sc.flat[:0], r.rows*r.dim)[:r.rows*r.dim]
	return sc
}

// release returns sc to the pool; sc must not be used after.
func (sc *scratch) release() {
	if cap(sc.flat)+cap(sc.nb)+cap(sc.probs)+cap(sc.nov) <= maxPooledValues {
		scratchPool.Put(sc)
	}
}

// result is an answered request. Its values live in the request's scratch
// until release.
type result struct {
	snap      *dataset.Snapshot
	query     knn.Query
	outputs   []string
	preds     []knn.Prediction
	novelty   []float64 // per row, when the novelty output is asked for
	classes   [][]byte
	threshold float64 // the novelty tracker's
	sc        *scratch
}

// release gives the result's memory back; res must not be used after.
func (res *result) release() { res.sc.release() }

// infer predicts the request's rows (sc.flat: row-major, n*d values) and
// returns the result, which owns sc.
func (m *Model) infer(ctx context.Context, r *request, sc *scratch) (*result, error) {
	n, k := r.rows, r.query.K
	classes := r.snap.Classes()
	c := len(classes)
	preds := slices.Grow(sc.preds[:0], n)[:n]
	nb := slices.Grow(sc.nb[:0], n*k)
	probs := slices.Grow(sc.probs[:0], n*c)
	sc.preds, sc.nb, sc.probs = preds, nb, probs
	for i := range preds {
		preds[i].Neighbors = nb[i*k : i*k : (i+1)*k]
		preds[i].Probabilities = probs[i*c : i*c : (i+1)*c]
	}
	if err := predictRows(ctx, r.snap, preds, sc.flat, r.dim, r.query, &sc.rows); err != nil {
		return nil, err
	}
	res := &result{snap: r.snap, query: r.query, outputs: r.outputs, preds: preds, sc: sc, classes: make([][]byte, c)}
	if slices.Contains(r.outputs, OutputNovelty) {
		t := m.tracker()
		res.threshold = t.Threshold()
		nov := slices.Grow(sc.nov[:0], n)[:n]
		sc.nov = nov
		for i := range preds {
			nov[i] = t.Assess(r.snap, r.query.Metric, preds[i].Neighbors[0].Distance).Percentile
		}
		res.novelty = nov
	}
	for i, name := range classes {
		res.classes[i] = []byte(name)
	}
	return res, nil
}

// meta returns output i's name, datatype, shape and parameters.
func (res *result) meta(i int) (name, datatype string, shape []int64, params map[string]string) {
	n, k, c := int64(len(res.preds)), int64(res.query.K), int64(len(res.classes))
	switch name = res.outputs[i]; name {
	case OutputLabel:
		return name, "BYTES", []int64{n}, nil
	case OutputProbs:
		return name, "FP64", []int64{n, c}, map[string]string{"classes": classesParam(res.snap.Classes())}
	case OutputNeighborIDs:
		return name, "INT64", []int64{n, k}, nil
	case OutputNeighborDst:
		return name, "FP64", []int64{n, k}, nil
	case OutputTie:
		return name, "BOOL", []int64{n}, nil
	case OutputNovelty:
		return name, "FP64", []int64{n}, map[string]string{"threshold": strconv.FormatFloat(res.threshold, 'g', -1, 64)}
	}
	panic("oip: unknown output " + name)
}

// tensor returns output i with its values copied out.
func (res *result) tensor(i int) Tensor {
	name, dt, shape, params := res.meta(i)
	t := Tensor{Name: name, Datatype: dt, Shape: shape, Params: params}
	preds := res.preds
	switch name {
	case OutputLabel:
		t.Bytes = make([][]byte, len(preds))
		for j := range preds {
			t.Bytes[j] = res.classes[preds[j].Class]
		}
	case OutputProbs:
		t.F64 = make([]float64, 0, len(preds)*len(res.classes))
		for j := range preds {
			t.F64 = append(t.F64, preds[j].Probabilities...)
		}
	case OutputNeighborIDs:
		t.I64 = make([]int64, 0, len(preds)*res.query.K)
		for j := range preds {
			for _, x := range preds[j].Neighbors {
				t.I64 = append(t.I64, x.ID)
			}
		}
	case OutputNeighborDst:
		t.F64 = make([]float64, 0, len(preds)*res.query.K)
		for j := range preds {
			for _, x := range preds[j].Neighbors {
				t.F64 = append(t.F64, x.Distance)
			}
		}
	case OutputTie:
		t.Bool = make([]bool, len(preds))
		for j := range preds {
			t.Bool[j] = preds[j].Tie
		}
	case OutputNovelty:
		t.F64 = slices.Clone(res.novelty)
	}
	return t
}
