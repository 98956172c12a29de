package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wineFeatures is the header of internal/dataset/testdata/wine.csv (the
// label column, class, is its last).
var wineFeatures = []string{"alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols", "flavanoids",
	"nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue", "od280/od315_of_diluted_wines", "proline"}

// The page follows the schema of whatever irisd loaded: with scikit-learn's
// wine set (label class, standard scaling), a field and slider per feature named by the header, no units,
// the label called class, and predictions as the API gives them.
func TestPageWithTheWineSet(t *testing.T) {
	api := startIrisd(t, "-data", "../dataset/testdata/wine.csv", "-label", "class", "-scale", "standard")
	ctx := tab(t, 1280, 1100)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(api.URL+"/")))
	waitFor(t, ctx, "the page to load the wine set", ready)

	got, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
		Fields  []string `json:"fields"`
		Labels  []string `json:"labels"`
		Ranges  int      `json:"ranges"`
		Axes    []string `json:"axes"`
		Columns []string `json:"columns"`
		Word    string   `json:"word"`
		Filter  string   `json:"filter"`
		Points  int      `json:"points"`
		Title   string   `json:"title"`
	}](`({
		fields: [...document.querySelectorAll('#measurements input[type=number]')].map((e) => e.id),
		labels: [...document.querySelectorAll('#measurements label')].map((e) => e.textContent.trim()),
		ranges: document.querySelectorAll('#measurements input[type=range]').length,
		axes: [...document.getElementById('x-axis').options].map((o) => o.textContent),
		columns: [...document.querySelectorAll('#samples thead th')].map((e) => e.textContent),
		word: document.getElementById('class-word').textContent,
		filter: document.getElementById('filter').options[0].textContent,
		points: document.querySelectorAll('#plot .pt').length,
		title: document.getElementById('plot-title').textContent,
	})`))
	require.NoError(t, err)
	assert.Equal(t, wineFeatures, got.Fields, "a field per feature, in header order")
	assert.Equal(t, 13, got.Ranges, "a slider per feature")
	assert.Equal(t, "Alcohol", got.Labels[0])
	assert.Equal(t, "Od280/od315 of diluted wines", got.Labels[11])
	for _, l := range got.Labels {
		assert.NotContains(t, l, "cm", "no unit where none is known")
	}
	assert.Len(t, got.Axes, 13)
	assert.Equal(t, "Class", got.Word)
	assert.Equal(t, "any class", got.Filter)
	assert.Equal(t, "Class", got.Columns[14])
	assert.Equal(t, 178, got.Points)
	assert.Equal(t, "Alcalinity of ash against Ash", got.Title)

	// A wine typed in (the first of the set's class_2 rows, changed a little)
	// gets the API's own answer.
	q := []float64{13.5, 3.2, 2.6, 22, 100, 1.7, 0.6, 0.5, 1.2, 8, 0.65, 1.6, 600}
	for i, name := range wineFeatures {
		typeInto(t, ctx, name, fmt.Sprint(q[i]))
	}
	body, _ := json.Marshal(map[string]any{"features": q})
	resp, err := http.Post(api.URL+"/predict", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	var ref struct {
		Class     string `json:"class"`
		Neighbors []struct {
			ID int64 `json:"id"`
		} `json:"neighbors"`
	}
	require.NoError(t, json.Unmarshal(b, &ref))
	require.NotEmpty(t, ref.Class)
	p := prediction{Species: ref.Class}
	p.Neighbors = ref.Neighbors
	waitFor(t, ctx, "the wine prediction", showsPrediction(p))
	s := state(t, ctx)
	assert.Empty(t, s.Status)
	assert.Len(t, s.Probs, 3, "a bar per class")
	assert.True(t, strings.HasPrefix(ref.Class, "class_"))
	heading, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('h-query').textContent`))
	require.NoError(t, err)
	assert.Equal(t, "Features", heading)
	require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.activeElement.blur(), window.scrollTo(0, 0), true`)))
	screenshot(t, ctx, "wine.png", "screenshot-wine.png", 1280, 1100)

	// Adding a wine through the form uses the label's own key.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("use-query")), chromedp.Click(chromedp.ID("save"))))
	waitFor(t, ctx, "the added wine", `document.getElementById('editor-msg').textContent.startsWith('Added sample #179 (class_0)')`)
	assert.Equal(t, 179, state(t, ctx).Points)

}
