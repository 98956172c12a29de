package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/irisknn/irisknn/internal/dataset"
)

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// decode reads a JSON request body into v. Every way a body can be
// unacceptable before its values are looked at is an *httpError: 415 for a
// content type that is not JSON, 413 for a body over the limit, 400 for
// anything the JSON decoder rejects (syntax, invalid UTF-8, wrong types,
// unknown fields, trailing data, numbers that overflow).
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	return s.withJSONBody(w, r, func(body []byte) error { return decodeJSON(body, v) })
}

// withJSONBody checks that the request says it is JSON (415 otherwise),
// reads its body into a pooled buffer (413 over the limit) and passes it to
// use, which must not keep it.
func (s *Server) withJSONBody(w http.ResponseWriter, r *http.Request, use func(body []byte) error) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &httpError{status: http.StatusUnsupportedMediaType,
				msg: fmt.Sprintf("Content-Type %q is not supported: send application/json", ct)}
		}
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 1<<20 { // do not keep huge buffers alive
			buf.Reset()
			bodyPool.Put(buf)
		}
	}()
	buf.Reset()
	if n := r.ContentLength; n > 0 && n <= s.cfg.MaxBodyBytes {
		buf.Grow(int(n) + 1)
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return &httpError{status: http.StatusRequestEntityTooLarge,
				msg: fmt.Sprintf("request body is larger than the limit of %d bytes", s.cfg.MaxBodyBytes)}
		}
		return badRequest("", "could not read the request body", err)
	}
	return use(buf.Bytes())
}

// decodeJSON strictly decodes one JSON value from body into v.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("", "request body is empty: send a JSON object", nil)
	}
	if !utf8.Valid(body) {
		return badRequest("", "request body is not valid UTF-8", nil)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("", "unexpected data after the JSON value: send exactly one JSON object", err)
	}
	return checkDuplicateKeys(body)
}

// checkDuplicateKeys rejects an object that names a key twice: encoding/json
// would silently keep the last, hiding a client's mistake. body is known to
// be valid JSON.
func checkDuplicateKeys(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		keys   map[string]struct{}
		object bool
		key    bool // the next token in this object is a key
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return badRequest("", "malformed JSON: "+err.Error(), err)
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if name, isKey := tok.(string); isKey && top != nil && top.object && top.key {
			if _, dup := top.keys[name]; dup {
				return badRequest(name, fmt.Sprintf("duplicate key %q: give each field once", name), nil)
			}
			top.keys[name] = struct{}{}
			top.key = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{keys: map[string]struct{}{}, object: true, key: true})
			continue
		case json.Delim('['):
			stack = append(stack, frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value (scalar or closed container) ends; in an object the next
		// token is a key again.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].key = true
		}
	}
}

// jsonError turns an encoding/json error into a 400 with a useful message.
func jsonError(err error) error {
	if he, ok := errors.AsType[*httpError](err); ok {
		return he
	}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return badRequest("", fmt.Sprintf("malformed JSON at byte %d: %v (NaN and Infinity are not JSON numbers)", se.Offset, se), err)
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		field := te.Field
		if field == "" {
			field = "body"
		}
		want := te.Type.String()
		switch {
		case strings.Contains(want, "int"):
			want = "an integer"
		case strings.Contains(want, "float"):
			want = "a number"
		case strings.Contains(want, "string"):
			want = "a string"
		case strings.HasPrefix(want, "[]"):
			want = "an array"
		case strings.Contains(want, "struct"), strings.Contains(want, "Request"):
			want = "an object"
		}
		msg := fmt.Sprintf("%s must be %s, got %s", field, want, te.Value)
		if te.Value == "number" {
			msg = fmt.Sprintf("%s must be %s, and in range", field, want)
		}
		return badRequest(field, msg, err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return badRequest("", "truncated JSON: the body ended before the value was complete", err)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return badRequest(name, fmt.Sprintf("unknown field %q", name), err)
	}
	return badRequest("", "malformed JSON: "+err.Error(), err)
}

