package ui_test

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ticketq/ticketq/ui"
)

// get sends one request to h and returns the recorded answer.
func get(h http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// checkStrictHeaders fails unless an answer carries the dashboard's
// security headers.
func checkStrictHeaders(t *testing.T, what string, w *httptest.ResponseRecorder) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": ui.ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
	}
	for k, v := range want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
}

// Ensure that every embedded file is served under /ui/ with its own bytes,
// an explicit content type, the strict headers and a validator.
func TestHandler_ServesEveryFile(t *testing.T) {
	h := ui.Handler()
	n := 0
	err := filepath.WalkDir("static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		want, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(filepath.ToSlash(p), "static/")
		w := get(h, http.MethodGet, "/ui/"+name, nil)
		if w.Code != http.StatusOK {
			t.Errorf("GET /ui/%s = %d, want 200", name, w.Code)
			return nil
		}
		if w.Body.String() != string(want) {
			t.Errorf("GET /ui/%s: the body differs from static/%s", name, name)
		}
		if ct := w.Header().Get("Content-Type"); ct == "" || strings.HasPrefix(ct, "application/octet-stream") {
			t.Errorf("GET /ui/%s: Content-Type %q: give the extension a type in contentTypes", name, ct)
		}
		if w.Header().Get("ETag") == "" || w.Header().Get("Cache-Control") != "no-cache" {
			t.Errorf("GET /ui/%s: ETag %q, Cache-Control %q, want an ETag and no-cache", name, w.Header().Get("ETag"), w.Header().Get("Cache-Control"))
		}
		checkStrictHeaders(t, "GET /ui/"+name, w)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 4 {
		t.Fatalf("found %d files in static/, want at least index.html, app.js, style.css and favicon.svg", n)
	}
}

// Ensure that /ui/ is the page, that scripts are served as JavaScript (a
// module script of another type is refused under nosniff), and that HEAD
// and a matching If-None-Match work.
func TestHandler_PageAndTypes(t *testing.T) {
	h := ui.Handler()
	index, err := os.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	w := get(h, http.MethodGet, "/ui/", nil)
	if w.Code != http.StatusOK || w.Body.String() != string(index) {
		t.Fatalf("GET /ui/ = %d, body %d bytes; want 200 and index.html (%d bytes)", w.Code, w.Body.Len(), len(index))
	}
	for path, want := range map[string]string{
		"/ui/":            "text/html; charset=utf-8",
		"/ui/app.js":      "text/javascript; charset=utf-8",
		"/ui/dom.js":      "text/javascript; charset=utf-8",
		"/ui/style.css":   "text/css; charset=utf-8",
		"/ui/favicon.svg": "image/svg+xml",
	} {
		if got := get(h, http.MethodGet, path, nil).Header().Get("Content-Type"); got != want {
			t.Errorf("GET %s: Content-Type %q, want %q", path, got, want)
		}
	}

	head := get(h, http.MethodHead, "/ui/app.js", nil)
	if head.Code != http.StatusOK || head.Body.Len() != 0 || head.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD /ui/app.js = %d with %d body bytes, Content-Length %q; want 200, no body, a length", head.Code, head.Body.Len(), head.Header().Get("Content-Length"))
	}

	etag := w.Header().Get("ETag")
	again := get(h, http.MethodGet, "/ui/", http.Header{"If-None-Match": {etag}})
	if again.Code != http.StatusNotModified {
		t.Errorf("GET /ui/ with If-None-Match %s = %d, want 304", etag, again.Code)
	}
	other := get(h, http.MethodGet, "/ui/app.js", nil).Header().Get("ETag")
	if other == etag {
		t.Errorf("index.html and app.js have the same ETag %s", etag)
	}
}

// Ensure that /ui redirects to /ui/ with a relative Location, so that the
// redirect also holds when the dashboard is mounted behind a prefix.
func TestHandler_Redirect(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.Handler
		target  string
		want    string
	}{
		{"Root", ui.Handler(), "/ui", "/ui/"},
		{"BehindPrefix", http.StripPrefix("/admin", ui.Handler()), "/admin/ui", "/admin/ui/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := get(tc.handler, http.MethodGet, tc.target, nil)
			if w.Code != http.StatusMovedPermanently {
				t.Fatalf("GET %s = %d, want 301", tc.target, w.Code)
			}
			loc, err := url.Parse(w.Header().Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			base, _ := url.Parse("http://127.0.0.1" + tc.target)
			if got := base.ResolveReference(loc).Path; got != tc.want {
				t.Errorf("GET %s redirects to %s, want %s", tc.target, got, tc.want)
			}
		})
	}
}

