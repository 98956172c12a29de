package dataset

import (
	"errors"
	"strconv"
	"unsafe"
)

// Errors of ParseNumber.
var (
	ErrNumberSyntax    = errors.New("not a decimal number")
	ErrNumberRange     = errors.New("out of the range of a 64-bit float")
	ErrNumberUnderflow = errors.New("too small: it would round to 0")
)

// ParseNumber reads a feature value written as text (a CSV cell, a JSON
// number): an optional sign, digits with an optional fraction (".5" and
// "5." included), an optional exponent. It is the one rule for numbers in
// every input: no hexadecimal, no digit separators ("1_0"), no Inf or NaN,
// nothing that overflows, and nothing non-zero that underflows to 0
// ("1e-400" is refused as "1e-320" is by CheckValue, not read as 0).
func ParseNumber(s string) (float64, error) {
	nonZero, ok := scanNumber(s)
	if !ok {
		return 0, ErrNumberSyntax
	}
	v, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil:
		return 0, ErrNumberRange // the syntax is checked: only the range is left
	case v == 0 && nonZero:
		return 0, ErrNumberUnderflow
	}
	return v, nil
}

// parseNumber is ParseNumber on bytes without copying them into a string
// (the string does not outlive the call).
func parseNumber(b []byte) (float64, error) {
	if len(b) == 0 {
		return 0, ErrNumberSyntax
	}
	return ParseNumber(unsafe.String(&b[0], len(b)))
}

// scanNumber checks the syntax of ParseNumber and reports whether a digit
// of the mantissa is not 0.
func scanNumber(s string) (nonZero, ok bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits, point := 0, false
	for ; i < len(s); i++ {
		c := s[i]
		if c == '.' && !point {
			point = true
			continue
		}
		if c < '0' || c > '9' {
			break
		}
		digits++
		nonZero = nonZero || c != '0'
	}
	if digits == 0 {
		return false, false // "", ".", "+", "-."
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false, false
		}
	}
	return nonZero, i == len(s)
}
