package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/apitest"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/datasettest"
	"github.com/irisknn/irisknn/internal/httpapi"
)

// TestWineAnswersAsScikitLearn serves scikit-learn's wine set (13
// features, label column "class") with -scale standard and minmax, and
// asks POST /predict, features by name, a reference query of
// internal/dataset/testdata/sklearn_scaled_reference.json whose neighbours
// disagree (k=5, Manhattan, distance weights, no class above 0.9). The class and the
// probabilities are scikit-learn's Pipeline(scaler,
// KNeighborsClassifier(algorithm="brute")) answer, to 1e-9, through the
// whole service: the decoder, the scaler, the index and the encoder.
func TestWineAnswersAsScikitLearn(t *testing.T) {
	raw, err := os.ReadFile("../dataset/testdata/sklearn_scaled_reference.json")
	require.NoError(t, err)
	var ref struct {
		Datasets []struct {
			Name     string                    `json:"name"`
			CSV      string                    `json:"csv"`
			Label    string                    `json:"label"`
			Features []string                  `json:"features"`
			Classes  []string                  `json:"classes"`
			Queries  [][]float64               `json:"queries"`
			Kinds    []string                  `json:"query_kinds"`
			Cases    []datasettest.SklearnCase `json:"cases"`
		} `json:"datasets"`
	}
	require.NoError(t, json.Unmarshal(raw, &ref))
	wine := ref.Datasets[0]
	require.Equal(t, "wine", wine.Name)
	text, err := os.ReadFile("../dataset/testdata/" + wine.CSV)
	require.NoError(t, err)

	for _, scale := range []string{"standard", "minmax"} {
		t.Run(scale, func(t *testing.T) {
			kind, err := dataset.ParseScale(scale)
			require.NoError(t, err)
			a := apitest.Start(t, httpapi.Config{}, apitest.CSV(t, string(text), wine.Label, kind))
			found := false
			for _, c := range wine.Cases {
				if c.Scale != scale || c.K != 5 || c.Metric != "manhattan" || c.Weights != "distance" ||
					c.KthTie || slices.Max(c.Probabilities) > 0.9 {
					continue
				}
				found = true
				features := map[string]float64{}
				for i, name := range wine.Features {
					features[name] = wine.Queries[c.Query][i]
				}
				body, err := json.Marshal(map[string]any{"features": features, "k": c.K, "metric": c.Metric, "weights": c.Weights})
				require.NoError(t, err)
				r := a.Do(http.MethodPost, "/predict", string(body))
				require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
				got := r.JSON(t)
				desc := fmt.Sprintf("%s, %s scaling", wine.Kinds[c.Query], scale)
				assert.Equal(t, c.Class, got["class"], desc)
				probs, ok := got["probabilities"].(map[string]any)
				require.True(t, ok, "probabilities by class: %s", r.Body)
				require.Len(t, probs, len(wine.Classes))
				for i, class := range wine.Classes {
					assert.InDelta(t, c.Probabilities[i], probs[class], 1e-9, "%s: P(%s)", desc, class)
				}
				break
			}
			require.True(t, found, "the reference has a case with mixed votes")
		})
	}
}
