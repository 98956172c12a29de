package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/httpapi"
	"github.com/irisknn/irisknn/internal/novelty"
)

type noveltyJSON struct {
	Percentile float64 `json:"percentile"`
	Unusual    bool    `json:"unusual"`
}

// Every prediction, single or in a batch, says how unusual its query is;
// the nonsense query ({500, 3.5, 1.4, 0.2}: 493 cm from every
// flower) is flagged, a training sample's own point is not, and a lower
// -novelty-percentile flags more.
func TestPredictionsSayHowUnusualTheQueryIs(t *testing.T) {
	for _, tc := range []struct {
		name      string
		threshold float64
		features  string
		pct       float64 // 0..100, checked to 1e-9
		unusual   bool
	}{
		{"nonsense", 0, `[500,3.5,1.4,0.2]`, 100, true},
		{"a training sample's own point", 0, `[5.1,3.5,1.4,0.2]`, 0, false},
		{"between samples", 0, `[5.05,3.45,1.4,0.2]`, -1, false},
		{"between samples, low threshold", 1, `[5.05,3.45,1.4,0.2]`, -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPI(t, httpapi.Config{Novelty: novelty.NewTracker(tc.threshold)})
			r := a.Do("POST", "/predict", `{"features":`+tc.features+`}`)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			var single struct{ Novelty noveltyJSON }
			require.NoError(t, json.Unmarshal(r.Body, &single))
			if tc.pct >= 0 {
				assert.InDelta(t, tc.pct, single.Novelty.Percentile, 1e-9)
			} else {
				assert.Greater(t, single.Novelty.Percentile, 1.0)
				assert.Less(t, single.Novelty.Percentile, 99.0)
			}
			assert.Equal(t, tc.unusual, single.Novelty.Unusual)

			r = a.Do("POST", "/predict", `{"instances":[`+tc.features+`,[5.1,3.5,1.4,0.2]]}`)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			var batch struct {
				Predictions []struct{ Novelty noveltyJSON }
			}
			require.NoError(t, json.Unmarshal(r.Body, &batch))
			require.Len(t, batch.Predictions, 2)
			assert.Equal(t, single.Novelty, batch.Predictions[0].Novelty, "a batch row gets what a single prediction gets")
			assert.Equal(t, noveltyJSON{0, false}, batch.Predictions[1].Novelty)
		})
	}
}

// The percentiles feed a Prometheus histogram, so drift shows on a
// dashboard.
func TestNoveltyHistogram(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	a.Do("POST", "/predict", `{"features":[500,3.5,1.4,0.2]}`)
	a.Do("POST", "/predict", `{"instances":[[5.1,3.5,1.4,0.2],[6.0,3.0,4.8,1.8]]}`)
	r := a.Do("GET", "/metrics", "")
	body := string(r.Body)
	assert.Contains(t, body, "irisknn_prediction_novelty_percentile_count 3\n")
	assert.Contains(t, body, `irisknn_prediction_novelty_percentile_bucket{le="99"} 2`+"\n", "two of three at or below the 99th percentile")
	assert.True(t, strings.Contains(body, `irisknn_prediction_novelty_percentile_bucket{le="+Inf"} 3`))
}
