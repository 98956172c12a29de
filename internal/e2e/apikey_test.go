package e2e_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/go-chi/cors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/httpapi"
	"github.com/irisknn/irisknn/internal/iris"
)

// keyGate guards the API's writes with a bearer key as API-NOTES.md
// specifies (401 problem + WWW-Authenticate: Bearer), and records the
// Authorization header of every write. Until the service has its own key
// option this stands in for it, so that the page's side is tested: that it
// sends the key, and that it shows a 401 next to the key field.
type keyGate struct {
	key  string
	next http.Handler

	mu   sync.Mutex
	auth []string // Authorization of each write, in order
}

func (g *keyGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions || r.URL.Path == "/predict" {
		g.next.ServeHTTP(w, r)
		return
	}
	got := r.Header.Get("Authorization")
	g.mu.Lock()
	g.auth = append(g.auth, got)
	g.mu.Unlock()
	if got != "Bearer "+g.key {
		w.Header().Set("WWW-Authenticate", `Bearer realm="irisknn"`)
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"type":"about:blank","title":"Unauthorized","status":401,"detail":"this write needs an API key: send Authorization: Bearer <key>"}` + "\n"))
		return
	}
	g.next.ServeHTTP(w, r)
}

func TestAPIKey(t *testing.T) {
	page := startIrisd(t)
	samples, err := iris.ParseCSV(bytes.NewReader(data.IrisCSV))
	require.NoError(t, err)
	snap, err := iris.NewSnapshot(samples)
	require.NoError(t, err)
	cfg := httpapi.DefaultConfig()
	cfg.CORSOrigins = []string{page.URL}
	gate := &keyGate{key: "s3cret", next: httpapi.NewServer(cfg, iris.NewMemory(snap, nil))}
	// In the service the key check sits inside the CORS middleware, so a
	// 401 carries CORS headers; the same middleware goes outside the gate.
	api := httptest.NewServer(cors.Handler(cors.Options{
		AllowedOrigins: []string{page.URL},
		AllowedMethods: []string{"GET", "POST", "PUT", "DELETE"},
		AllowedHeaders: []string{"Accept", "Authorization", "Content-Type", "If-Match"},
	})(gate))
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
