package dataset_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/irisknn/irisknn/internal/dataset"
)

func TestParseNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		err  error
	}{
		{"5.1", 5.1, nil}, {"-3", -3, nil}, {"+2", 2, nil}, {".5", 0.5, nil}, {"5.", 5, nil},
		{"1e-3", 0.001, nil}, {"1E+2", 100, nil}, {"0", 0, nil}, {"-0.000", 0, nil}, {"0e-400", 0, nil},
		{"1e-320", 1e-320, nil}, // a subnormal reads as itself: CheckValue refuses it
		{"1e-400", 0, dataset.ErrNumberUnderflow}, {"-0.0001e-400", 0, dataset.ErrNumberUnderflow},
		{"1e400", 0, dataset.ErrNumberRange}, {"-1e309", 0, dataset.ErrNumberRange},
		{"1_0", 0, dataset.ErrNumberSyntax}, {"0x10", 0, dataset.ErrNumberSyntax}, {"Inf", 0, dataset.ErrNumberSyntax},
		{"NaN", 0, dataset.ErrNumberSyntax}, {"", 0, dataset.ErrNumberSyntax}, {".", 0, dataset.ErrNumberSyntax},
		{"1..2", 0, dataset.ErrNumberSyntax}, {"1e", 0, dataset.ErrNumberSyntax}, {"--1", 0, dataset.ErrNumberSyntax},
		{" 1", 0, dataset.ErrNumberSyntax}, {"1,5", 0, dataset.ErrNumberSyntax},
	} {
		got, err := dataset.ParseNumber(tc.in)
		if tc.err == nil {
			assert.NoError(t, err, tc.in)
		} else {
			assert.ErrorIs(t, err, tc.err, tc.in)
		}
		if tc.err == nil {
			assert.Equal(t, tc.want, got, tc.in)
		}
	}
}
