package ticketq_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's Chromium, which .ci/run installs. chromedp
// drives it over the DevTools protocol on a pipe: no WebDriver server and
// no browser download.
const chromiumPath = "/usr/bin/chromium"

// stepTimeout bounds one browser step (a click, a wait for the page).
const stepTimeout = 30 * time.Second

// browser is one headless Chromium with one tab, owned by one test; as
// gives a subtest its own handle on the same tab.
type browser struct {
	t   *testing.T
	tab context.Context
	*browserState
}

type browserState struct {
	shots string // where screenshots go

	mu       sync.Mutex
	problems []string // exceptions and console errors of the page
	shot     int
}

// as returns the browser for use by a subtest, whose failures must stop
// the subtest and not its parent.
func (b *browser) as(t *testing.T) *browser {
	return &browser{t: t, tab: b.tab, browserState: b.browserState}
}

// requireChromium fails the test, never skips it, when Chromium is missing:
// CI installs it, and a skipped browser test would hide a broken page.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the dashboard tests drive headless Chromium at %s, and it is not there (%v): install it with `apt-get update && apt-get install -y chromium` (CI's .ci/run does)", chromiumPath, err)
	}
}

// newBrowser starts Chromium with a fresh profile and a viewport of the
// given size. It fails (never skips) when Chromium is missing. The browser
// is closed, and its profile removed, when the test ends.
func newBrowser(t *testing.T, width, height int64) *browser {
	t.Helper()
	requireChromium(t)
	profile := t.TempDir()
	// life bounds the whole browser, its start included: a hung browser
	// ends the test instead of the test run.
	life, stop := context.WithTimeout(context.Background(), 5*time.Minute)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(int(width), int(height)),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(life, opts...)
	tab, cancelTab := chromedp.NewContext(alloc)
	b := &browser{t: t, tab: tab, browserState: &browserState{shots: artifactsDir(t)}}

	// Subscribing starts the browser; every message the page writes from
	// then on is read here.
	console := chromedp.Console(tab)
	read := make(chan struct{})
	go func() {
		defer close(read)
		for m, err := range console {
			if err != nil {
				return
			}
			b.note(m)
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			b.screenshot("failure")
		}
		// A graceful close, bounded: the profile must be free before it
		// is removed.
		cctx, cancel := context.WithTimeout(tab, 20*time.Second)
		if err := chromedp.Cancel(cctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("close the browser: %v", err)
		}
		cancel()
		cancelTab()
		cancelAlloc()
		stop()
		<-read
		removeProfile(t, profile)
	})
	b.do("set the viewport", chromedp.EmulateViewport(width, height))
	return b
}

// removeProfile removes Chromium's profile. Its helper processes can still
// write there for a moment after the browser exits, so the removal is
// retried until it succeeds or a deadline passes.
func removeProfile(t *testing.T, dir string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := os.RemoveAll(dir)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("remove the browser profile: %v", err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// note keeps what would be a defect of the page: an exception, a console
// error, or a message of the browser itself (a Content-Security-Policy
// violation is one). Failed requests are not: the tests provoke 401, 403
// and 404 on purpose, and check how the page shows them.
func (b *browser) note(m chromedp.ConsoleMessage) {
	problem := m.IsException() ||
		(m.Source == "" && (m.Type == "error" || m.Type == "warning" || m.Type == "assert")) ||
		(m.Source != "" && m.Source != "network" && (m.Type == "error" || m.Type == "warning"))
	if problem {
		b.mu.Lock()
		b.problems = append(b.problems, fmt.Sprintf("%s %s: %s (%s:%d)", m.Source, m.Type, m.Text, m.URL, m.Line))
		b.mu.Unlock()
	}
}

// checkConsole fails the test if the page threw or logged an error.
func (b *browser) checkConsole() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("the page reported: %s", p)
	}
}

// do runs browser steps, bounded by stepTimeout, and fails the test with
// what the page shows when one fails.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v\n%s", what, err, b.pageState())
	}
}

// await waits until the JavaScript expression is true in the page.
func (b *browser) await(what, expr string) {
	b.t.Helper()
	b.do("wait until "+what, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(stepTimeout)))
}

// awaitText waits until the expression's text equals want, and reports the
// last text seen when it never does.
func (b *browser) awaitText(what, expr, want string) {
	b.t.Helper()
	w, _ := json.Marshal(want)
	ctx, cancel := context.WithTimeout(b.tab, stepTimeout)
	defer cancel()
	poll := chromedp.Poll[chromedp.Void](fmt.Sprintf("String(%s) === %s", expr, w),
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(stepTimeout))
	if err := chromedp.Do(ctx, poll); err != nil {
		got := evalJS[string](b, fmt.Sprintf("String(%s)", expr))
		b.t.Fatalf("%s: got %q, want %q (%v)\n%s", what, clipText(got), clipText(want), err, b.pageState())
	}
}

// evalJS evaluates a JavaScript expression in the page and decodes its value.
func evalJS[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", clipText(expr), err)
	}
	return v
}

// clear empties an input field.
func (b *browser) clear(id string) {
	b.t.Helper()
	sel, _ := json.Marshal(id)
	evalJS[string](b, fmt.Sprintf("document.getElementById(%s).value = ''", sel))
}

// text returns the text of the first element that matches a CSS selector.
func (b *browser) text(selector string) string {
	b.t.Helper()
	sel, _ := json.Marshal(selector)
	return evalJS[string](b, fmt.Sprintf("(document.querySelector(%s) || {textContent: '(no element)'}).textContent", sel))
}

// pageState is what the page shows at a failure: its location, banner,
// flash, and the start of its text.
func (b *browser) pageState() string {
	ctx, cancel := context.WithTimeout(b.tab, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[location.href,
		'banner: ' + (document.getElementById('banner') || {}).textContent,
		'flash: ' + (document.getElementById('flash') || {}).textContent,
		(document.body ? document.body.innerText : '').slice(0, 1500)].join('\n')`))
	if err != nil {
		return fmt.Sprintf("(the page could not be read: %v)", err)
	}
	return s
}

// screenshot saves a full-page PNG in the test's artifacts folder.
func (b *browser) screenshot(name string) string {
	b.mu.Lock()
	b.shot++
	path := filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.shot, name))
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(b.tab, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	b.t.Logf("screenshot: %s", path)
	return path
}

// artifactsDir is the test's folder of artifacts: under $TICKETQ_ARTIFACTS,
// or artifacts/ at the repository root, emptied of an earlier run's files.
func artifactsDir(t *testing.T) string {
	root := os.Getenv("TICKETQ_ARTIFACTS")
	if root == "" {
		root = "artifacts"
	}
	dir := filepath.Join(root, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func clipText(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// apiCall makes one request to the API, with a bearer token unless token
// is empty, decodes a JSON answer into out and returns the status.
func apiCall(t *testing.T, base, token, method, path, body string, out any) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, clipText(string(b)), err)
		}
	}
	return resp.StatusCode
}

// prettyJSON is how the page shows a JSON value: JSON.stringify(v, null, 2).
func prettyJSON(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}
