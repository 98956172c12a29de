package httpapi

import (
	"net/http"
	"slices"
	"strconv"
	"unsafe"

	"github.com/irisknn/irisknn/internal/dataset"
)

// decodePredict reads a POST /predict body into req. It is s.decode with a
// fast path: a hand-written parser for the bodies clients actually send
// (plain ASCII JSON, known keys without escapes, numbers, the array or the
// named-object form of features). Anything else, including every body that
// may be an error, falls back to decodeJSON, so the answers to bad bodies
// (400/415/413, and the 422s that follow decoding) are those of the
// encoding/json path by construction (TestDecodePredictMatchesEncodingJSON,
// FuzzDecodePredict).
func (s *Server) decodePredict(w http.ResponseWriter, r *http.Request, schema *dataset.Schema, req *predictRequest) error {
	return s.withJSONBody(w, r, func(body []byte) error { return decodePredictBody(body, schema, req) })
}

// decodePredictBody decodes a predict body: fast when it can, through
// decodeJSON otherwise.
func decodePredictBody(body []byte, schema *dataset.Schema, req *predictRequest) error {
	p := predictParser{b: body, schema: schema, nums: make([]float64, 0, len(body)/4+4)}
	if p.parse() {
		*req = p.req
		return nil
	}
	return decodePredictSlow(body, schema, req)
}

// decodePredictSlow decodes a predict body through encoding/json: the
// reference for the fast parser, and the path every error takes.
func decodePredictSlow(body []byte, schema *dataset.Schema, req *predictRequest) error {
	var b predictBody
	if err := decodeJSON(body, &b); err != nil {
		return err
	}
	r, err := b.request(schema)
	*req = r
	return err
}

// predictParser parses the common forms of a predict body (parse) and of a
// sample body (sample). Every method
// returns false at the first byte it does not fully understand; the
// caller then uses encoding/json, which knows the right error.
type predictParser struct {
	b      []byte
	i      int
	schema *dataset.Schema
	req    predictRequest
	nums   []float64 // every number of every row, in order
}

