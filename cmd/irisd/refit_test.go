package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/datasettest"
)

// The scikit-learn reference of a replace import, made by
// internal/dataset/testdata/gen_sklearn_replace.py with Debian's
// python3-sklearn: the scalers fitted on wine_replace.csv alone, and the
// answers of Pipeline(scaler, KNeighborsClassifier(algorithm="brute"))
// fitted on those rows.
const refitTestdata = "../../internal/dataset/testdata/"

type refitReference struct {
	Queries [][]float64                     `json:"queries"`
	Scalers map[string]map[string][]float64 `json:"scalers"`
	Cases   []datasettest.SklearnCase       `json:"cases"`
	Classes []string                        `json:"classes"`
}

// wireScaler is GET /dataset's scaler.
type wireScaler struct {
	Kind   string    `json:"kind"`
	Offset []float64 `json:"offset"`
	Scale  []float64 `json:"scale"`
}

// TestReplaceImportOverHTTPRefitsTheScaler runs the real irisd on the wine
// set with -scale standard and minmax and -data-dir, and imports
// wine_replace.csv over HTTP: mode=append keeps the loaded set's scaler;
// mode=replace fits it again on the imported rows, as scikit-learn does,
// and POST /predict then gives scikit-learn's answers for the imported
// rows alone. A restart from the data directory keeps the refitted
// scaler and the answers.
func TestReplaceImportOverHTTPRefitsTheScaler(t *testing.T) {
	bin := buildIrisd(t)
	raw, err := os.ReadFile(refitTestdata + "sklearn_replace_reference.json")
	require.NoError(t, err)
	var ref refitReference
	require.NoError(t, json.Unmarshal(raw, &ref))
	imported, err := os.ReadFile(refitTestdata + "wine_replace.csv")
	require.NoError(t, err)
	client := &http.Client{Timeout: 30 * time.Second}

	scaler := func(base string) wireScaler {
		t.Helper()
		var d struct {
			Scaler wireScaler `json:"scaler"`
		}
		getJSON(t, client, base+"/dataset", &d)
		return d.Scaler
	}
	importCSV := func(base, mode string) {
		t.Helper()
		resp, err := client.Post(base+"/dataset/import?mode="+mode, "text/csv", strings.NewReader(string(imported)))
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "import mode=%s", mode)
	}
	// predictAll checks every reference case of scale through POST
	// /predict and returns how many it checked.
	predictAll := func(base, scale string) int {
		t.Helper()
		checked := 0
		for _, c := range ref.Cases {
			if c.Scale != scale || c.KthTie {
				continue
			}
			body, err := json.Marshal(map[string]any{"features": ref.Queries[c.Query], "k": c.K, "metric": c.Metric, "weights": c.Weights})
			require.NoError(t, err)
			resp, err := client.Post(base+"/predict", "application/json", strings.NewReader(string(body)))
			require.NoError(t, err)
			var got struct {
				Class         string             `json:"class"`
				Probabilities map[string]float64 `json:"probabilities"`
			}
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			what := fmt.Sprintf("query %d, k=%d, %s, %s", c.Query, c.K, c.Metric, c.Weights)
			tol := 1e-9
			if c.InexactZero {
				tol = 1e-6 // scikit-learn's brute force leaves an identical row at about 1e-8
			}
			require.Equal(t, c.Class, got.Class, what)
			for i, cls := range ref.Classes {
				require.InDelta(t, c.Probabilities[i], got.Probabilities[cls], tol, "%s: P(%s)", what, cls)
			}
			checked++
		}
		return checked
	}

	for _, scale := range []string{"standard", "minmax"} {
		t.Run(scale, func(t *testing.T) {
			args := []string{"-data", refitTestdata + "wine.csv", "-label", "class", "-scale", scale, "-data-dir", t.TempDir()}
			d := startDaemon(t, bin, args...)
			loaded := scaler(d.base)
			require.Equal(t, scale, loaded.Kind)

			importCSV(d.base, "append")
			assert.Equal(t, loaded, scaler(d.base), "an append import keeps the scaler")

			importCSV(d.base, "replace")
			refit := scaler(d.base)
			want := ref.Scalers[scale]
			offset, scaleKey := "mean_", "scale_"
			if scale == "minmax" {
				offset, scaleKey = "data_min_", "data_range_"
			}
			assertClose(t, want[offset], refit.Offset, "offset")
			assertClose(t, want[scaleKey], refit.Scale, "scale")
			checked := predictAll(d.base, scale)
			assert.GreaterOrEqual(t, checked, 2*2*4*28, "every metric x weights x k on most queries")

			require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
			require.Equal(t, 0, d.wait(30*time.Second))
			d = startDaemon(t, bin, args...)
			assert.Equal(t, refit, scaler(d.base), "the refitted scaler survives a restart")
			assert.Equal(t, checked, predictAll(d.base, scale))
		})
	}
}

// assertClose checks want and got element by element to a relative 1e-12.
func assertClose(t *testing.T, want, got []float64, what string) {
	t.Helper()
	require.Len(t, got, len(want), what)
	for i := range want {
		assert.LessOrEqual(t, math.Abs(want[i]-got[i]), 1e-12*math.Max(1, math.Abs(want[i])), "%s[%d]: want %v, got %v", what, i, want[i], got[i])
	}
}