// instancesJSON is a batch of rows. It decodes each row itself so that a
// row the decoder rejects is named in the error (instances[i]), not just
// "features".
type instancesJSON []featuresJSON

// UnmarshalJSON implements json.Unmarshaler.
func (in *instancesJSON) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "null" {
		return nil
	}
	var rows []json.RawMessage
	if err := json.Unmarshal(b, &rows); err != nil {
		return badRequest("instances", "instances must be an array of rows, each an array of 4 numbers or an object with "+strings.Join(dataset.FeatureNames[:], ", "), err)
	}
	out := make([]featuresJSON, len(rows))
	for i, raw := range rows {
		if err := out[i].UnmarshalJSON(raw); err != nil {
			field := fmt.Sprintf("instances[%d]", i)
			msg := "each measurement must be a JSON number within float64 range"
			if he, ok := errors.AsType[*httpError](err); ok {
				msg = strings.TrimPrefix(he.msg, "features ") // the row is named instead
			} else if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
				msg = te.Field + " must be a JSON number within float64 range"
			}
			return badRequest(field, field+": "+msg, err)
		}
	}
	*in = out
	return nil
}

// featuresJSON accepts a sample's measurements either as an array of four
// numbers in FeatureNames order or as an object naming them. Counting and
// completeness are checked later (a 422, not a 400), by features().
type featuresJSON struct {
	vals  []float64
	named bool
	have  [dataset.Dim]bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *featuresJSON) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '[':
		f.named = false
		if err := json.Unmarshal(b, &f.vals); err != nil {
			if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
				return badRequest("features", "each measurement must be a JSON number within float64 range", err)
			}
			return err
		}
		return nil
	case len(b) > 0 && b[0] == '{':
		var obj struct {
			SepalLength *float64 `json:"sepal_length"`
			SepalWidth  *float64 `json:"sepal_width"`
			PetalLength *float64 `json:"petal_length"`
			PetalWidth  *float64 `json:"petal_width"`
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&obj); err != nil {
			if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
				return badRequest("features", fmt.Sprintf("unknown measurement %s: want %s", name, strings.Join(dataset.FeatureNames[:], ", ")), err)
			}
			return err
		}
		f.named = true
		f.vals = make([]float64, dataset.Dim)
		for i, p := range []*float64{obj.SepalLength, obj.SepalWidth, obj.PetalLength, obj.PetalWidth} {
			if p != nil {
				f.vals[i], f.have[i] = *p, true
			}
		}
		return nil
	case string(b) == "null":
		return nil
	}
	return badRequest("features", "features must be an array of 4 numbers or an object with "+strings.Join(dataset.FeatureNames[:], ", "), nil)
}

// features converts the wire form into validated domain features; field
// names the JSON field for error messages.
func (f *featuresJSON) features(field string) (dataset.Features, error) {
	return f.featuresNamed(func() string { return field })
}

// featuresNamed is features with the field's name made only for an error
// (a batch would otherwise format "instances[i]" for every row).
func (f *featuresJSON) featuresNamed(name func() string) (dataset.Features, error) {
	var out dataset.Features
	if f.named && !slices.Contains(f.have[:], false) || !f.named && len(f.vals) == dataset.Dim {
		copy(out[:], f.vals)
		if dataset.CheckFeatures(out) == nil {
			return out, nil
		}
	}
	field := name()
	if f.named {
		for i, ok := range f.have {
			if !ok {
				return out, dataset.Invalidf(field, "%s.%s is missing: give all of %s", field, dataset.FeatureNames[i], strings.Join(dataset.FeatureNames[:], ", "))
			}
		}
	} else if len(f.vals) != dataset.Dim {
		return out, dataset.Invalidf(field, "%s must have %d numbers (%s), got %d", field, dataset.Dim, strings.Join(dataset.FeatureNames[:], ", "), len(f.vals))
	}
	copy(out[:], f.vals)
	if err := dataset.CheckFeatures(out); err != nil {
		return out, dataset.Invalidf(field, "%s: %s", field, err.(*dataset.Error).Message)
	}
	return out, nil
}