// ascii reports whether the body is plain ASCII: invalid UTF-8 and
// non-ASCII strings take the slow path.
func (p *predictParser) ascii() bool {
	for _, c := range p.b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func (p *predictParser) parse() bool {
	if !p.ascii() || !p.consume('{') {
		return false
	}
	var seen [5]bool
	type row struct{ start, n int }
	var (
		rows     []row
		rowForms []featuresJSON // the named/have part of each row
		single   = -1           // start of features in nums
		singleN  int
		singleF  featuresJSON
	)
	if p.peek() == '}' {
		p.i++
		return p.end()
	}
	for {
		key, ok := p.plainBytes()
		if !ok || !p.consume(':') {
			return false
		}
		var field int
		switch string(key) { // compared without allocating
		case "features":
			field = 0
		case "instances":
			field = 1
		case "k":
			field = 2
		case "metric":
			field = 3
		case "weights":
			field = 4
		default:
			return false // unknown (or differently cased) key: encoding/json decides
		}
		if seen[field] {
			return false // duplicate: reported by the slow path
		}
		seen[field] = true
		switch field {
		case 0:
			start := len(p.nums)
			f, ok := p.features()
			if !ok {
				return false
			}
			single, singleN, singleF = start, len(p.nums)-start, f
		case 1:
			if !p.consume('[') {
				return false
			}
			rows = []row{}
			if p.peek() == ']' {
				p.i++
				break
			}
			for {
				start := len(p.nums)
				f, ok := p.features()
				if !ok {
					return false
				}
				rows = append(rows, row{start, len(p.nums) - start})
				rowForms = append(rowForms, f)
				if p.consume(']') {
					break
				}
				if !p.consume(',') {
					return false
				}
			}
		case 2:
			k, ok := p.integer()
			if !ok {
				return false
			}
			p.req.K = &k
		case 3, 4:
			v, ok := p.plainString()
			if !ok {
				return false
			}
			if field == 3 {
				p.req.Metric = &v
			} else {
				p.req.Weights = &v
			}
		}
		if p.consume('}') {
			break
		}
		if !p.consume(',') {
			return false
		}
	}
	if !p.end() {
		return false
	}
	// Slices of the one number array: no allocation per row.
	if single >= 0 {
		f := singleF
		f.vals = p.nums[single : single+singleN : single+singleN]
		p.req.Features = &f
	}
	if rows != nil {
		p.req.Instances = make([]featuresJSON, len(rows))
		for i, r := range rows {
			f := rowForms[i]
			f.vals = p.nums[r.start : r.start+r.n : r.start+r.n]
			p.req.Instances[i] = f
		}
	}
	return true
}

// sample parses the common form of a sample body (POST and PUT /samples,
// an NDJSON import line): an object with id, features and the schema's
// label, each at most once, in any order. Like parse, it returns false at
// the first byte it does not fully understand (a repeated, unknown or
// differently cased key, null, an escape, a number the rule refuses), and
// the caller decodes the body with encoding/json.
func (p *predictParser) sample() (sampleRequest, bool) {
	var req sampleRequest
	label := p.schema.Label()
	if label == "id" || label == "features" || !p.ascii() || !p.consume('{') || p.peek() == '}' {
		return req, false
	}
	for {
		key, ok := p.plainBytes()
		if !ok || !p.consume(':') {
			return req, false
		}
		switch {
		case string(key) == "id" && req.ID == nil:
			v, ok := p.integer()
			if !ok {
				return req, false
			}
			id := int64(v)
			req.ID = &id
		case string(key) == "features" && req.Features == nil:
			f, ok := p.features()
			if !ok {
				return req, false
			}
			f.vals = p.nums[:len(p.nums):len(p.nums)]
			req.Features = &f
		case string(key) == label && req.Label == nil:
			v, ok := p.plainString()
			if !ok {
				return req, false
			}
			req.Label = &v
		default:
			return req, false
		}
		if p.consume('}') {
			return req, p.end()
		}
		if !p.consume(',') {
			return req, false
		}
	}
}

// features parses an array of numbers or an object naming every feature
// of the schema exactly once, appending the numbers to p.nums in schema
// order. The returned value has named set; vals is filled by the caller. An
// object that misses a feature is left to the slow path, which names it.
func (p *predictParser) features() (featuresJSON, bool) {
	var f featuresJSON
	switch p.peek() {
	case '[':
		p.i++
		if p.peek() == ']' {
			p.i++
			return f, true
		}
		for {
			v, ok := p.number()
			if !ok {
				return f, false
			}
			p.nums = append(p.nums, v)
			if p.consume(']') {
				return f, true
			}
			if !p.consume(',') {
				return f, false
			}
		}
	case '{':
		p.i++
		f.named = true
		dim := p.schema.Dim()
		start := len(p.nums)
		p.nums = slices.Grow(p.nums, dim)[:start+dim]
		vals := p.nums[start:]
		var have [(dataset.MaxFeatures + 63) / 64]uint64
		n := 0
		if p.peek() != '}' {
			for {
				key, ok := p.plainBytes()
				if !ok || !p.consume(':') {
					return f, false
				}
				j, known := p.schema.FeatureIndex(string(key)) // no allocation: a map lookup
				if !known || have[j/64]&(1<<(j%64)) != 0 {
					return f, false
				}
				v, ok := p.number()
				if !ok {
					return f, false
				}
				vals[j] = v
				have[j/64] |= 1 << (j % 64)
				n++
				if p.peek() == '}' {
					break
				}
				if !p.consume(',') {
					return f, false
				}
			}
		}
		p.i++
		return f, n == dim
	}
	return f, false // null, strings, numbers...: the slow path knows
}

// skip skips JSON whitespace.
func (p *predictParser) skip() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (p *predictParser) peek() byte {
	p.skip()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

// consume skips c (after whitespace) if it comes next.
func (p *predictParser) consume(c byte) bool {
	if p.peek() == c {
		p.i++
		return true
	}
	return false
}

// end reports whether only whitespace is left.
func (p *predictParser) end() bool {
	p.skip()
	return p.i == len(p.b)
}

// plainString parses a string of printable ASCII without escapes.
func (p *predictParser) plainString() (string, bool) {
	b, ok := p.plainBytes()
	return string(b), ok
}

// plainBytes is plainString returning the bytes inside the body.
func (p *predictParser) plainBytes() ([]byte, bool) {
	if !p.consume('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			b := p.b[start:p.i]
			p.i++
			return b, true
		case c < 0x20 || c == '\\':
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// numberEnd returns the end of the JSON number starting at p.i, and
// whether it has a fraction or exponent; end == p.i if there is none.
func (p *predictParser) numberEnd() (int, bool) {
	b, i := p.b, p.i
	digits := func() int {
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i - j
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return p.i, false
	}
	float := false
	if i < len(b) && b[i] == '.' {
		i++
		float = true
		if digits() == 0 {
			return p.i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		float = true
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return p.i, false
		}
	}
	return i, float
}

// number parses a JSON number with the rule of every input
// (dataset.ParseNumber); numbers it refuses (out of range, underflowing)
// are left to the slow path, which says why.
func (p *predictParser) number() (float64, bool) {
	p.skip()
	end, _ := p.numberEnd()
	if end == p.i {
		return 0, false
	}
	text := p.b[p.i:end]
	v, err := dataset.ParseNumber(unsafe.String(&text[0], len(text)))
	if err != nil {
		return 0, false
	}
	p.i = end
	return v, true
}

// integer parses a JSON integer that fits an int.
func (p *predictParser) integer() (int, bool) {
	p.skip()
	end, float := p.numberEnd()
	if end == p.i || float {
		return 0, false
	}
	text := p.b[p.i:end]
	v, err := strconv.ParseInt(unsafe.String(&text[0], len(text)), 10, strconv.IntSize)
	if err != nil {
		return 0, false
	}
	p.i = end
	return int(v), true
}
