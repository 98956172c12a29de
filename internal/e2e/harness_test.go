package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// Everything the tests share: the irisd binary built once, and one
// Chromium with a fresh profile; each test opens its own tab.
var (
	irisdBin     string
	chromiumPath string
	skipReason   string // why the browser tests skip; "" when they run

	browserOnce   sync.Once
	browserCtx    context.Context
	browserErr    error
	browserCancel = func() {}
	profileDir    string
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	path, err := findChromium()
	if err != nil {
		if os.Getenv("CI") != "" {
			fmt.Fprintf(os.Stderr, "e2e: CI is set and Chromium is missing (%v): install it with apt-get install -y chromium\n", err)
			return 1
		}
		skipReason = fmt.Sprintf("Chromium not found (%v): install Debian's chromium package to run the browser tests (CI fails instead of skipping)", err)
		return m.Run()
	}
	chromiumPath = path

	tmp, err := os.MkdirTemp("", "irisknn-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	irisdBin = filepath.Join(tmp, "irisd")
	build := exec.Command(goCommand(), "build", "-o", irisdBin, "github.com/irisknn/irisknn/cmd/irisd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building irisd: %v\n%s", err, out)
		return 1
	}
	profileDir = filepath.Join(tmp, "profile")
	code := m.Run()
	browserCancel()
	return code
}

// goCommand is the go command that runs these tests (so the toolchain
// matches), or the one on PATH.
func goCommand() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			return p
		}
	}
	return "go"
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// findChromium returns Debian's Chromium binary: $CHROMIUM if set, the real
// binary (without the /usr/bin wrapper's shell), or chromium on PATH.
func findChromium() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		if fileExists(p) {
			return p, nil
		}
		return "", fmt.Errorf("$CHROMIUM=%s does not exist", p)
	}
	for _, p := range []string{"/usr/lib/chromium/chromium", "/usr/bin/chromium"} {
		if fileExists(p) {
			return p, nil
		}
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no /usr/lib/chromium/chromium, /usr/bin/chromium or chromium on PATH")
}

// browser starts Chromium once (headless, fresh profile, no background
// traffic) and returns its context.
func browser(t *testing.T) context.Context {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	browserOnce.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(chromiumPath),
			chromedp.UserDataDir(profileDir),
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("hide-scrollbars", true),
			chromedp.Flag("font-render-hinting", "none"),
		)
		allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancelCtx := chromedp.NewContext(allocCtx)
		browserCancel = func() { cancelCtx(); cancelAlloc() }
		start := time.Now()
		browserErr = chromedp.Do(ctx) // starts the browser
		browserCtx = ctx
		t.Logf("Chromium %s started in %v", chromiumPath, time.Since(start).Round(time.Millisecond))
	})
	require.NoError(t, browserErr, "starting Chromium")
	return browserCtx
}

// tab opens a new tab with the given viewport; it closes when the test ends.
// Uncaught exceptions in the page fail the test.
func tab(t *testing.T, width, height int64, opts ...chromedp.EmulateViewportOption) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser(t))
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(width, height, opts...)))
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	var mu sync.Mutex
	var exceptions []string
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.IsException() {
				mu.Lock()
				exceptions = append(exceptions, m.String())
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancelT()
		cancel()
		mu.Lock()
		defer mu.Unlock()
		for _, e := range exceptions {
			t.Errorf("uncaught exception in the page: %s", e)
		}
	})
	return ctx
}

