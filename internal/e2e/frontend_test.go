package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/web"
)

// servers starts the two origins of a test: irisd serving the page (its
// own API unused), and irisd serving the API, which allows only the page's
// origin. It returns the page URL that points the page at the API.
func servers(t *testing.T) (pageURL string, api *irisd) {
	t.Helper()
	page := startIrisd(t)
	api = startIrisd(t, "-cors-origins", page.URL)
	return page.URL + "/?api=" + api.URL, api
}

const ready = `document.body.dataset.ready === 'true'`

func TestPredictFromMeasurements(t *testing.T) {
	start := time.Now()
	pageURL, api := servers(t)
	ctx := tab(t, 1280, 860)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(pageURL)))
	waitFor(t, ctx, "the page to load the training set", ready)

	cases := []struct {
		name     string
		features [4]float64
		k        int
		metric   string
		weights  string
		want     string // the species a botanist expects
		tie      bool   // the API reports a tie, and the page a notice
	}{
		{"setosa", [4]float64{5.0, 3.4, 1.5, 0.2}, 5, "euclidean", "uniform", "setosa", false},
		{"versicolor", [4]float64{5.9, 2.8, 4.3, 1.3}, 7, "manhattan", "uniform", "versicolor", false},
		{"virginica", [4]float64{6.9, 3.1, 5.8, 2.2}, 3, "chebyshev", "distance", "virginica", false},
		{"tie", [4]float64{6.0, 2.8, 4.9, 1.6}, 2, "euclidean", "uniform", "", true},
		{"borderline", [4]float64{6.0, 2.8, 4.9, 1.6}, 9, "euclidean", "uniform", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref := api.predict(t, tc.features, tc.k, tc.metric, tc.weights)
			if tc.want != "" {
				require.Equal(t, tc.want, ref.Species, "the API's own answer")
			}
			require.Equal(t, tc.tie, ref.Tie, "the API's tie flag")
			require.NoError(t, chromedp.Do(ctx,
				chromedp.SetValue(chromedp.ID("metric"), tc.metric),
				chromedp.SetValue(chromedp.ID("weights"), tc.weights),
				chromedp.Evaluate[chromedp.Void](`['metric','weights'].forEach((id) => document.getElementById(id).dispatchEvent(new Event('change'))), true`),
			))
			typeInto(t, ctx, "k", fmt.Sprint(tc.k))
			setMeasurements(t, ctx, tc.features)
			waitFor(t, ctx, "the prediction "+ref.Species, showsPrediction(ref))

			s := state(t, ctx)
			assert.Empty(t, s.Status, "no error banner")
			assert.Equal(t, ref.Species, s.Species)
			assert.Equal(t, ref.Probabilities, s.Probs, "one bar per class with the API's probability")
			assert.Equal(t, ref.Tie, s.Tie, "tie notice")
			if tc.tie {
				notice, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('tie').textContent`))
				require.NoError(t, err)
				assert.Contains(t, notice, "so the tie rule picked "+ref.Species+", the first of them in the data's class order.")
				assert.NotContains(t, notice, "odd k")
			}
			assert.Equal(t, ref.ids(), s.Neighbours, "neighbours table")
			assert.Equal(t, 150, s.Points, "plot: every training sample")
			assert.Equal(t, tc.k, s.Rings, "plot: the neighbours marked")
			assert.Equal(t, tc.k, s.Links, "plot: a line to each neighbour")
			assert.True(t, s.Query, "plot: the query point")
			assert.Contains(t, s.Meta, fmt.Sprintf("k = %d · %s distance · %s votes", tc.k, tc.metric, tc.weights))
		})
	}

	// The sliders work from the keyboard: the right arrow moves k up by one.
	ref := api.predict(t, cases[4].features, 10, "euclidean", "uniform")
	require.NoError(t, chromedp.Do(ctx, chromedp.Focus(chromedp.ID("k-range")), chromedp.KeyEvent(kb.ArrowRight)))
	waitFor(t, ctx, "k = 10 after the arrow key", `document.getElementById('k').value === '10'`)
	waitFor(t, ctx, "the prediction for k = 10", showsPrediction(ref))

	// An error from the API (k larger than the training set) is shown next to k.
	typeInto(t, ctx, "k", "500")
	waitFor(t, ctx, "the API's error under k", `document.getElementById('err-k').textContent.includes('k out of range')`)
	s := state(t, ctx)
	assert.Equal(t, "—", s.Species)
	ariaInvalid, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('k').getAttribute('aria-invalid')`))
	require.NoError(t, err)
	assert.Equal(t, "true", ariaInvalid)

	// The axes of the plot can be changed.
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("x-axis"), "0"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('x-axis').dispatchEvent(new Event('change')), true`)))
	title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('plot-title').textContent`))
	require.NoError(t, err)
	assert.Equal(t, "Petal width against Sepal length", title)

	// Every request went to the API's origin through CORS: the JSON POSTs
	// were preflighted, and the page's own irisd was not asked.
	assert.NotEmpty(t, api.requests("OPTIONS", "/predict"), "preflight requests for POST /predict")
	assert.NotEmpty(t, api.requests("POST", "/predict"))

	// The README's screenshot: a mixed vote on the default axes.
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("x-axis"), "2"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('x-axis').dispatchEvent(new Event('change')), true`)))
	ref = api.predict(t, cases[4].features, 9, "euclidean", "uniform")
	typeInto(t, ctx, "k", "9")
	waitFor(t, ctx, "the prediction for the screenshot", showsPrediction(ref))
	require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.activeElement.blur(), window.scrollTo(0, 0), true`)))
	screenshot(t, ctx, "desktop.png", "screenshot.png", 1280, 860)
	t.Logf("browser test took %v", time.Since(start).Round(time.Millisecond))
}

