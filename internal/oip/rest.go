package oip

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/irisknn/irisknn/internal/dataset"
)

// HeaderLength is the binary extension's header giving the length of the
// JSON object at the start of a body that binary tensor data follows.
const HeaderLength = "Inference-Header-Content-Length"

// RESTOptions are the REST handler's settings.
type RESTOptions struct {
	MaxBodyBytes int64        // the largest body, before and after decompression
	Logger       *slog.Logger // internal errors; nil discards
}

// rest serves the REST routes of the protocol.
type rest struct {
	m   *Model
	opt RESTOptions
}

// Handler returns the protocol's REST routes, all under /v2 (mount it
// there). Bodies are accepted with any or no Content-Type and with
// Content-Encoding gzip; answers are gzipped when the client accepts it.
// Errors are {"error": "..."}.
func Handler(m *Model, opt RESTOptions) http.Handler {
	if opt.MaxBodyBytes <= 0 {
		opt.MaxBodyBytes = 8 << 20
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	h := &rest{m: m, opt: opt}
	mux := http.NewServeMux()
	get, post := http.MethodGet, http.MethodPost
	mux.Handle("/v2", only(get, h.serverMetadata))
	mux.Handle("/v2/{$}", only(get, h.serverMetadata))
	mux.Handle("/v2/health/live", only(get, h.live))
	mux.Handle("/v2/health/ready", only(get, h.ready))
	mux.Handle("/v2/models/{name}", only(get, h.modelMetadata))
	mux.Handle("/v2/models/{name}/versions/{version}", only(get, h.modelMetadata))
	mux.Handle("/v2/models/{name}/ready", only(get, h.modelReady))
	mux.Handle("/v2/models/{name}/versions/{version}/ready", only(get, h.modelReady))
	mux.Handle("/v2/models/{name}/infer", only(post, h.infer))
	mux.Handle("/v2/models/{name}/versions/{version}/infer", only(post, h.infer))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no route "+r.URL.Path+" of the Open Inference Protocol: see /openapi.yaml")
	})
	return mux
}

// only restricts a handler to one method (GET also answers HEAD).
func only(method string, f http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && (method != http.MethodGet || r.Method != http.MethodHead) {
			allow := method
			if method == http.MethodGet {
				allow += ", HEAD"
			}
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s is not allowed: use %s", r.Method, r.URL.Path, method))
			return
		}
		f(w, r)
	})
}

// errTooLarge is a body beyond MaxBodyBytes.
type errTooLarge struct{ limit int64 }

func (e errTooLarge) Error() string {
	return fmt.Sprintf("the request body is larger than %d bytes (-max-body / IRIS_MAX_BODY), after decompression", e.limit)
}

// httpStatus maps an error to its HTTP status: the one table of the REST
// protocol.
func httpStatus(err error) int {
	if _, ok := errors.AsType[errTooLarge](err); ok {
		return http.StatusRequestEntityTooLarge
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return http.StatusServiceUnavailable // the client left or the server is stopping
	}
	switch dataset.ErrorKind(err) {
	case dataset.KindInvalid, dataset.KindConflict, dataset.KindPrecondition:
		return http.StatusBadRequest
	case dataset.KindNotFound:
		return http.StatusNotFound
	case dataset.KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// fail writes err as the protocol's error object.
func (h *rest) fail(w http.ResponseWriter, r *http.Request, err error) {
	st := httpStatus(err)
	msg := err.Error()
	if e, ok := errors.AsType[*dataset.Error](err); ok {
		msg = e.Message // the cause is for the log
	}
	if st == http.StatusInternalServerError {
		h.opt.Logger.Error("oip: internal error", "path", r.URL.Path, "err", err)
		msg = "internal error"
	}
	writeError(w, st, msg)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	b, _ := json.Marshal(v)
	writeBody(w, r, "application/json", append(b, '\n'))
}

// writeBody writes a 200 answer, gzipped when the client accepts gzip.
func writeBody(w http.ResponseWriter, r *http.Request, contentType string, b []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Add("Vary", "Accept-Encoding")
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		zw.Write(b)
		zw.Close()
		h.Set("Content-Encoding", "gzip")
		b = buf.Bytes()
	}
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// acceptsGzip reports whether an Accept-Encoding value admits gzip.
func acceptsGzip(ae string) bool {
	for part := range strings.SplitSeq(ae, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

func (h *rest) serverMetadata(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, map[string]any{"name": h.m.ServerName, "version": h.m.ServerVersion, "extensions": []string{ExtensionBinary}})
}

func (h *rest) live(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }

func (h *rest) ready(w http.ResponseWriter, r *http.Request) {
	if !h.m.ready() {
		h.fail(w, r, errNotReady())
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *rest) modelMetadata(w http.ResponseWriter, r *http.Request) {
	snap, err := h.m.resolve(r.PathValue("name"), r.PathValue("version"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, r, h.m.metadata(snap))
}

func (h *rest) modelReady(w http.ResponseWriter, r *http.Request) {
	if _, err := h.m.resolve(r.PathValue("name"), r.PathValue("version")); err != nil {
		h.fail(w, r, err)
		return
	}
	h.ready(w, r)
}

// bufPool holds request and response buffers (a 10,000-row batch needs
// about 160 KB in and 1.2 MB out): less garbage, fewer GC cycles.
var bufPool = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuf caps the buffers kept in bufPool.
const maxPooledBuf = 4 << 20

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= maxPooledBuf {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}

// readBody reads the whole body into buf, decompressing gzip, within the
// limit.
func (h *rest) readBody(w http.ResponseWriter, r *http.Request, buf *[]byte) ([]byte, error) {
	limit := h.opt.MaxBodyBytes
	if r.ContentLength > limit {
		// At once, not a byte of it read; and close after the answer, or
		// net/http would read up to 256 KiB of it first.
		w.Header().Set("Connection", "close")
		return nil, errTooLarge{limit}
	}
	var body io.Reader = http.MaxBytesReader(w, r.Body, limit)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				return nil, errTooLarge{limit}
			}
			return nil, dataset.Invalidf("Content-Encoding", "the body is not gzip data, as its Content-Encoding says: %v", err)
		}
		defer zr.Close()
		body = io.LimitReader(zr, limit+1)
	default:
		return nil, dataset.Invalidf("Content-Encoding", "Content-Encoding %q is not supported: send gzip or no encoding", enc)
	}
	b := *buf
	if n := r.ContentLength; n > 0 && n <= limit && r.Header.Get("Content-Encoding") == "" {
		b = slices.Grow(b[:0], int(n)+1) // one read, no regrowth
	}
	b, err := readAll(b[:0], body)
	*buf = b
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, errTooLarge{limit}
		}
		return nil, dataset.Invalidf("body", "the request body could not be read: %v", err)
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge{limit}
	}
	return b, nil
}

