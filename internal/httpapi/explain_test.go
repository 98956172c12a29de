package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/httpapi"
)

// README example 2: a query at exactly sample 71's point (virginica) with
// distance weights. Its 7 neighbours include versicolor samples, but the
// exact match has an infinite weight, so it alone votes: the answer says so.
func TestPredictSaysWhenOnlyExactMatchesVoted(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	const q = `"features":{"sepal_length":6.0,"sepal_width":3.0,"petal_length":4.8,"petal_width":1.8},"k":7,"metric":"manhattan"`
	for _, tc := range []struct {
		weights   string
		exact     bool
		virginica float64 // its share of the vote
	}{
		{"distance", true, 1},
		{"uniform", false, 4.0 / 7},
	} {
		t.Run(tc.weights, func(t *testing.T) {
			r := a.Do("POST", "/predict", `{`+q+`,"weights":"`+tc.weights+`"}`)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			m := r.JSON(t)
			assert.Equal(t, tc.exact, m["exact_match"])
			assert.InDelta(t, tc.virginica, m["probabilities"].(map[string]any)["virginica"], 1e-12)
			species := map[string]int{}
			for _, n := range m["neighbors"].([]any) {
				species[n.(map[string]any)["species"].(string)]++
			}
			assert.Equal(t, map[string]int{"virginica": 4, "versicolor": 3}, species, "the neighbours are the same either way")
			assert.Zero(t, m["neighbors"].([]any)[0].(map[string]any)["distance"])
		})
	}
}
