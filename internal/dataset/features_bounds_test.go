package dataset

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheckFeaturesBounds(t *testing.T) {
	for _, tc := range []struct {
		v  float64
		ok bool
	}{
		{0, true}, {math.Copysign(0, -1), true}, {5.1, true}, {-3, true},
		{MaxFeature, true}, {-MaxFeature, true}, {MinFeature, true}, {-MinFeature, true},
		{1e101, false}, {-1e101, false}, {1e308, false}, {1e-101, false}, {5e-324, false},
		{math.NaN(), false}, {math.Inf(1), false}, {math.Inf(-1), false},
	} {
		err := IrisSchema().CheckFeatures("features", []float64{1, 2, tc.v, 3})
		assert.Equal(t, tc.ok, err == nil, "%g: %v", tc.v, err)
		if err != nil {
			assert.Equal(t, KindInvalid, ErrorKind(err))
			assert.Contains(t, err.Error(), "petal_length")
		}
	}
}