func TestAddSampleChangesPrediction(t *testing.T) {
	pageURL, api := servers(t)
	ctx := tab(t, 1280, 1000)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(pageURL)))
	waitFor(t, ctx, "the page to load", ready)

	// A point between the training samples (no sample has width 1.35), k = 1.
	q := [4]float64{5.9, 2.9, 4.4, 1.35}
	before := api.predict(t, q, 1, "euclidean", "uniform")
	require.Equal(t, "versicolor", before.Species)
	typeInto(t, ctx, "k", "1")
	setMeasurements(t, ctx, q)
	waitFor(t, ctx, "versicolor before the change", showsPrediction(before))

	// Add a virginica sample at exactly that point through the form.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("use-query")),
		chromedp.SetValue(chromedp.ID("f-species"), "virginica"),
		chromedp.Click(chromedp.ID("save")),
	))
	waitFor(t, ctx, "the editor to confirm the new sample", `document.getElementById('editor-msg').textContent.startsWith('Added sample #151')`)
	after := api.predict(t, q, 1, "euclidean", "uniform")
	require.Equal(t, "virginica", after.Species, "the API after the page's POST")
	require.Equal(t, []int64{151}, after.ids())
	waitFor(t, ctx, "the prediction to follow the new sample", showsPrediction(after))
	assert.Equal(t, 151, state(t, ctx).Points, "the plot has the new sample")

	// Edit it (species setosa) through the table's Edit button.
	showRow(t, ctx, "virginica", 151)
	require.NoError(t, chromedp.Do(ctx, clickJS(`#samples tr[data-id="151"] button.edit`)))
	waitFor(t, ctx, "the edit form", `document.getElementById('form-title').textContent === 'Edit sample #151'`)
	require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById('h-editor').scrollIntoView()`)))
	screenshot(t, ctx, "editor.png", "", 1280, 1000)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("f-species"), "setosa"),
		chromedp.Click(chromedp.ID("save")),
	))
	waitFor(t, ctx, "the saved edit", `document.getElementById('editor-msg').textContent === 'Saved sample #151 (setosa).'`)
	edited := api.predict(t, q, 1, "euclidean", "uniform")
	require.Equal(t, "setosa", edited.Species)
	waitFor(t, ctx, "setosa after the edit", showsPrediction(edited))

	// A missing value is refused next to its field, before anything is sent
	// (the form is empty again after the save).
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("save"))))
	waitFor(t, ctx, "the field error", `document.getElementById('err-f-sepal_length').textContent === 'Enter a number of centimetres.'`)
	assert.Len(t, api.requests("POST", "/samples"), 1, "the bad sample was not sent")

	// Delete it: the prediction is the original one again.
	showRow(t, ctx, "setosa", 151)
	require.NoError(t, chromedp.Do(ctx, clickJS(`#samples tr[data-id="151"] button.delete`)))
	waitFor(t, ctx, "the delete", `document.getElementById('editor-msg').textContent.startsWith('Deleted sample #151')`)
	waitFor(t, ctx, "versicolor after the delete", showsPrediction(before))
	assert.Equal(t, 150, state(t, ctx).Points)

	// Reset restores the shipped set (also after another change).
	first, err := chromedp.Run(ctx, chromedp.Evaluate[int64](`+document.querySelector('#samples tbody tr').dataset.id`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, clickJS(`#samples tbody tr button.delete`)))
	waitFor(t, ctx, "a second delete", fmt.Sprintf(`document.getElementById('editor-msg').textContent.startsWith('Deleted sample #%d ')`, first))
	assert.Equal(t, 149, state(t, ctx).Points)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("reset"))))
	waitFor(t, ctx, "the reset", `document.getElementById('editor-msg').textContent === 'The training set is back to its 150 shipped samples.'`)
	assert.Equal(t, 150, state(t, ctx).Points)
	// JSON bodies, PUT and DELETE need a preflight; the bodiless POST of a
	// reset without a key is a "simple" request and gets none.
	for _, m := range []string{"POST /samples", "PUT /samples/151", "DELETE /samples/151"} {
		method, path, _ := strings.Cut(m, " ")
		assert.NotEmpty(t, api.requests("OPTIONS", path), "preflight before %s", m)
		assert.NotEmpty(t, api.requests(method, path), m)
	}
	assert.NotEmpty(t, api.requests("POST", "/dataset/reset"))
}

