package oip

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/irisknn/irisknn/internal/dataset"
)

// jsonRequest is the JSON object of an inference request ($inference_request).
type jsonRequest struct {
	ID         string                     `json:"id"`
	Parameters map[string]json.RawMessage `json:"parameters"`
	Inputs     []jsonInput                `json:"inputs"`
	Outputs    []jsonOutputReq            `json:"outputs"`
}

// jsonInput is one $request_input.
type jsonInput struct {
	Name       string                     `json:"name"`
	Shape      []int64                    `json:"shape"`
	Datatype   string                     `json:"datatype"`
	Parameters map[string]json.RawMessage `json:"parameters"`
	Data       json.RawMessage            `json:"data"`
}

// jsonOutputReq is one $request_output.
type jsonOutputReq struct {
	Name       string                     `json:"name"`
	Parameters map[string]json.RawMessage `json:"parameters"`
}

// restInfer is a decoded REST inference request.
type restInfer struct {
	id       string
	req      *request
	sc       *scratch // the values, in sc.flat
	binary   []bool   // per output of req.outputs: answer it as binary data
	settings settings
}

// decodeInfer decodes an inference request body: the JSON object, then,
// when headerLen >= 0 (Inference-Header-Content-Length), the binary data of
// inputs after it. It validates everything but the rows' feature values,
// which the domain checks.
func (m *Model) decodeInfer(name, version string, body []byte, headerLen int) (*restInfer, error) {
	snap, err := m.resolve(name, version)
	if err != nil {
		return nil, err
	}
	js, bin := body, []byte(nil)
	if headerLen >= 0 {
		if headerLen > len(body) {
			return nil, dataset.Invalidf("Inference-Header-Content-Length", "Inference-Header-Content-Length is %d but the body has only %d bytes", headerLen, len(body))
		}
		js, bin = body[:headerLen], body[headerLen:]
	}
	var jr jsonRequest
	if err := json.Unmarshal(js, &jr); err != nil {
		return nil, dataset.Invalidf("body", "the request is not a valid inference request object: %v", jsonError(err))
	}
	var s settings
	if s.k, err = paramInt(jr.Parameters, "k"); err != nil {
		return nil, err
	}
	if s.metric, err = paramString(jr.Parameters, "metric"); err != nil {
		return nil, err
	}
	if s.weights, err = paramString(jr.Parameters, "weights"); err != nil {
		return nil, err
	}
	allBinary, err := paramBool(jr.Parameters, "binary_data_output")
	if err != nil {
		return nil, err
	}
	if len(jr.Inputs) != 1 {
		return nil, dataset.Invalidf("inputs", "give exactly one input (the rows of %s), got %d", InputFeatures, len(jr.Inputs))
	}
	in := &jr.Inputs[0]
	names := make([]string, len(jr.Outputs))
	for i, o := range jr.Outputs {
		names[i] = o.Name
	}
	r, err := m.prepare(snap, s, in.Datatype, in.Shape, names)
	if err != nil {
		return nil, err
	}
	ri := &restInfer{id: jr.ID, req: r, settings: s, binary: make([]bool, len(r.outputs))}
	for i := range r.outputs {
		b := allBinary != nil && *allBinary
		if len(jr.Outputs) > 0 {
			ob, err := paramBool(jr.Outputs[i].Parameters, "binary_data")
			if err != nil {
				return nil, err
			}
			if ob != nil {
				b = *ob
			}
		}
		ri.binary[i] = b
	}
	if err := ri.values(in, headerLen, bin); err != nil {
		return nil, err
	}
	return ri, nil
}

// values converts the input's values, binary or JSON, into scratch memory
// that ri then owns.
func (ri *restInfer) values(in *jsonInput, headerLen int, bin []byte) (err error) {
	r := ri.req
	size, err := paramInt(in.Parameters, "binary_data_size")
	if err != nil {
		return err
	}
	sc := getScratch(r)
	defer func() {
		if err != nil {
			sc.release()
		} else {
			ri.sc = sc
		}
	}()
	switch {
	case size != nil:
		if headerLen < 0 {
			return dataset.Invalidf("Inference-Header-Content-Length", "input %q has binary_data_size but the request has no Inference-Header-Content-Length header to find it", in.Name)
		}
		if len(in.Data) > 0 {
			return dataset.Invalidf("inputs", "input %q has both data and binary_data_size: give one", in.Name)
		}
		if *size < 0 || *size > len(bin) {
			return dataset.Invalidf("inputs", "input %q has binary_data_size %d but %d bytes of binary data follow the JSON", in.Name, *size, len(bin))
		}
		if *size != len(bin) {
			return dataset.Invalidf("inputs", "%d bytes of binary data follow the JSON but the input's binary_data_size is %d", len(bin), *size)
		}
		return decodeRaw(r.datatype, bin[:*size], sc.flat)
	default:
		if len(bin) > 0 {
			return dataset.Invalidf("inputs", "%d bytes of binary data follow the JSON but no input has binary_data_size", len(bin))
		}
		if len(in.Data) == 0 {
			return dataset.Invalidf("inputs", "input %q has no data: give data (nested or flat) or binary_data_size", in.Name)
		}
		return parseTensorData(in.Data, in.Shape, r.datatype, sc.flat)
	}
}

// jsonError shortens encoding/json's messages for a client.
func jsonError(err error) string {
	var te *json.UnmarshalTypeError
	if e, ok := err.(*json.UnmarshalTypeError); ok {
		te = e
		return fmt.Sprintf("%s must not be a JSON %s", te.Field, te.Value)
	}
	return err.Error()
}

