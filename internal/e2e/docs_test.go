package e2e_test

import (
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocsRenderTheServedSpec follows the page's header link to /docs and
// checks that Swagger UI rendered the served
// /openapi.yaml (every operation of it) under the page's CSP.
func TestDocsRenderTheServedSpec(t *testing.T) {
	api := startIrisd(t)
	ctx := tab(t, 1280, 900)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(api.URL+"/")))
	waitFor(t, ctx, "the page to load", ready)
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('docs-link').href`))
	require.NoError(t, err)
	require.Equal(t, api.URL+"/docs", href, "the header links to /docs")
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(href)))
	waitFor(t, ctx, "Swagger UI to render the spec", `document.body.dataset.ready === 'true' && document.querySelectorAll('.opblock').length > 0`)

	got, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
		Title      string   `json:"title"`
		Operations []string `json:"operations"`
		Violations string   `json:"violations"`
	}](`({
		title: document.querySelector('.info .title').firstChild.textContent.trim(),
		operations: [...document.querySelectorAll('.opblock-summary-method')].map((m) => m.textContent + ' ' + m.parentElement.querySelector('.opblock-summary-path').dataset.path),
		violations: document.body.dataset.cspViolations || '',
	})`))
	require.NoError(t, err)
	assert.Equal(t, "irisknn", got.Title)
	assert.Empty(t, got.Violations, "nothing blocked by the Content-Security-Policy")
	for _, op := range []string{"POST /predict", "GET /samples", "GET /dataset", "POST /jobs", "GET /docs"} {
		assert.Contains(t, got.Operations, op)
	}
	assert.NotEmpty(t, api.requests("GET", "/openapi.yaml"), "the docs read the served spec")
	assert.NotEmpty(t, api.requests("GET", "/ui/swagger-ui/swagger-ui-bundle.js"), "Swagger UI from the binary, not a CDN")

	// An operation opens and shows its request body.
	require.NoError(t, chromedp.Do(ctx, clickJS(`#operations-predict-predict .opblock-summary-control`)))
	waitFor(t, ctx, "the predict operation to open", `!!document.querySelector('#operations-predict-predict .opblock-body')`)
	screenshot(t, ctx, "docs.png", "", 1280, 900)
}
