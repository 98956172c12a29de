package e2e_test

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each test here is a glitch a user met on the page (issue 15), written so
// that it fails on the page as it was.

// pageAt opens the page on a fresh irisd (same origin) and waits for it.
func pageAt(t *testing.T, width, height int64) (context.Context, *irisd) {
	t.Helper()
	api := startIrisd(t)
	ctx := tab(t, width, height)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(api.URL+"/")))
	waitFor(t, ctx, "the page to load", ready)
	return ctx, api
}

func caption(t *testing.T, ctx context.Context) string {
	t.Helper()
	c, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#neighbours caption').textContent`))
	require.NoError(t, err)
	return c
}

// An invalid k showed its error but left the previous answer on screen.
func TestInvalidKClearsThePreviousAnswer(t *testing.T) {
	ctx, api := pageAt(t, 1280, 900)
	q := [4]float64{6.3, 2.5, 5.0, 1.9}
	ref := api.predict(t, q, 5, "euclidean", "uniform")
	setMeasurements(t, ctx, q)
	waitFor(t, ctx, "the first answer", showsPrediction(ref))

	typeInto(t, ctx, "k", "0")
	waitFor(t, ctx, "the error under k", `document.getElementById('err-k').textContent === 'k must be a whole number, 1 or more.'`)
	waitFor(t, ctx, "the old answer to go", `document.getElementById('species').textContent === '—'`)
	s := state(t, ctx)
	assert.Empty(t, s.Probs, "no vote shares")
	assert.Empty(t, s.Neighbours, "no neighbours")
	assert.Zero(t, s.Rings, "no neighbour rings on the plot")
	assert.Zero(t, s.Links, "no lines to neighbours")
	assert.False(t, s.Query, "no query point")
	assert.Equal(t, "The k nearest neighbours", caption(t, ctx))
	assert.Equal(t, "Fix the highlighted field to get a prediction.", s.Meta)
}

// A negative measurement was refused although the server accepts it, and
// the caption and rings of the previous answer (k = 1) stayed.
func TestNegativeMeasurementIsPredicted(t *testing.T) {
	ctx, api := pageAt(t, 1280, 900)
	q := [4]float64{5.9, 3.0, 4.2, 1.5}
	typeInto(t, ctx, "k", "1")
	setMeasurements(t, ctx, q)
	waitFor(t, ctx, "the k = 1 answer", showsPrediction(api.predict(t, q, 1, "euclidean", "uniform")))

	q[2] = -1.4
	ref := api.predict(t, q, 5, "euclidean", "uniform")
	typeInto(t, ctx, "k", "5")
	typeInto(t, ctx, "petal_length", "-1.4")
	waitFor(t, ctx, "the answer for a negative petal length", showsPrediction(ref))
	s := state(t, ctx)
	assert.Equal(t, ref.ids(), s.Neighbours)
	assert.Equal(t, 5, s.Rings, "a ring per neighbour of this answer")
	assert.Equal(t, "The 5 nearest neighbours", caption(t, ctx))
	msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('err-petal_length').textContent`))
	require.NoError(t, err)
	assert.Empty(t, msg, "no error for a value the server accepts")
}

// The add form kept its values after a successful add.
func TestAddFormEmptiesAfterAdd(t *testing.T) {
	ctx, _ := pageAt(t, 1280, 1000)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("use-query")), chromedp.Click(chromedp.ID("save"))))
	waitFor(t, ctx, "the added sample", `document.getElementById('editor-msg').textContent.startsWith('Added sample #151')`)
	values, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#sample-fields input')].map((i) => i.value)`))
	require.NoError(t, err)
	assert.Equal(t, []string{"", "", "", ""}, values, "the form is ready for the next sample")
	title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('form-title').textContent`))
	require.NoError(t, err)
	assert.Equal(t, "Add a sample", title)
}
