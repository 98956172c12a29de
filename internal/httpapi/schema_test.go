package httpapi_test

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/irisknn/irisknn/api"
	"github.com/irisknn/irisknn/internal/apitest"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/httpapi"
)

// wineCSV is a small set of another shape: three features whose names have
// spaces, a label column called class that is not the last, and features on
// scales a thousand times apart.
const wineCSV = `alcohol,class,malic acid,proline (mg/l)
13.2,class_0,1.78,1050
13.16,class_0,2.36,1185
14.37,class_0,1.95,1480
12.37,class_1,0.94,520
12.33,class_1,1.1,680
12.64,class_1,1.36,450
12.86,class_2,1.35,630
12.88,class_2,2.99,530
12.81,class_2,2.31,560
`

// TestAnotherDatasetFollowsItsSchema runs the API over a set that is not
// Iris, with standard scaling: every answer names the label "class" and the
// features by their header names, errors name the expected features, the
// distances are measured between scaled features, and written samples read
// back exactly. The served document describes this set (apitest checks
// every answer against it).
func TestAnotherDatasetFollowsItsSchema(t *testing.T) {
	store := apitest.CSV(t, wineCSV, "class", dataset.ScaleStandard)
	a := apitest.Start(t, httpapi.Config{}, store)

	d := a.Do(http.MethodGet, "/dataset", "").JSON(t)
	assert.Equal(t, []any{"alcohol", "malic acid", "proline (mg/l)"}, d["features"])
	assert.Equal(t, "class", d["label"])
	assert.Equal(t, []any{"class_0", "class_1", "class_2"}, d["classes"])
	sc := d["scaler"].(map[string]any)
	assert.Equal(t, "standard", sc["kind"])
	require.Len(t, sc["offset"], 3)
	assert.InDelta(t, (13.2+13.16+14.37+12.37+12.33+12.64+12.86+12.88+12.81)/9, sc["offset"].([]any)[0], 1e-12)
	assert.Equal(t, map[string]any{"name": "proline (mg/l)", "min": 450.0, "max": 1480.0}, d["feature_ranges"].([]any)[2])

	// By array and by name: the same answer, under the label's own key.
	byArray := a.Do(http.MethodPost, "/predict", `{"features":[13.2,1.78,1050],"k":1}`)
	require.Equal(t, http.StatusOK, byArray.Status, "%s", byArray.Body)
	byName := a.Do(http.MethodPost, "/predict", `{"features":{"proline (mg/l)":1050,"alcohol":13.2,"malic acid":1.78},"k":1}`)
	assert.Equal(t, string(byArray.Body), string(byName.Body))
	p := byArray.JSON(t)
	assert.Equal(t, "class_0", p["class"])
	assert.NotContains(t, p, "species")
	nb := p["neighbors"].([]any)[0].(map[string]any)
	assert.Equal(t, map[string]any{"id": 1.0, "class": "class_0", "distance": 0.0}, nb)

	// Distances are between scaled features: sample 4 from sample 1.
	snap := store.Snapshot()
	one, _ := snap.Get(1)
	four, _ := snap.Get(4)
	s := snap.Scaler()
	var want float64
	for i := range one.Features {
		d := (one.Features[i] - four.Features[i]) / s.Scale[i]
		want += d * d
	}
	r := a.Do(http.MethodPost, "/predict", `{"features":[12.37,0.94,520],"k":9}`).JSON(t)
	for _, n := range r["neighbors"].([]any) {
		if n := n.(map[string]any); n["id"] == 1.0 {
			assert.InDelta(t, math.Sqrt(want), n["distance"], 1e-12)
		}
	}

	// A batch, and a write read back exactly as written.
	b := a.Do(http.MethodPost, "/predict", `{"instances":[[13.2,1.78,1050],{"alcohol":12.8,"malic acid":2.5,"proline (mg/l)":545}],"k":3}`)
	require.Equal(t, http.StatusOK, b.Status, "%s", b.Body)
	assert.Equal(t, "class_2", b.JSON(t)["predictions"].([]any)[1].(map[string]any)["class"])
	w := a.Do(http.MethodPost, "/samples", `{"features":{"alcohol":13.05,"malic acid":0.1234567890123,"proline (mg/l)":735},"class":"class_1"}`)
	require.Equal(t, http.StatusCreated, w.Status, "%s", w.Body)
	got := a.Do(http.MethodGet, w.Header.Get("Location"), "")
	assert.JSONEq(t, `{"id":10,"features":[13.05,0.1234567890123,735],"class":"class_1"}`, string(got.Body))
	list := a.Do(http.MethodGet, "/samples?class=class_1&limit=2", "").JSON(t)
	assert.EqualValues(t, 4, list["total"])

	// Errors name what this schema expects.
	for _, tc := range []struct {
		method, path, body string
		status             int
		detail             string
	}{
		{"POST", "/predict", `{"features":[1,2]}`, 422, "features must have 3 numbers (alcohol, malic acid, proline (mg/l)), got 2"},
		{"POST", "/predict", `{"features":{"alcohol":1,"malic acid":2}}`, 422, "features.proline (mg/l) is missing: give all of alcohol, malic acid, proline (mg/l)"},
		{"POST", "/predict", `{"features":{"alcohol":1,"malic acid":2,"proline":3}}`, 400, `unknown feature "proline"`},
		{"POST", "/predict", `{"features":{"Alcohol":1,"malic acid":2,"proline (mg/l)":3}}`, 400, `unknown feature "Alcohol"`},
		{"POST", "/samples", `{"features":[1,2,3],"species":"class_1"}`, 400, `unknown field "species"`},
		{"POST", "/samples", `{"features":[1,2,3]}`, 422, "class is required"},
		{"POST", "/samples", `{"features":[1,2,3],"class":"class_9"}`, 422, `unknown class "class_9"`},
		{"GET", "/samples?species=class_1", "", 400, `unknown query parameter "species": want class, limit, offset, after_id or format`},
	} {
		r := a.Do(tc.method, tc.path, tc.body)
		assert.Equal(t, tc.status, r.Status, "%s %s %s: %s", tc.method, tc.path, tc.body, r.Body)
		assert.Contains(t, r.JSON(t)["detail"], tc.detail)
	}

	// The served document names this set's features, label and classes.
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Required   []string                  `yaml:"required"`
				Properties map[string]map[string]any `yaml:"properties"`
				MinItems   int                       `yaml:"minItems"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	require.NoError(t, yaml.Unmarshal(a.Spec, &doc))
	schemas := doc.Components.Schemas
	assert.Equal(t, []string{"alcohol", "malic acid", "proline (mg/l)"}, schemas["FeatureObject"].Required)
	assert.Equal(t, 3, schemas["FeatureArray"].MinItems)
	assert.Equal(t, []any{"class_0", "class_1", "class_2"}, schemas["Prediction"].Properties["class"]["enum"])
	assert.Contains(t, schemas["Sample"].Required, "class")
	assert.NotContains(t, string(a.Spec), "example:", "no Iris examples for another set")
	assert.NotContains(t, string(a.Spec), "examples:", "no Iris examples for another set")
}

// TestServedSpecForIrisIsTheCommittedOne checks that the document
// generated for the shipped Iris says what api/openapi.yaml says.
func TestServedSpecForIrisIsTheCommittedOne(t *testing.T) {
	a := apitest.Start(t, httpapi.Config{}, nil)
	var committed, served any
	require.NoError(t, yaml.Unmarshal(api.OpenAPIYAML, &committed))
	require.NoError(t, yaml.Unmarshal(a.Spec, &served))
	assert.Equal(t, committed, served)
}

// TestLabelNamedLikeAnAPIField refuses a label column whose name the API
// uses for a field of its own.
func TestLabelNamedLikeAnAPIField(t *testing.T) {
	for _, name := range []string{"id", "features", "probabilities", "neighbors", "k"} {
		_, err := dataset.ParseCSV(strings.NewReader(fmt.Sprintf("x,%s\n1,a\n", name)), "")
		assert.ErrorContains(t, err, "the API uses it", name)
	}
}
