package dataset_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/knn"
)

// replaceReference is testdata/sklearn_replace_reference.json, written by
// testdata/gen_sklearn_replace.py with Debian's python3-sklearn.
type replaceReference struct {
	Loaded   string                          `json:"loaded"`
	Label    string                          `json:"label"`
	Imported string                          `json:"imported"`
	Rows     int                             `json:"rows"`
	Classes  []string                        `json:"classes"`
	Queries  [][]float64                     `json:"queries"`
	Kinds    []string                        `json:"query_kinds"`
	Scalers  map[string]map[string][]float64 `json:"scalers"`
	Cases    []sklearnCase                   `json:"cases"`
}

// importCSV imports the CSV file testdata/name into m in mode, as POST
// /dataset/import does (rows read and checked by an ImportReader).
func importCSV(t *testing.T, m *dataset.Memory, name string, mode dataset.ImportMode) *dataset.Snapshot {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	require.NoError(t, err)
	defer f.Close()
	rows, err := dataset.NewCSVRows(f, m.Snapshot().Schema())
	require.NoError(t, err)
	samples, err := dataset.NewImportReader(m.Snapshot(), mode, rows.Next).ReadAll()
	require.NoError(t, err)
	snap, err := m.Import(context.Background(), mode, samples, rows.HasID())
	require.NoError(t, err)
	return snap
}

// TestReplaceRefitsTheScalerAsScikitLearn loads scikit-learn's wine set
// with -scale standard and minmax, replaces it by an import of other rows
// (wine_replace.csv: 90 rows, stretched and moved), and checks that the
// scaler is fitted again on the imported rows (scikit-learn's fitted
// parameters) and that every prediction is scikit-learn's
// Pipeline(scaler, KNeighborsClassifier(algorithm="brute")) fitted on those
// rows alone: class and probabilities to 1e-9, for both metrics, both
// weightings and k in {1, 3, 5, 10}.
func TestReplaceRefitsTheScalerAsScikitLearn(t *testing.T) {
	raw, err := os.ReadFile("testdata/sklearn_replace_reference.json")
	require.NoError(t, err)
	var ref replaceReference
	require.NoError(t, json.Unmarshal(raw, &ref))
	tab := loadReferenceCSV(t, ref.Loaded, ref.Label)
	for _, scale := range []string{"standard", "minmax"} {
		t.Run(scale, func(t *testing.T) {
			kind, err := dataset.ParseScale(scale)
			require.NoError(t, err)
			loaded, err := dataset.NewSnapshot(tab.Schema, tab.Samples, kind)
			require.NoError(t, err)
			m := dataset.NewMemory(loaded, nil)
			snap := importCSV(t, m, ref.Imported, dataset.ImportReplace)
			require.Equal(t, ref.Rows, snap.Len())
			require.Equal(t, ref.Classes, snap.Classes())

			checkScaler(t, snap.Scaler(), kind, ref.Scalers[scale], 1e-15)
			assert.NotEqual(t, loaded.Scaler().Offset, snap.Scaler().Offset, "the imported rows have other parameters than the loaded set")

			checked, skipped := 0, 0
			for i, c := range ref.Cases {
				if c.Scale != scale {
					continue
				}
				if skip, _ := checkCase(t, snap, ref.Queries, ref.Kinds, i, c); skip {
					skipped++
					continue
				}
				checked++
			}
			assert.GreaterOrEqual(t, checked, 2*2*4*30, "every metric x weights x k combination, on 30 or more queries")
			assert.LessOrEqual(t, skipped, checked/20)
		})
	}
}

// TestOnlyReplaceRefitsTheScaler checks which writes change the scaler:
// an import with mode replace fits it on its rows; append and upsert keep
// it (the samples already there keep their scaled values); a reset
// restores the loaded set's with the loaded set.
func TestOnlyReplaceRefitsTheScaler(t *testing.T) {
	tab := loadReferenceCSV(t, "wine.csv", "class")
	for _, tc := range []struct {
		mode  dataset.ImportMode
		refit bool
	}{
		{dataset.ImportReplace, true},
		{dataset.ImportAppend, false},
		{dataset.ImportUpsert, false},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			loaded, err := dataset.NewSnapshot(tab.Schema, tab.Samples, dataset.ScaleStandard)
			require.NoError(t, err)
			m := dataset.NewMemory(loaded, nil)
			name := "wine_replace.csv"
			if tc.mode == dataset.ImportUpsert {
				name = writeWithIDs(t, tab.Schema, "wine_replace.csv")
			}
			snap := importCSV(t, m, name, tc.mode)
			assert.Equal(t, tc.refit, !assert.ObjectsAreEqual(loaded.Scaler(), snap.Scaler()), "scaler after %v", tc.mode)
			assert.Equal(t, loaded.Scaler(), snap.LoadedScaler(), "the loaded set's scaler is kept for a reset")
			reset, err := m.Reset(context.Background())
			require.NoError(t, err)
			assert.Equal(t, loaded.Scaler(), reset.Scaler(), "a reset restores the loaded set's scaler")
			var want, got knn.Prediction
			q := knn.Query{K: 5, Metric: knn.Euclidean, Weights: knn.Uniform}
			require.NoError(t, loaded.Predict(&want, tab.Samples[7].Features, q))
			require.NoError(t, reset.Predict(&got, tab.Samples[7].Features, q))
			assert.Equal(t, want.Probabilities, got.Probabilities, "predictions after a reset are the loaded set's")
		})
	}
}

// writeWithIDs writes testdata/name with an id column first (ids 1, 2, ...,
// so that an upsert replaces rows of the loaded set) into a temporary file
// and returns its path relative to testdata.
func writeWithIDs(t *testing.T, schema *dataset.Schema, name string) string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	require.NoError(t, err)
	defer f.Close()
	tab, err := dataset.ParseCSV(f, schema.Label())
	require.NoError(t, err)
	snap, err := dataset.NewSnapshot(tab.Schema, tab.Samples, dataset.ScaleNone)
	require.NoError(t, err)
	out, err := os.Create(filepath.Join(t.TempDir(), "upsert.csv"))
	require.NoError(t, err)
	defer out.Close()
	require.NoError(t, snap.WriteCSVWithIDs(out, ""))
	abs, err := filepath.Abs(out.Name())
	require.NoError(t, err)
	rel, err := filepath.Rel(filepath.Join(mustGetwd(t), "testdata"), abs)
	require.NoError(t, err)
	return rel
}

func mustGetwd(t *testing.T) string {
	wd, err := os.Getwd()
	require.NoError(t, err)
	return wd
}
