package e2e_test

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func setControls(t *testing.T, ctx context.Context, metric, weights string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("metric"), metric),
		chromedp.SetValue(chromedp.ID("weights"), weights),
		chromedp.Evaluate[chromedp.Void](`['metric','weights'].forEach((id) => document.getElementById(id).dispatchEvent(new Event('change'))), true`),
	))
}

func text(t *testing.T, ctx context.Context, id string) (string, bool) {
	t.Helper()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
		Text   string `json:"text"`
		Hidden bool   `json:"hidden"`
	}](`(() => { const e = document.getElementById('`+id+`'); return { text: e.textContent, hidden: e.hidden }; })()`))
	require.NoError(t, err)
	return got.Text, !got.Hidden
}

// README example 2: distance weights at exactly sample 71's point give
// virginica 100% although 3 of the 7 neighbours are versicolor; the page
// says that only the exact match voted.
func TestPageSaysWhenOnlyExactMatchesVoted(t *testing.T) {
	ctx, api := pageAt(t, 1280, 900)
	q := [4]float64{6.0, 3.0, 4.8, 1.8}
	ref := api.predict(t, q, 7, "manhattan", "distance")
	require.Equal(t, map[string]float64{"setosa": 0, "versicolor": 0, "virginica": 1}, ref.Probabilities)
	typeInto(t, ctx, "k", "7")
	setControls(t, ctx, "manhattan", "distance")
	setMeasurements(t, ctx, q)
	waitFor(t, ctx, "the exact-match answer", showsPrediction(ref))
	msg, shown := text(t, ctx, "exact")
	assert.True(t, shown, "the exact-match notice is shown")
	assert.Contains(t, msg, "Only exact matches voted")
	assert.Contains(t, msg, "uniform votes would count all 7")

	// Uniform votes: everyone votes, no notice.
	uni := api.predict(t, q, 7, "manhattan", "uniform")
	setControls(t, ctx, "manhattan", "uniform")
	waitFor(t, ctx, "the uniform answer", showsPrediction(uni)+` && document.getElementById('exact').hidden`)
	assert.InDelta(t, 4.0/7, state(t, ctx).Probs["virginica"], 1e-12)
}

// The tie notice names what tied and what decided it, with advice that
// fits the settings (never "try an odd k": with 3 classes that does not
// prevent ties).
func TestTieNoticeExplains(t *testing.T) {
	ctx, api := pageAt(t, 1280, 900)
	q := [4]float64{6.0, 2.8, 4.9, 1.6}
	ref := api.predict(t, q, 2, "euclidean", "uniform")
	require.True(t, ref.Tie)
	typeInto(t, ctx, "k", "2")
	setMeasurements(t, ctx, q)
	waitFor(t, ctx, "the tied answer", showsPrediction(ref))
	msg, shown := text(t, ctx, "tie")
	require.True(t, shown)
	assert.Equal(t, "Tie: versicolor and virginica had equal shares of the vote (50% each), so the tie rule picked versicolor, "+
		"the first of them in the data's class order. To break it, try a different k (such as 1 or 3), or 1/distance votes so that nearer neighbours count for more.", msg)
	assert.NotContains(t, msg, "odd")
}

// The nonsense query: virginica 100%, but 493 cm from every flower.
// The page warns in words; a usual query gets no warning.
func TestPageWarnsOfUnusualInput(t *testing.T) {
	ctx, api := pageAt(t, 1280, 900)
	q := [4]float64{500, 3.5, 1.4, 0.2}
	ref := api.predict(t, q, 5, "euclidean", "uniform")
	setMeasurements(t, ctx, q)
	waitFor(t, ctx, "the nonsense answer", showsPrediction(ref))
	msg, shown := text(t, ctx, "unusual")
	assert.True(t, shown, "the warning is shown")
	assert.Contains(t, msg, "Unlike any sample in the training set: the answer is a guess.")
	assert.Contains(t, msg, "The nearest training sample is 49") // about 493 cm
	line, _ := text(t, ctx, "novelty")
	assert.Contains(t, line, "farther than 100% of training samples")
	screenshot(t, ctx, "unusual.png", "", 1280, 900)

	usual := [4]float64{5.9, 3.0, 4.2, 1.5}
	ref = api.predict(t, usual, 5, "euclidean", "uniform")
	setMeasurements(t, ctx, usual)
	waitFor(t, ctx, "a usual answer", showsPrediction(ref)+` && document.getElementById('unusual').hidden`)
	line, _ = text(t, ctx, "novelty")
	assert.NotContains(t, line, "unusual")
}
