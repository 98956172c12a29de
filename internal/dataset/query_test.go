package dataset_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/knn"
)

func TestCheckWorkBoundsRowsTimesK(t *testing.T) {
	rules := dataset.QueryRules{MaxNeighbors: 100_000}
	for _, c := range []struct {
		name    string
		rows, k int
		ok      bool
	}{
		{"one row at k=1", 1, 1, true},
		{"10,000 rows at k=10 is the default limit", 10_000, 10, true},
		{"one neighbour over the limit", 10_001, 10, false},
		{"few rows at a large k", 101, 1000, false},
		{"product beyond int32", 1 << 20, 1 << 12, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := rules.CheckWork(c.rows, knn.Query{K: c.k})
			if c.ok {
				assert.NoError(t, err)
				return
			}
			assert.Equal(t, dataset.KindInvalid, dataset.ErrorKind(err))
			assert.ErrorContains(t, err, "-max-neighbors")
			assert.ErrorContains(t, err, "IRIS_MAX_NEIGHBORS")
			assert.ErrorContains(t, err, "100000")
		})
	}
}