// irisd is a running irisd process.
type irisd struct {
	URL string // http://127.0.0.1:PORT
	log *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startIrisd runs the irisd binary on a free loopback port with args and
// stops it (SIGINT, then SIGKILL) when the test ends.
func startIrisd(t *testing.T, args ...string) *irisd {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	cmd := exec.Command(irisdBin, append([]string{"-addr", "127.0.0.1:0", "-grpc-addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // no IRIS_* from the caller
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("irisd %v log:\n%s", args, logs.String())
		}
	})
	addr := make(chan string, 1)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			logs.Write(append(line, '\n'))
			var l struct{ Msg, Addr string }
			if json.Unmarshal(line, &l) == nil && l.Msg == "listening" {
				addr <- l.Addr
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case a := <-addr:
		return &irisd{URL: "http://" + a, log: logs}
	case <-done:
		t.Fatalf("irisd %v exited before listening:\n%s", args, logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("irisd %v did not report its address within 60s:\n%s", args, logs.String())
	}
	return nil
}

// requests returns the access-log lines of method and path.
func (d *irisd) requests(method, path string) []string {
	var out []string
	for _, line := range strings.Split(d.log.String(), "\n") {
		var l struct{ Msg, Method, Path string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "request" && l.Method == method && l.Path == path {
			out = append(out, line)
		}
	}
	return out
}

// prediction is the part of a POST /predict answer that the page shows.
type prediction struct {
	Species       string             `json:"species"`
	Probabilities map[string]float64 `json:"probabilities"`
	Neighbors     []struct {
		ID int64 `json:"id"`
	} `json:"neighbors"`
	Tie bool `json:"tie"`
}

// predict asks the API directly (no browser) for the reference answer.
func (d *irisd) predict(t *testing.T, features [4]float64, k int, metric, weights string) prediction {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"features": features, "k": k, "metric": metric, "weights": weights})
	resp, err := http.Post(d.URL+"/predict", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	var p prediction
	require.NoError(t, json.Unmarshal(b, &p))
	return p
}

func (p prediction) ids() []int64 {
	ids := make([]int64, len(p.Neighbors))
	for i, n := range p.Neighbors {
		ids[i] = n.ID
	}
	return ids
}

// pageState is what the page shows, read from its DOM.
type pageState struct {
	Species    string             `json:"species"`
	Status     string             `json:"status"`
	Tie        bool               `json:"tie"`
	Probs      map[string]float64 `json:"probs"`
	Neighbours []int64            `json:"neighbours"`
	Points     int                `json:"points"`
	Rings      int                `json:"rings"`
	Links      int                `json:"links"`
	Query      bool               `json:"query"`
	Meta       string             `json:"meta"`
	Editor     string             `json:"editor"`
	PageInfo   string             `json:"pageInfo"`
	Rows       []int64            `json:"rows"`
}

const readState = `(() => {
  const st = document.getElementById('status');
  return {
    species: document.getElementById('species').textContent,
    status: getComputedStyle(st).display === 'none' ? '' : st.textContent, // what a person sees
    tie: !document.getElementById('tie').hidden,
    probs: Object.fromEntries([...document.querySelectorAll('#probs .prob')].map((p) => [p.querySelector('.name').textContent, +p.dataset.value])),
    neighbours: [...document.querySelectorAll('#neighbours tbody tr')].map((r) => +r.cells[1].textContent.slice(1)),
    points: document.querySelectorAll('#plot .pt').length,
    rings: document.querySelectorAll('#plot .rings circle').length,
    links: document.querySelectorAll('#plot .links line').length,
    query: !!document.querySelector('#plot .query'),
    meta: document.getElementById('result-meta').textContent,
    editor: document.getElementById('editor-msg').textContent,
    pageInfo: document.getElementById('page-info').textContent,
    rows: [...document.querySelectorAll('#samples tbody tr')].map((r) => +r.dataset.id),
  };
})()`

func state(t *testing.T, ctx context.Context) pageState {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](readState))
	require.NoError(t, err)
	return s
}

// waitFor polls a JavaScript condition until it is true; on timeout it
// fails with what the page shows.
func waitFor(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](cond,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(45*time.Second)))
	if err != nil {
		s, _ := chromedp.Run(ctx, chromedp.Evaluate[pageState](readState))
		t.Fatalf("waiting for %s: %v\npage shows: %+v", what, err, s)
	}
}

// typeInto focuses the input with the id, selects its text and types
// text over it, as a person would.
func typeInto(t *testing.T, ctx context.Context, id, text string) {
	t.Helper()
	sel := fmt.Sprintf(`(() => { const e = document.getElementById(%q); e.focus(); e.select(); return true; })()`, id)
	require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](sel), chromedp.KeyEvent(text)), "typing into #%s", id)
}

// setMeasurements types the four measurements into the page's fields.
func setMeasurements(t *testing.T, ctx context.Context, f [4]float64) {
	t.Helper()
	for i, name := range []string{"sepal_length", "sepal_width", "petal_length", "petal_width"} {
		typeInto(t, ctx, name, fmt.Sprint(f[i]))
	}
}

// showsPrediction is a JavaScript condition: the page shows species with
// exactly these neighbour ids.
func showsPrediction(p prediction) string {
	ids, _ := json.Marshal(p.ids())
	return fmt.Sprintf(`document.getElementById('species').textContent === %q &&
		JSON.stringify([...document.querySelectorAll('#neighbours tbody tr')].map((r) => +r.cells[1].textContent.slice(1))) === %q`,
		p.Species, string(ids))
}

// screenshot saves a PNG of the viewport under the test's temp dir (and
// E2E_SCREENSHOT_DIR when set; docs/ with UPDATE_SCREENSHOTS=1 when
// docName is not empty) and checks its size.
func screenshot(t *testing.T, ctx context.Context, name, docName string, width, height int) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	cfg, err := png.DecodeConfig(bytes.NewReader(buf))
	require.NoError(t, err, "the screenshot is not a PNG")
	require.Equal(t, [2]int{width, height}, [2]int{cfg.Width, cfg.Height}, "screenshot size")
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, buf, 0o644))
	t.Logf("screenshot: %s", p)
	if dir := os.Getenv("E2E_SCREENSHOT_DIR"); dir != "" {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), buf, 0o644))
	}
	if docName != "" && os.Getenv("UPDATE_SCREENSHOTS") == "1" {
		p := filepath.Join("..", "..", "docs", docName)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, buf, 0o644))
		t.Logf("updated %s", p)
	}
}

// clickJS clicks the element that sel selects from the page's own script:
// for buttons in rows that the page redraws, where a query by node id can
// race with the redraw.
func clickJS(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).click()`, sel))
}