func TestOriginNotAllowed(t *testing.T) {
	// The page on a plain static server whose origin the API does not list.
	static := httptest.NewServer(http.FileServerFS(web.Files))
	t.Cleanup(static.Close)
	allowed := startIrisd(t) // only its origin is allowed
	api := startIrisd(t, "-cors-origins", allowed.URL)

	ctx := tab(t, 1280, 860)
	var mu sync.Mutex
	var corsErrors []string
	go func() {
		for ev, err := range chromedp.Events(ctx, network.LoadingFailed) {
			if err != nil {
				return
			}
			if ev.CorsErrorStatus != nil {
				mu.Lock()
				corsErrors = append(corsErrors, string(ev.CorsErrorStatus.CorsError))
				mu.Unlock()
			}
		}
	}()
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(static.URL+"/?api="+api.URL)))
	waitFor(t, ctx, "the page to give up", `document.body.dataset.ready === 'error'`)

	s := state(t, ctx)
	assert.Contains(t, s.Status, "Cannot reach the API at "+api.URL)
	assert.Contains(t, s.Status, "does not allow requests from this page's origin ("+static.URL+")")
	assert.Contains(t, s.Status, "-cors-origins="+static.URL)
	assert.Equal(t, "—", s.Species)
	assert.Zero(t, s.Points)
	pill, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("api-state")))
	require.NoError(t, err)
	assert.Equal(t, "unreachable", pill)

	// The server answered; the browser withheld the answer from the page.
	assert.NotEmpty(t, api.requests("GET", "/dataset"), "the API saw the request")
	waitFor(t, ctx, "the retry button", `!!document.getElementById('retry')`)
	// The protocol's events arrive on their own goroutine: allow them time.
	assert.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(corsErrors, string(network.CorsErrorMissingAllowOriginHeader))
	}, 20*time.Second, 50*time.Millisecond, "Chromium reports that it blocked the response for CORS (MissingAllowOriginHeader)")
	screenshot(t, ctx, "blocked.png", "", 1280, 860)

	// A ?api= that is not an http(s) URL is named as the problem.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(static.URL+"/?api=ftp://files.example")))
	waitFor(t, ctx, "the ?api= error", `document.getElementById('status').textContent.includes('The ?api= parameter must be an http or https URL, got "ftp://files.example"')`)
}

func TestPhoneWidth(t *testing.T) {
	// Same origin this time, as after `make run`: no ?api=, no CORS.
	api := startIrisd(t, "-cors-origins", "http://elsewhere.example")
	ctx := tab(t, 390, 844, chromedp.EmulateMobile, chromedp.EmulatePortrait)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(api.URL+"/")))
	waitFor(t, ctx, "the page to load", ready)
	ref := api.predict(t, [4]float64{6.3, 2.5, 5.0, 1.9}, 5, "euclidean", "uniform")
	setMeasurements(t, ctx, [4]float64{6.3, 2.5, 5.0, 1.9})
	waitFor(t, ctx, "the prediction", showsPrediction(ref))

	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - document.documentElement.clientWidth`))
	require.NoError(t, err)
	if !assert.LessOrEqual(t, overflow, 0, "the page scrolls sideways at phone width") {
		wide, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('body *')]
			.filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
			.map((e) => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))`))
		t.Logf("elements wider than the screen: %v", wide)
	}

	// Every control has an accessible name: a label, aria-label or aria-labelledby.
	unlabelled, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('input, select, button')]
		.filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby') && !(e.tagName === 'BUTTON' && e.textContent.trim()))
		.map((e) => e.outerHTML)`))
	require.NoError(t, err)
	assert.Empty(t, unlabelled, "controls without a label")
	assert.Empty(t, api.requests("OPTIONS", "/predict"), "same origin: no preflight")
	screenshot(t, ctx, "phone.png", "screenshot-phone.png", 390, 844)
}

// showRow pages through the editor's table, filtered by species, until the
// row of sample id is on screen, clicking Next as a person would.
func showRow(t *testing.T, ctx context.Context, species string, id int64) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("filter"), species),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('filter').dispatchEvent(new Event('change'))`)))
	waitFor(t, ctx, "the first "+species+" page", `document.getElementById('page-info').textContent.startsWith('Samples 1–') && document.getElementById('page-info').textContent.endsWith(' `+species+`')`)
	row := fmt.Sprintf(`!!document.querySelector('#samples tr[data-id="%d"]')`, id)
	for first := 11; ; first += 10 {
		found, err := chromedp.Run(ctx, chromedp.Evaluate[bool](row))
		require.NoError(t, err)
		if found {
			return
		}
		require.Less(t, first, 1000, "sample %d not found in the %s pages", id, species)
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("next"))))
		waitFor(t, ctx, "the next page", fmt.Sprintf(`document.getElementById('page-info').textContent.startsWith('Samples %d–')`, first))
	}
}
