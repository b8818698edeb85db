// Package ui is the live web dashboard of a ticketq server: plain HTML, CSS
// and JavaScript embedded in the binary, served at /ui/. The page reads and
// changes the queue only through the JSON API (it polls GET /v1/queues every
// two seconds), so it sees exactly what any other client sees and needs no
// server state of its own.
//
// The files hold no data, so they are served without a token even when the
// API requires one; the page asks for a token and sends it with each API
// call. Every answer carries a strict Content-Security-Policy: scripts and
// styles only from the same origin (no inline code), no plugins, no framing,
// and Trusted Types, which makes the browser refuse to parse strings as
// HTML, so that a hostile payload is always shown as text.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// Prefix is the path the dashboard is served under.
const Prefix = "/ui/"

// ContentSecurityPolicy is sent with every file of the dashboard. Beyond
// default-src 'self' it names each fetch directive whose absence would fall
// back to something looser (form-action and frame-ancestors do not inherit
// default-src), and turns on Trusted Types so that the browser itself
// refuses innerHTML and its relatives.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// contentTypes are set explicitly, not guessed from the system's MIME
// table, which differs between machines: a module script must be served as
// JavaScript or the browser refuses it (nosniff).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// file is one embedded file, ready to serve.
type file struct {
	name, contentType, etag string
	body                    []byte
}

// Handler returns the handler of the dashboard's files. It answers the
// paths /ui (redirected to /ui/), /ui/ (the page) and /ui/NAME (its
// scripts, styles and icon); anything else is 404. The page calls the API
// at ../v1/, relative to itself, so mount Handler at /ui/ beside the API's
// /v1/ (Mount does); behind http.StripPrefix both move together.
func Handler() http.Handler {
	files := map[string]file{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		sum := sha256.Sum256(body)
		files[name] = file{
			name:        name,
			contentType: contentTypes[path.Ext(name)],
			etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
			body:        body,
		}
		return nil
	})
	if err != nil {
		// The files are compiled in: only a broken build gets here.
		panic("ui: read embedded files: " + err.Error())
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serveFile(files, w, r)
	})
}

func serveFile(files map[string]file, w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed: the dashboard's files take GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if p == strings.TrimSuffix(Prefix, "/") {
		// Relative, so that the redirect also works when the dashboard is
		// mounted behind a prefix that http.StripPrefix removed.
		h.Set("Location", "ui/")
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	name, ok := strings.CutPrefix(p, Prefix)
	if name == "" {
		name = "index.html"
	}
	f, found := files[name]
	if !ok || !found {
		http.Error(w, "404 page not found: the dashboard is at /ui/", http.StatusNotFound)
		return
	}
	h.Set("Content-Type", f.contentType)
	h.Set("ETag", f.etag)
	// Revalidate every time (a 304 is cheap): a new binary's files must
	// never meet an old cached copy of another file.
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
}

// Mount returns a handler that serves the dashboard under /ui/ and passes
// every other request to api, untouched. The dashboard sits outside the API
// so that its files need no token when the API requires one (they hold no
// data), without opening any path of the API itself.
//
// It matches the prefix itself rather than through an http.ServeMux, whose
// cleaning of paths would answer a non-canonical API path with a redirect
// that the API deliberately never sends.
func Mount(api http.Handler) http.Handler {
	files := Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == strings.TrimSuffix(Prefix, "/") || strings.HasPrefix(p, Prefix) {
			files.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}
