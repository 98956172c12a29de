package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// setting is one evaluated setting of an evaluate job's result.
type setting struct {
	K         int     `json:"k"`
	Metric    string  `json:"metric"`
	Weights   string  `json:"weights"`
	Accuracy  float64 `json:"accuracy"`
	Correct   int     `json:"correct"`
	Total     int     `json:"total"`
	Confusion [][]int `json:"confusion"`
}

type evaluation struct {
	Classes []string  `json:"classes"`
	Results []setting `json:"results"`
	Best    setting   `json:"best"`
}

// evaluate runs an evaluate job through the API directly (no browser) and
// returns its result: the reference the page must show.
func (d *irisd) evaluate(t *testing.T, req map[string]any) evaluation {
	t.Helper()
	req["type"] = "evaluate"
	body, _ := json.Marshal(req)
	resp, err := http.Post(d.URL+"/jobs", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", b)
	var job struct{ ID string }
	require.NoError(t, json.Unmarshal(b, &job))
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(d.URL + "/jobs/" + job.ID + "/result")
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			var e evaluation
			require.NoError(t, json.Unmarshal(b, &e))
			return e
		}
		require.Equal(t, http.StatusConflict, resp.StatusCode, "%s", b)
		require.True(t, time.Now().Before(deadline), "the evaluate job did not finish within a minute")
		time.Sleep(50 * time.Millisecond)
	}
}

func (e evaluation) find(k int, metric, weights string) setting {
	for _, r := range e.Results {
		if r.K == k && r.Metric == metric && r.Weights == weights {
			return r
		}
	}
	return setting{}
}

// shownConfusion reads the heat map's counts.
func shownConfusion(t *testing.T, ctx context.Context) [][]int {
	t.Helper()
	m, err := chromedp.Run(ctx, chromedp.Evaluate[[][]int](`[...document.querySelectorAll('#confusion tbody tr')].map((r) => [...r.querySelectorAll('td')].map((c) => +c.textContent))`))
	require.NoError(t, err)
	return m
}

func setChecks(t *testing.T, ctx context.Context, name string, values ...string) {
	t.Helper()
	js, _ := json.Marshal(values)
	require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`document.querySelectorAll('input[name=%s]').forEach((c) => { c.checked = %s.includes(c.value); })`, name, js))))
}

func TestEvaluationView(t *testing.T) {
	ctx, api := pageAt(t, 1280, 1000)
	ref := api.evaluate(t, map[string]any{"k_min": 1, "k_max": 15, "metrics": []string{"euclidean", "manhattan"}, "weights": []string{"uniform", "distance"}})

	typeInto(t, ctx, "eval-k-max", "15")
	setChecks(t, ctx, "eval-metric", "euclidean", "manhattan")
	setChecks(t, ctx, "eval-weight", "uniform", "distance")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("eval-run"))))
	waitFor(t, ctx, "the evaluation to finish", `document.getElementById('eval-status').textContent.startsWith('Done: 60 settings evaluated (leave-one-out, 150 samples)')`)

	got, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
		Progress float64  `json:"progress"`
		Lines    []string `json:"lines"`
		Points   int      `json:"points"`
		Cells    int      `json:"cells"`
		Summary  string   `json:"summary"`
		Selected string   `json:"selected"`
		Desc     string   `json:"desc"`
	}](`({
		progress: document.getElementById('eval-progress').value,
		lines: [...document.querySelectorAll('#eval-svg .series')].map((g) => g.dataset.series),
		points: document.querySelectorAll('#eval-svg .eval-pt').length,
		cells: document.querySelectorAll('#eval-table .cellbtn').length,
		summary: document.getElementById('eval-summary').textContent,
		selected: document.getElementById('eval-selected').textContent,
		desc: document.getElementById('eval-plot-desc').textContent,
	})`))
	require.NoError(t, err)
	assert.Equal(t, 1.0, got.Progress, "the progress bar is full")
	assert.Equal(t, []string{"euclidean/uniform", "euclidean/distance", "manhattan/uniform", "manhattan/distance"}, got.Lines, "a line per metric and weighting")
	assert.Equal(t, 60, got.Points, "a point per setting")
	assert.Equal(t, 60, got.Cells, "the text equivalent has every value")
	b := ref.Best
	assert.Contains(t, got.Summary, fmt.Sprintf("Best: k = %d, ", b.K))
	assert.Contains(t, got.Summary, fmt.Sprintf("(%d of %d, leave-one-out", b.Correct, b.Total))
	assert.Contains(t, got.Selected, fmt.Sprintf("k = %d, ", b.K), "the best setting is selected first")
	assert.Contains(t, got.Desc, fmt.Sprintf("The best is k = %d", b.K), "the plot's text description names the best")
	assert.Equal(t, b.Confusion, shownConfusion(t, ctx), "the heat map shows the best setting's counts")

	// The keyboard moves the selection: right is the next k on the same line.
	next := b.K + 1
	if next > 15 {
		next = b.K - 1
	}
	key := kb.ArrowRight
	if next < b.K {
		key = kb.ArrowLeft
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.Focus(chromedp.ID("eval-svg")), chromedp.KeyEvent(key)))
	waitFor(t, ctx, "the keyboard selection", fmt.Sprintf(`document.getElementById('eval-selected').textContent.startsWith('k = %d, ')`, next))
	moved := ref.find(next, b.Metric, b.Weights)
	require.NotZero(t, moved.Total)
	assert.Equal(t, moved.Confusion, shownConfusion(t, ctx))
	focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id`))
	require.NoError(t, err)
	assert.Equal(t, "eval-svg", focused, "focus stays on the plot")

	// A value in the table selects too.
	other := ref.find(3, "manhattan", "uniform")
	require.NoError(t, chromedp.Do(ctx, clickJS(`#eval-table .cellbtn[data-k="3"][data-metric="manhattan"][data-weights="uniform"]`)))
	waitFor(t, ctx, "the table selection", `document.getElementById('eval-selected').textContent.startsWith('k = 3, Manhattan, uniform votes')`)
	assert.Equal(t, other.Confusion, shownConfusion(t, ctx))

	// "Use this setting" fills the prediction controls and predicts with them.
	q := [4]float64{6.0, 2.8, 4.9, 1.6}
	setMeasurements(t, ctx, q)
	want := api.predict(t, q, 3, "manhattan", "uniform")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("eval-use"))))
	waitFor(t, ctx, "the prediction with the evaluated setting", showsPrediction(want))
	controls, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`['k', 'metric', 'weights'].map((id) => document.getElementById(id).value)`))
	require.NoError(t, err)
	assert.Equal(t, []string{"3", "manhattan", "uniform"}, controls)
	assert.Contains(t, state(t, ctx).Meta, "k = 3 · manhattan distance · uniform votes")

	// The README's screenshot of the evaluation view, with the best selected.
	require.NoError(t, chromedp.Do(ctx, clickJS(fmt.Sprintf(`#eval-table .cellbtn[data-k="%d"][data-metric="%s"][data-weights="%s"]`, b.K, b.Metric, b.Weights)),
		chromedp.Evaluate[chromedp.Void](`document.activeElement.blur(); document.getElementById('h-eval').scrollIntoView()`)))
	screenshot(t, ctx, "evaluation.png", "screenshot-evaluation.png", 1280, 1000)
}