// readAll is io.ReadAll appending to b.
func readAll(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
	}
}

// jsonOutput is one $response_output.
type jsonOutput struct {
	Name       string         `json:"name"`
	Datatype   string         `json:"datatype"`
	Shape      []int64        `json:"shape"`
	Parameters map[string]any `json:"parameters,omitempty"`
	Data       any            `json:"data,omitempty"`
}

// jsonResponse is the $inference_response object.
type jsonResponse struct {
	ModelName    string         `json:"model_name"`
	ModelVersion string         `json:"model_version"`
	ID           string         `json:"id,omitempty"`
	Parameters   map[string]any `json:"parameters"`
	Outputs      []jsonOutput   `json:"outputs"`
}

func (h *rest) infer(w http.ResponseWriter, r *http.Request) {
	in := getBuf()
	defer putBuf(in)
	body, err := h.readBody(w, r, in)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	headerLen := -1
	if v := r.Header.Get(HeaderLength); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			h.fail(w, r, dataset.Invalidf(HeaderLength, "%s must be a non-negative integer, got %q", HeaderLength, v))
			return
		}
		headerLen = n
	}
	ri, err := h.m.decodeInfer(r.PathValue("name"), r.PathValue("version"), body, headerLen)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	res, err := h.m.infer(r.Context(), ri.req, ri.sc)
	if err != nil {
		ri.sc.release()
		h.fail(w, r, err)
		return
	}
	defer res.release()
	resp := jsonResponse{
		ModelName:    h.m.Name,
		ModelVersion: versionString(res.snap.Version()),
		ID:           ri.id,
		Parameters:   responseParams(res),
		Outputs:      make([]jsonOutput, len(res.outputs)),
	}
	binSize := 0
	for i := range res.outputs {
		name, dt, shape, params := res.meta(i)
		o := jsonOutput{Name: name, Datatype: dt, Shape: shape}
		if len(params) > 0 || ri.binary[i] {
			o.Parameters = map[string]any{}
			for k, v := range params {
				o.Parameters[k] = v
			}
		}
		if ri.binary[i] {
			n := res.rawSize(i)
			o.Parameters["binary_data_size"] = n
			binSize += n
		} else {
			t := res.tensor(i)
			o.Data = jsonData(&t)
		}
		resp.Outputs[i] = o
	}
	b, _ := json.Marshal(resp)
	w.Header().Set("X-Dataset-Version", versionString(res.snap.Version()))
	if binSize == 0 && !slices.Contains(ri.binary, true) {
		writeBody(w, r, "application/json", b)
		return
	}
	w.Header().Set(HeaderLength, strconv.Itoa(len(b)))
	buf := getBuf()
	defer putBuf(buf)
	out := slices.Grow((*buf)[:0], len(b)+binSize)
	out = append(out, b...)
	for i := range res.outputs {
		if ri.binary[i] {
			out = res.appendRaw(out, i)
		}
	}
	*buf = out
	writeBody(w, r, "application/octet-stream", out)
}

// responseParams are an answer's parameters: the dataset version answered
// from and the settings used.
func responseParams(res *result) map[string]any {
	return map[string]any{
		"dataset_version": res.snap.Version(),
		"k":               res.query.K,
		"metric":          res.query.Metric.String(),
		"weights":         res.query.Weights.String(),
	}
}

// jsonData returns t's values as JSON data (flat, row-major).
func jsonData(t *Tensor) any {
	switch t.Datatype {
	case "BYTES":
		s := make([]string, len(t.Bytes))
		for i, b := range t.Bytes {
			s[i] = string(b)
		}
		return s
	case "FP64":
		return t.F64
	case "INT64":
		return t.I64
	case "BOOL":
		return t.Bool
	}
	return nil
}
