package oip

import (
	"encoding/binary"
	"math"
	"strconv"

	"github.com/irisknn/irisknn/internal/dataset"
)

// maxExactInt is the largest integer magnitude a float64 holds exactly:
// integer inputs beyond it are refused, as their conversion would round.
const maxExactInt = 1 << 53

// elemSize returns the size in bytes of one element of an input datatype,
// or an error for a datatype the model does not take.
func elemSize(datatype string) (int, error) {
	switch datatype {
	case "INT8", "UINT8":
		return 1, nil
	case "INT16", "UINT16":
		return 2, nil
	case "INT32", "UINT32", "FP32":
		return 4, nil
	case "INT64", "UINT64", "FP64":
		return 8, nil
	}
	return 0, dataset.Invalidf("datatype", "input datatype %q is not supported: give FP32, FP64 or an integer type (INT8..INT64, UINT8..UINT64)", datatype)
}

// intRange returns the bounds of an integer datatype.
func intRange(datatype string) (lo, hi float64, ok bool) {
	switch datatype {
	case "INT8":
		return math.MinInt8, math.MaxInt8, true
	case "INT16":
		return math.MinInt16, math.MaxInt16, true
	case "INT32":
		return math.MinInt32, math.MaxInt32, true
	case "INT64":
		return -maxExactInt, maxExactInt, true
	case "UINT8":
		return 0, math.MaxUint8, true
	case "UINT16":
		return 0, math.MaxUint16, true
	case "UINT32":
		return 0, math.MaxUint32, true
	case "UINT64":
		return 0, maxExactInt, true
	}
	return 0, 0, false
}

// decodeRaw converts binary tensor data (little-endian, row-major, as the
// binary extension and gRPC's raw contents carry it) into out, which has
// one element per value expected.
func decodeRaw(datatype string, b []byte, out []float64) error {
	size, err := elemSize(datatype)
	if err != nil {
		return err
	}
	if len(b) != len(out)*size {
		return dataset.Invalidf("inputs", "input data has %d bytes; its shape and datatype %s need %d (%d elements of %d bytes)", len(b), datatype, len(out)*size, len(out), size)
	}
	le := binary.LittleEndian
	for i := range out {
		p := b[i*size:]
		var v float64
		switch datatype {
		case "FP32":
			v = float64(math.Float32frombits(le.Uint32(p)))
		case "FP64":
			v = math.Float64frombits(le.Uint64(p))
		case "INT8":
			v = float64(int8(p[0]))
		case "UINT8":
			v = float64(p[0])
		case "INT16":
			v = float64(int16(le.Uint16(p)))
		case "UINT16":
			v = float64(le.Uint16(p))
		case "INT32":
			v = float64(int32(le.Uint32(p)))
		case "UINT32":
			v = float64(le.Uint32(p))
		case "INT64":
			x := int64(le.Uint64(p))
			if x > maxExactInt || x < -maxExactInt {
				return errInexact(i, strconv.FormatInt(x, 10))
			}
			v = float64(x)
		case "UINT64":
			x := le.Uint64(p)
			if x > maxExactInt {
				return errInexact(i, strconv.FormatUint(x, 10))
			}
			v = float64(x)
		}
		out[i] = v
	}
	return nil
}

func errInexact(i int, v string) error {
	return dataset.Invalidf("inputs", "element %d: the integer %s has no exact float64 value (the limit is 2^53)", i, v)
}

// parseNumber converts one JSON number of tensor data to the input's
// datatype and then to float64, exactly: an FP32 input is rounded to
// float32 first, as the client's value is; an integer type takes only
// integers in its range. A number that overflows, or underflows to zero,
// is an error.
func parseNumber(datatype string, s []byte, i int) (float64, error) {
	if !validNumber(s) {
		return 0, dataset.Invalidf("inputs", "element %d: %q is not a JSON number", i, s)
	}
	if lo, hi, ok := intRange(datatype); ok {
		if !isIntLiteral(s) {
			return 0, dataset.Invalidf("inputs", "element %d: %s is not an integer, as datatype %s needs", i, s, datatype)
		}
		x, err := strconv.ParseInt(string(s), 10, 64)
		v := float64(x)
		if err != nil || x < int64(lo) || x > int64(hi) {
			return 0, dataset.Invalidf("inputs", "element %d: %s is out of the range of %s (%g to %g, for an exact conversion)", i, s, datatype, lo, hi)
		}
		return v, nil
	}
	bits := 64
	if datatype == "FP32" {
		bits = 32
	}
	v, err := strconv.ParseFloat(string(s), bits)
	if err != nil {
		return 0, dataset.Invalidf("inputs", "element %d: %s is out of the range of %s", i, s, datatype)
	}
	if v == 0 && hasNonzeroDigit(s) {
		return 0, dataset.Invalidf("inputs", "element %d: %s underflows to 0 as %s", i, s, datatype)
	}
	return v, nil
}

// validNumber reports whether s is a JSON number:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(s []byte) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isIntLiteral reports whether a valid JSON number has no fraction or
// exponent.
func isIntLiteral(s []byte) bool {
	for _, c := range s {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

// hasNonzeroDigit reports whether the mantissa of a JSON number has a
// digit other than 0.
func hasNonzeroDigit(s []byte) bool {
	for _, c := range s {
		if c == 'e' || c == 'E' {
			return false
		}
		if c >= '1' && c <= '9' {
			return true
		}
	}
	return false
}

// appendRaw appends output i's values in the binary representation,
// straight from the predictions: little-endian numbers, one byte per BOOL,
// and BYTES as a 4-byte little-endian length followed by the bytes.
func (res *result) appendRaw(b []byte, i int) []byte {
	le := binary.LittleEndian
	preds := res.preds
	switch res.outputs[i] {
	case OutputLabel:
		for j := range preds {
			s := res.classes[preds[j].Class]
			b = le.AppendUint32(b, uint32(len(s)))
			b = append(b, s...)
		}
	case OutputProbs:
		for j := range preds {
			for _, v := range preds[j].Probabilities {
				b = le.AppendUint64(b, math.Float64bits(v))
			}
		}
	case OutputNeighborIDs:
		for j := range preds {
			for _, x := range preds[j].Neighbors {
				b = le.AppendUint64(b, uint64(x.ID))
			}
		}
	case OutputNeighborDst:
		for j := range preds {
			for _, x := range preds[j].Neighbors {
				b = le.AppendUint64(b, math.Float64bits(x.Distance))
			}
		}
	case OutputTie:
		for j := range preds {
			if preds[j].Tie {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		}
	case OutputNovelty:
		for _, v := range res.novelty {
			b = le.AppendUint64(b, math.Float64bits(v))
		}
	}
	return b
}

// rawSize returns the size of output i's binary representation.
func (res *result) rawSize(i int) int {
	n := len(res.preds)
	switch res.outputs[i] {
	case OutputLabel:
		size := 4 * n
		for j := range res.preds {
			size += len(res.classes[res.preds[j].Class])
		}
		return size
	case OutputProbs:
		return 8 * n * len(res.classes)
	case OutputNeighborIDs, OutputNeighborDst:
		return 8 * n * res.query.K
	case OutputTie:
		return n
	case OutputNovelty:
		return 8 * n
	}
	return 0
}

func formatInt(v int64) string   { return strconv.FormatInt(v, 10) }
func formatUint(v uint64) string { return strconv.FormatUint(v, 10) }
