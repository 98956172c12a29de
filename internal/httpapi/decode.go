package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"reflect"
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

// decodeJSON strictly decodes one JSON value from body into v, a pointer to
// a struct whose json tags name every key the object may have.
func decodeJSON(body []byte, v any) error {
	return decodeJSONKeys(body, v, structKeys(v))
}

// decodeJSONKeys is decodeJSON for a body whose top-level object may have
// exactly the given keys (v may then be a map).
func decodeJSONKeys(body []byte, v any, keys []string) error {
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
	return checkStrict(body, keys)
}

// structKeysCache holds the json keys of each struct type decoded.
var structKeysCache sync.Map // reflect.Type -> []string

// structKeys returns the json keys of the struct v points to.
func structKeys(v any) []string {
	t := reflect.TypeOf(v).Elem()
	if keys, ok := structKeysCache.Load(t); ok {
		return keys.([]string)
	}
	var keys []string
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	structKeysCache.Store(t, keys)
	return keys
}

// checkStrict enforces what encoding/json lets through, on a body known to
// be valid JSON: an object that names a key twice (encoding/json would
// silently keep the last, hiding a client's mistake), a top-level key that
// is not exactly one of keys (encoding/json matches keys case-insensitively:
// "FEATURES" would be taken for "features"), and null anywhere (encoding/json
// would read it as "absent", or as 0 in an array of numbers).
func checkStrict(body []byte, keys []string) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		keys   map[string]struct{}
		object bool
		key    bool // the next token in this object is a key
	}
	var (
		stack []frame
		field string // the top-level key being read
	)
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
			if len(stack) == 1 {
				if !slices.Contains(keys, name) {
					return badRequest(name, fmt.Sprintf("unknown field %q (keys are case-sensitive: want one of %s)", name, strings.Join(keys, ", ")), nil)
				}
				field = name
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
		case nil:
			name := field
			if name == "" {
				name = "body"
			}
			return badRequest(name, fmt.Sprintf("%s: null is not a value this API accepts; leave the field out or give a value", name), nil)
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

// featuresJSON is a row of features as decoded, before the checks that
// make it a 422 rather than a 400: vals holds the numbers in schema order
// (the array form: as given; the named form: in their schema positions),
// have which of them the named form gave (nil: all, or the array form).
type featuresJSON struct {
	vals  []float64
	named bool
	have  []bool
}

// parseFeatures decodes a row of features, an array of numbers in schema
// order or an object naming them, as the JSON decoder would: anything that
// is not such a row is a 400 naming field.
func parseFeatures(raw json.RawMessage, schema *dataset.Schema, field string) (featuresJSON, error) {
	shape := func(cause error) error {
		return badRequest(field, fmt.Sprintf("%s must be an array of %d numbers (%s) or an object naming them", field, schema.Dim(), schema.FeatureList()), cause)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return featuresJSON{}, shape(nil)
	}
	number := func(name string, v json.RawMessage) (float64, error) {
		v = bytes.TrimSpace(v)
		if len(v) == 0 || v[0] != '-' && (v[0] < '0' || v[0] > '9') {
			return 0, badRequest(field, fmt.Sprintf("%s must be a number, got %s", name, v), nil)
		}
		f, err := dataset.ParseNumber(string(v))
		if err != nil {
			return 0, badRequest(field, fmt.Sprintf("%s: %s is %v", name, v, err), err)
		}
		return f, nil
	}
	switch raw[0] {
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return featuresJSON{}, shape(err)
		}
		f := featuresJSON{vals: make([]float64, len(items))}
		for i, item := range items {
			v, err := number(fmt.Sprintf("%s[%d]", field, i), item)
			if err != nil {
				return featuresJSON{}, err
			}
			f.vals[i] = v
		}
		return f, nil
	case '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return featuresJSON{}, shape(err)
		}
		names := slices.Sorted(maps.Keys(obj))
		f := featuresJSON{vals: make([]float64, schema.Dim()), named: true, have: make([]bool, schema.Dim())}
		for _, name := range names {
			j, ok := schema.FeatureIndex(name)
			if !ok {
				return featuresJSON{}, badRequest(field, fmt.Sprintf("%s: unknown feature %q: want %s", field, name, schema.FeatureList()), nil)
			}
			v, err := number(field+"."+name, obj[name])
			if err != nil {
				return featuresJSON{}, err
			}
			f.vals[j], f.have[j] = v, true
		}
		if !slices.Contains(f.have, false) {
			f.have = nil // complete: as the fast parser leaves it
		}
		return f, nil
	}
	return featuresJSON{}, shape(nil)
}

// parseInstances decodes a batch: an array of rows, each named
// instances[i] in an error.
func parseInstances(raw json.RawMessage, schema *dataset.Schema) ([]featuresJSON, error) {
	var rows []json.RawMessage
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, badRequest("instances", fmt.Sprintf("instances must be an array of rows, each an array of %d numbers or an object with %s", schema.Dim(), schema.FeatureList()), err)
	}
	out := make([]featuresJSON, len(rows))
	for i, row := range rows {
		f, err := parseFeatures(row, schema, fmt.Sprintf("instances[%d]", i))
		if err != nil {
			return nil, err
		}
		out[i] = f
	}
	return out, nil
}

// features converts the wire form into validated domain features; field
// names the JSON field for error messages.
func (f *featuresJSON) features(schema *dataset.Schema, field string) ([]float64, error) {
	return f.featuresNamed(schema, func() string { return field })
}

// featuresNamed is features with the field's name made only for an error
// (a batch would otherwise format "instances[i]" for every row).
func (f *featuresJSON) featuresNamed(schema *dataset.Schema, name func() string) ([]float64, error) {
	if f.have == nil && len(f.vals) == schema.Dim() {
		if err := schema.CheckFeatures("", f.vals); err == nil {
			return f.vals, nil
		}
	}
	field := name()
	vals, err := f.values(schema, field)
	if err != nil {
		return nil, err
	}
	return vals, schema.CheckFeatures(field, vals)
}

// values returns the numbers in schema order, checking only that the named
// form names every feature; the values themselves are for
// Schema.CheckFeatures.
func (f *featuresJSON) values(schema *dataset.Schema, field string) ([]float64, error) {
	for i, ok := range f.have {
		if !ok {
			return nil, dataset.Invalidf(field, "%s.%s is missing: give all of %s", field, schema.Features()[i], schema.FeatureList())
		}
	}
	return f.vals, nil
}