// paramRaw returns a parameter's value, or nil.
func paramRaw(p map[string]json.RawMessage, name string) json.RawMessage {
	if v, ok := p[name]; ok {
		return bytes.TrimSpace(v)
	}
	return nil
}

// paramInt returns an integer parameter, or nil when absent.
func paramInt(p map[string]json.RawMessage, name string) (*int, error) {
	v := paramRaw(p, name)
	if v == nil {
		return nil, nil
	}
	if !validNumber(v) || !isIntLiteral(v) {
		return nil, dataset.Invalidf(name, "parameter %s must be an integer, got %s", name, v)
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return nil, dataset.Invalidf(name, "parameter %s is out of range: %s", name, v)
	}
	return &n, nil
}

// paramString returns a string parameter, or nil when absent.
func paramString(p map[string]json.RawMessage, name string) (*string, error) {
	v := paramRaw(p, name)
	if v == nil {
		return nil, nil
	}
	var s string
	if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
		return nil, dataset.Invalidf(name, "parameter %s must be a string, got %s", name, v)
	}
	return &s, nil
}

// paramBool returns a boolean parameter, or nil when absent.
func paramBool(p map[string]json.RawMessage, name string) (*bool, error) {
	v := paramRaw(p, name)
	if v == nil {
		return nil, nil
	}
	switch string(v) {
	case "true":
		b := true
		return &b, nil
	case "false":
		b := false
		return &b, nil
	}
	return nil, dataset.Invalidf(name, "parameter %s must be true or false, got %s", name, v)
}

// parseTensorData converts JSON tensor data, nested as the shape or flat
// (row-major), into out (one element per value of the shape).
func parseTensorData(data []byte, shape []int64, datatype string, out []float64) error {
	p := tensorParser{b: data, shape: shape, datatype: datatype, out: out[:0], want: len(out)}
	p.ws()
	if p.i >= len(p.b) || p.b[p.i] != '[' {
		return dataset.Invalidf("inputs", "input data must be a JSON array of numbers (nested as the shape %v, or flat)", shape)
	}
	if err := p.array(0); err != nil {
		return err
	}
	p.ws()
	if p.i != len(p.b) {
		return dataset.Invalidf("inputs", "input data has trailing bytes after the array")
	}
	if len(p.out) != p.want {
		return dataset.Invalidf("inputs", "input data has %d elements; its shape %v needs %d", len(p.out), shape, p.want)
	}
	return nil
}

// tensorParser walks JSON tensor data. Depth is bounded by the shape, so
// a deeply nested body cannot exhaust the stack.
type tensorParser struct {
	b        []byte
	i        int
	shape    []int64
	datatype string
	out      []float64
	want     int
}

func (p *tensorParser) ws() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *tensorParser) errShape() error {
	return dataset.Invalidf("inputs", "input data does not match its shape %v: nest it as the shape, or give it flat (%d numbers)", p.shape, p.want)
}

// array parses the array at p.i (a '['), at nesting depth.
func (p *tensorParser) array(depth int) error {
	p.i++                  // '['
	count, nested := 0, -1 // nested: -1 unknown, 0 numbers, 1 arrays
	for {
		p.ws()
		if p.i >= len(p.b) {
			return dataset.Invalidf("inputs", "input data ends inside an array")
		}
		if p.b[p.i] == ']' && count == 0 {
			p.i++
			break
		}
		if p.b[p.i] == '[' {
			if nested == 0 || depth+1 >= len(p.shape) {
				return p.errShape()
			}
			nested = 1
			if err := p.array(depth + 1); err != nil {
				return err
			}
		} else {
			if nested == 1 {
				return p.errShape()
			}
			nested = 0
			start := p.i
			for p.i < len(p.b) && !isDelim(p.b[p.i]) {
				p.i++
			}
			tok := p.b[start:p.i]
			if len(p.out) >= p.want {
				return dataset.Invalidf("inputs", "input data has more elements than its shape %v holds (%d)", p.shape, p.want)
			}
			if len(tok) > 0 && (tok[0] == '"' || tok[0] == 't' || tok[0] == 'f' || tok[0] == 'n') {
				return dataset.Invalidf("inputs", "element %d of input data is %s: give numbers", len(p.out), shortTok(tok))
			}
			v, err := parseNumber(p.datatype, tok, len(p.out))
			if err != nil {
				return err
			}
			p.out = append(p.out, v)
		}
		count++
		p.ws()
		if p.i >= len(p.b) {
			return dataset.Invalidf("inputs", "input data ends inside an array")
		}
		if p.b[p.i] == ',' {
			p.i++
			continue
		}
		if p.b[p.i] == ']' {
			p.i++
			break
		}
		return dataset.Invalidf("inputs", "input data is not valid JSON near byte %d", p.i)
	}
	switch {
	case nested == 1 && int64(count) == p.shape[depth]: // rows of a nested tensor
	case nested == 0 && depth == len(p.shape)-1 && int64(count) == p.shape[depth]: // innermost
	case nested == 0 && depth == 0: // flat: the total is checked at the end
	default:
		return p.errShape()
	}
	return nil
}

func isDelim(c byte) bool {
	return c == ',' || c == ']' || c == '[' || c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

func shortTok(t []byte) string {
	if len(t) > 20 {
		return string(t[:20]) + "..."
	}
	return string(t)
}