// bigTrainingSet writes a CSV of n random samples in the Iris columns, big
// enough that an evaluation takes seconds.
func bigTrainingSet(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("sepal_length,sepal_width,petal_length,petal_width,species\n")
	r := rand.New(rand.NewPCG(1, 2))
	classes := []string{"setosa", "versicolor", "virginica"}
	for range n {
		c := r.IntN(3)
		fmt.Fprintf(&b, "%.2f,%.2f,%.2f,%.2f,%s\n", 4+r.Float64()*4+float64(c), 2+r.Float64()*2, 1+r.Float64()*5+float64(c), r.Float64()*2.5, classes[c])
	}
	p := filepath.Join(t.TempDir(), "big.csv")
	require.NoError(t, os.WriteFile(p, []byte(b.String()), 0o644))
	return p
}

func TestEvaluationProgressAndCancel(t *testing.T) {
	// A sweep slow enough to watch and cancel: 20,000 samples x k_max 200
	// x 3 metrics = 12M neighbours, past the default -job-max-neighbors.
	api := startIrisd(t, "-data", bigTrainingSet(t, 20000), "-job-max-neighbors", "20000000")
	ctx := tab(t, 1280, 1000)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(api.URL+"/")))
	waitFor(t, ctx, "the page to load", ready)

	typeInto(t, ctx, "eval-k-max", "200")
	setChecks(t, ctx, "eval-metric", "euclidean", "manhattan", "chebyshev")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("eval-run"))))
	waitFor(t, ctx, "progress between 0 and 1", `(() => { const p = document.getElementById('eval-progress').value; return p > 0 && p < 1; })()`)
	status, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('eval-status').textContent`))
	require.NoError(t, err)
	assert.Regexp(t, `^Running: \d+% done$`, status)
	visible, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.getElementById('eval-cancel').hidden && document.getElementById('eval-run').disabled`))
	require.NoError(t, err)
	assert.True(t, visible, "while it runs: Cancel shown, Run disabled")

	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("eval-cancel"))))
	waitFor(t, ctx, "the cancel", `document.getElementById('eval-status').textContent === 'Cancelled.' && !document.getElementById('eval-run').disabled`)
	var cancelled []string
	for _, line := range strings.Split(api.log.String(), "\n") {
		var l struct{ Msg, Method, Path string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "request" && l.Method == "DELETE" && strings.HasPrefix(l.Path, "/jobs/") {
			cancelled = append(cancelled, l.Path)
		}
	}
	require.Len(t, cancelled, 1, "one DELETE /jobs/{id}")
	resp, err := http.Get(api.URL + cancelled[0])
	require.NoError(t, err)
	defer resp.Body.Close()
	var job struct{ Status string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&job))
	assert.Equal(t, "cancelled", job.Status, "the server cancelled the job")
	hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('eval-result').hidden`))
	require.NoError(t, err)
	assert.True(t, hidden, "no result from a cancelled job")
}
