package e2e_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/httpapi"
)

// authLog records the Authorization header of every write that reaches the
// API (it only observes: the API's own -api-key check answers).
type authLog struct {
	next http.Handler

	mu   sync.Mutex
	auth []string // Authorization of each write, in order
}

func (l *authLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path != "/predict" || r.Method == http.MethodPut || r.Method == http.MethodDelete {
		l.mu.Lock()
		l.auth = append(l.auth, r.Header.Get("Authorization"))
		l.mu.Unlock()
	}
	l.next.ServeHTTP(w, r)
}

func TestAPIKey(t *testing.T) {
	page := startIrisd(t)
	samples, err := dataset.ParseCSV(bytes.NewReader(data.IrisCSV), "")
	require.NoError(t, err)
	snap, err := dataset.NewSnapshot(samples.Schema, samples.Samples, dataset.ScaleNone)
	require.NoError(t, err)
	cfg := httpapi.DefaultConfig()
	cfg.CORSOrigins = []string{page.URL}
	cfg.APIKey = "s3cret" // the service's own key check (-api-key)
	gate := &authLog{next: httpapi.NewServer(cfg, dataset.NewMemory(snap, nil))}
	api := httptest.NewServer(gate)
	t.Cleanup(api.Close)

	ctx := tab(t, 1280, 1000)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(page.URL+"/?api="+api.URL)))
	waitFor(t, ctx, "the page to load", ready)

	// Without a key: the 401 is shown next to the key field, nothing changes.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("use-query")), chromedp.Click(chromedp.ID("save"))))
	waitFor(t, ctx, "the 401 next to the key field", `document.getElementById('err-api-key').textContent === 'A valid API key is needed to change the training set.'`)
	msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('err-sample-form').textContent`))
	require.NoError(t, err)
	assert.Contains(t, msg, "enter it in the API key field")
	assert.Equal(t, 150, state(t, ctx).Points)

	// With the key: sent as a bearer token, the sample is added.
	typeInto(t, ctx, "api-key", "s3cret")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("save"))))
	waitFor(t, ctx, "the added sample", `document.getElementById('editor-msg').textContent.startsWith('Added sample #151')`)
	waitFor(t, ctx, "the key error to clear", `document.getElementById('err-api-key').textContent === ''`)
	assert.Equal(t, 151, state(t, ctx).Points)

	gate.mu.Lock()
	defer gate.mu.Unlock()
	assert.Equal(t, []string{"", "Bearer s3cret"}, gate.auth, "Authorization of the two writes")
}