// Ensure that paths outside the embedded files are 404, that no path
// reaches beyond them (the names are looked up in a table, never on a file
// system), and that other methods are 405; all with the strict headers.
func TestHandler_Refusals(t *testing.T) {
	h := ui.Handler()
	for _, tc := range []struct {
		method, target string
		want           int
	}{
		{http.MethodGet, "/ui/missing.js", http.StatusNotFound},
		{http.MethodGet, "/ui/static/app.js", http.StatusNotFound},
		{http.MethodGet, "/ui/../go.mod", http.StatusNotFound},
		{http.MethodGet, "/ui/%2e%2e/ui.go", http.StatusNotFound},
		{http.MethodGet, "/ui//app.js", http.StatusNotFound},
		{http.MethodGet, "/uix", http.StatusNotFound},
		{http.MethodGet, "/", http.StatusNotFound},
		{http.MethodPost, "/ui/", http.StatusMethodNotAllowed},
		{http.MethodPut, "/ui/app.js", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/ui/", http.StatusMethodNotAllowed},
	} {
		w := get(h, tc.method, tc.target, nil)
		if w.Code != tc.want {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.target, w.Code, tc.want)
		}
		if tc.want == http.StatusMethodNotAllowed && w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q, want \"GET, HEAD\"", tc.method, tc.target, w.Header().Get("Allow"))
		}
		checkStrictHeaders(t, tc.method+" "+tc.target, w)
	}
}

// Ensure that Mount sends /ui and /ui/… to the dashboard and every other
// request to the API unchanged: no path cleaning, no redirect, so the API
// answers non-canonical paths as it always did.
func TestMount(t *testing.T) {
	var reached []string
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = append(reached, r.Method+" "+r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
	})
	h := ui.Mount(api)
	for _, tc := range []struct {
		method, target string
		api            bool
		want           int
	}{
		{http.MethodGet, "/ui/", false, http.StatusOK},
		{http.MethodGet, "/ui/app.js", false, http.StatusOK},
		{http.MethodGet, "/ui", false, http.StatusMovedPermanently},
		{http.MethodGet, "/ui/../v1/queues", false, http.StatusNotFound},
		{http.MethodGet, "/v1/queues", true, http.StatusTeapot},
		{http.MethodPost, "/v1/queues/emails/jobs", true, http.StatusTeapot},
		{http.MethodGet, "/v1//queues", true, http.StatusTeapot},
		{http.MethodGet, "/v1/queues/../jobs/1", true, http.StatusTeapot},
		{http.MethodGet, "/healthz", true, http.StatusTeapot},
		{http.MethodGet, "/uix", true, http.StatusTeapot},
		{http.MethodGet, "/", true, http.StatusTeapot},
	} {
		reached = nil
		w := get(h, tc.method, tc.target, nil)
		if w.Code != tc.want {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.target, w.Code, tc.want)
		}
		wantReached := 0
		if tc.api {
			wantReached = 1
		}
		if len(reached) != wantReached {
			t.Errorf("%s %s reached the API %d times, want %d", tc.method, tc.target, len(reached), wantReached)
		} else if tc.api && reached[0] != tc.method+" "+tc.target {
			t.Errorf("%s %s reached the API as %s", tc.method, tc.target, reached[0])
		}
	}
}

// Ensure that the page holds no inline code, which the Content-Security-
// Policy would block in the browser, loads nothing from other hosts, and
// never hands text to an HTML parser: payloads are attacker-controlled and
// must reach the page through textContent only.
func TestStatic_NoInlineCodeNoHTMLSinks(t *testing.T) {
	files, err := filepath.Glob("static/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no static files (%v)", err)
	}
	html, err := os.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	page := string(html)
	scripts := regexp.MustCompile(`(?is)<script([^>]*)>(.*?)</script>`).FindAllStringSubmatch(page, -1)
	if len(scripts) == 0 {
		t.Error("index.html loads no script")
	}
	for _, m := range scripts {
		if !strings.Contains(m[1], `src="`) || strings.TrimSpace(m[2]) != "" {
			t.Errorf("index.html has an inline script: %s", m[0])
		}
	}
	for _, bad := range []struct{ re, what string }{
		{`(?i)\son[a-z]+\s*=`, "an inline event handler"},
		{`(?i)\sstyle\s*=`, "a style attribute"},
		{`(?i)<style`, "a style element"},
		{`(?i)javascript:`, "a javascript: URL"},
	} {
		if m := regexp.MustCompile(bad.re).FindString(page); m != "" {
			t.Errorf("index.html has %s: %q", bad.what, m)
		}
	}

	sinks := regexp.MustCompile(`\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\(\s*['"]on|createContextualFragment|DOMParser`)
	remote := regexp.MustCompile(`(?i)(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		if strings.HasSuffix(f, ".js") {
			if m := sinks.FindString(src); m != "" {
				t.Errorf("%s uses %s: build nodes and set textContent instead", f, m)
			}
		}
		for _, m := range remote.FindAllString(src, -1) {
			// The SVG namespace is a name, never fetched.
			if m != "http://www.w3.org" {
				t.Errorf("%s refers to another host: %s (the dashboard loads nothing from elsewhere)", f, m)
			}
		}
	}
}
