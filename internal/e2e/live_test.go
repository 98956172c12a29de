package e2e_test

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// write sends one write as a second client (not the page) would.
func (d *irisd) write(t *testing.T, method, path, body string) {
	t.Helper()
	req, err := http.NewRequest(method, d.URL+path, bytes.NewReader([]byte(body)))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Less(t, resp.StatusCode, 300, "%s %s", method, path)
}

// When another client changes the training set, the page's plot, list and
// prediction follow without a reload, through the change feed.
func TestPageFollowsChangesByAnotherClient(t *testing.T) {
	ctx, api := pageAt(t, 1280, 1000)
	// An evaluation of the set as it is now.
	typeInto(t, ctx, "eval-k-max", "5")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("eval-run"))))
	waitFor(t, ctx, "the evaluation", `document.getElementById('eval-status').textContent.startsWith('Done: ')`)
	q := [4]float64{5.9, 2.9, 4.4, 1.35}
	before := api.predict(t, q, 1, "euclidean", "uniform")
	require.Equal(t, "versicolor", before.Species)
	typeInto(t, ctx, "k", "1")
	setMeasurements(t, ctx, q)
	waitFor(t, ctx, "versicolor before the change", showsPrediction(before))
	// The page follows the change feed (Server-Sent Events), not a poll.
	waitFor(t, ctx, "the page to follow the change feed", `document.body.dataset.live === 'feed'`)

	// Another client adds a virginica sample exactly at the query.
	api.write(t, "POST", "/samples", fmt.Sprintf(`{"features":[%v,%v,%v,%v],"species":"virginica"}`, q[0], q[1], q[2], q[3]))
	after := api.predict(t, q, 1, "euclidean", "uniform")
	require.Equal(t, []int64{151}, after.ids())
	waitFor(t, ctx, "the prediction to follow the other client", showsPrediction(after))
	waitFor(t, ctx, "the list to follow", `document.getElementById('page-info').textContent === 'Samples 1–10 of 151'`)
	s := state(t, ctx)
	assert.Equal(t, 151, s.Points, "the plot has the other client's sample")
	msg, shown := text(t, ctx, "live")
	assert.True(t, shown)
	assert.Contains(t, msg, "The training set changed (now version 2, 151 samples)")
	stale, shown := text(t, ctx, "eval-stale")
	assert.True(t, shown, "the evaluation says it is out of date")
	assert.Contains(t, stale, "The training set has changed since this evaluation (version 1, now 2)")

	// And a delete by the other client takes it away again.
	api.write(t, "DELETE", "/samples/151", "")
	waitFor(t, ctx, "versicolor after the other client's delete", showsPrediction(before))
	waitFor(t, ctx, "the list after the delete", `document.getElementById('page-info').textContent === 'Samples 1–10 of 150'`)
	assert.Equal(t, 150, state(t, ctx).Points)
}
