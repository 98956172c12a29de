// Package e2e holds the end-to-end tests of the browser frontend: a real
// headless Chromium, driven with chromedp, loads the page from one origin
// and talks through CORS to a real irisd on another port.
//
// The tests need Chromium (Debian's package chromium). Without it they skip
// with a message, except when the environment variable CI is set: then a
// missing browser fails the run. Run them with `make e2e`; set
// UPDATE_SCREENSHOTS=1 to rewrite docs/screenshot.png and
// docs/screenshot-phone.png, and E2E_SCREENSHOT_DIR to keep a copy of every
// screenshot the tests take.
package e2e
