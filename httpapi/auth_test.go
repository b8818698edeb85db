package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/ticketq/ticketq/httpapi"
)

// Secrets of the test tokens, one per role.
const (
	submitSecret = "submit-secret-0123456789"
	workSecret   = "work-secret-0123456789ab"
	adminSecret  = "admin-secret-0123456789a"
)

var testTokens = []httpapi.Token{
	{Name: "ci", Role: httpapi.RoleSubmit, Secret: submitSecret},
	{Name: "runner", Role: httpapi.RoleWork, Secret: workSecret},
	{Name: "ops", Role: httpapi.RoleAdmin, Secret: adminSecret},
}

// setupAuth serves a real queue with the test tokens and opts.
func setupAuth(t *testing.T, opts httpapi.Options) *testBundle {
	t.Helper()
	q := openQueue(t, nil)
	opts.Tokens = testTokens
	return serve(t, q, httpapi.New(q, opts))
}

// bearer returns the headers of a request with secret (none when empty).
func bearer(secret string, body bool) map[string]string {
	h := map[string]string{}
	if secret != "" {
		h["Authorization"] = "Bearer " + secret
	}
	if body {
		h["Content-Type"] = "application/json"
	}
	return h
}

// Ensure that every route answers 401 without a valid token, 403 to a token
// whose role may not use it, and serves the roles that may; and that a
// refused request changes nothing.
func TestAuth_RoutesByRole(t *testing.T) {
	tb := setupAuth(t, httpapi.Options{})
	const lease = `{"lease":"0000000000000000"}`
	routes := []struct {
		method, path, body string
		submit, work       bool // admin may use every route
	}{
		{"POST", "/v1/queues/q/jobs", `{"payload":1}`, true, false},
		{"GET", "/v1/jobs/1", "", true, true},
		{"HEAD", "/v1/jobs/1", "", true, true},
		{"POST", "/v1/queues/q/leases", `{"max":1}`, false, true},
		{"POST", "/v1/jobs/1/ack", lease, false, true},
		{"POST", "/v1/jobs/1/nack", lease, false, true},
		{"POST", "/v1/jobs/1/extend", lease, false, true},
		{"POST", "/v1/jobs/1/progress", `{"lease":"0000000000000000","progress":5}`, false, true},
		{"POST", "/v1/jobs/1/release", lease, false, true},
		{"GET", "/v1/queues", "", false, false},
		{"HEAD", "/v1/queues", "", false, false},
		{"GET", "/v1/queues/q", "", false, false},
		{"PATCH", "/v1/queues/q", `{"workers":2}`, false, false},
		{"GET", "/v1/queues/q/jobs", "", false, false},
		{"POST", "/v1/queues/q/pause", "", false, false},
		{"POST", "/v1/queues/q/resume", "", false, false},
		{"DELETE", "/v1/jobs/1", "", true, false},
		{"POST", "/v1/jobs/1/retry", "", false, false},
	}
	callers := []struct {
		name, secret string
		allowed      func(submit, work bool) bool
		denied       int
	}{
		{"None", "", nil, http.StatusUnauthorized},
		{"Unknown", "not-a-token-0123456789", nil, http.StatusUnauthorized},
		{"Submit", submitSecret, func(s, _ bool) bool { return s }, http.StatusForbidden},
		{"Work", workSecret, func(_, w bool) bool { return w }, http.StatusForbidden},
		{"Admin", adminSecret, func(bool, bool) bool { return true }, 0},
	}
	for _, rt := range routes {
		for _, c := range callers {
			// Ensure that this caller is served or refused on this route.
			t.Run(rt.method+rt.path+"/"+c.name, func(t *testing.T) {
				before := tb.snapshot(t)
				r := tb.request(t, context.Background(), rt.method, rt.path, rt.body, bearer(c.secret, rt.body != ""))
				if c.allowed != nil && c.allowed(rt.submit, rt.work) {
					if r.status == http.StatusUnauthorized || r.status == http.StatusForbidden {
						t.Fatalf("%s refused: %d %s", c.name, r.status, r.body)
					}
					return
				}
				switch {
				case rt.method == http.MethodHead:
					// No body to read a code from: the status says it.
					if r.status != c.denied || len(r.body) != 0 {
						t.Fatalf("HEAD answered %d with %d bytes, want %d without a body", r.status, len(r.body), c.denied)
					}
				case c.denied == http.StatusUnauthorized:
					r.expectError(t, http.StatusUnauthorized, "unauthorized")
					if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
						t.Fatalf("WWW-Authenticate = %q", got)
					}
				default:
					msg := r.expectError(t, http.StatusForbidden, "forbidden")
					if !strings.Contains(msg, "role") {
						t.Fatalf("403 message %q does not name the roles", msg)
					}
				}
				if after := tb.snapshot(t); after != before {
					t.Fatalf("a refused request changed the store:\nbefore %s\nafter  %s", before, after)
				}
			})
		}
	}
}

// Ensure that malformed credentials are 401 and that the scheme is matched
// without regard to case.
func TestAuth_Credentials(t *testing.T) {
	tb := setupAuth(t, httpapi.Options{})
	for _, c := range []struct {
		name   string
		values []string
		status int
	}{
		{"Missing", nil, http.StatusUnauthorized},
		{"EmptySecret", []string{"Bearer "}, http.StatusUnauthorized},
		{"NoSecret", []string{"Bearer"}, http.StatusUnauthorized},
		{"Basic", []string{"Basic " + adminSecret}, http.StatusUnauthorized},
		{"SecretAlone", []string{adminSecret}, http.StatusUnauthorized},
		{"PrefixOfSecret", []string{"Bearer " + adminSecret[:20]}, http.StatusUnauthorized},
		{"TwoHeaders", []string{"Bearer " + adminSecret, "Bearer " + adminSecret}, http.StatusUnauthorized},
		{"LowerCaseScheme", []string{"bearer " + adminSecret}, http.StatusOK},
		{"ExtraSpaces", []string{"Bearer   " + adminSecret + " "}, http.StatusOK},
	} {
		// Ensure that these credentials get this answer.
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, tb.srv.URL+"/v1/queues", nil)
			must(t, err)
			for _, v := range c.values {
				req.Header.Add("Authorization", v)
			}
			res, err := tb.srv.Client().Do(req)
			must(t, err)
			res.Body.Close()
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d", res.StatusCode, c.status)
			}
		})
	}
}

// Ensure that the probes are open by default, that OpenPaths can close
// them or open another path, and that a path no route takes answers 401
// without a token and 404 with any valid one.
func TestAuth_OpenPaths(t *testing.T) {
	get := func(tb *testBundle, path, secret string) int {
		return tb.request(t, context.Background(), http.MethodGet, path, "", bearer(secret, false)).status
	}
	def := setupAuth(t, httpapi.Options{})
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 401, "/v1/nope": 401} {
		if got := get(def, path, ""); got != want {
			t.Errorf("default: GET %s without a token = %d, want %d", path, got, want)
		}
	}
	if got := get(def, "/healthz", "wrong-secret-0123456789"); got != 200 {
		t.Errorf("an open path with a wrong token = %d, want 200", got)
	}
	for _, secret := range []string{submitSecret, workSecret, adminSecret} {
		if got := get(def, "/v1/nope", secret); got != 404 {
			t.Errorf("an unknown route with a valid token = %d, want 404", got)
		}
	}
	closed := setupAuth(t, httpapi.Options{OpenPaths: []string{}})
	if got := get(closed, "/healthz", ""); got != 401 {
		t.Errorf("OpenPaths{}: /healthz without a token = %d, want 401", got)
	}
	if got := get(closed, "/healthz", workSecret); got != 200 {
		t.Errorf("OpenPaths{}: /healthz with a token = %d, want 200", got)
	}
	metrics := setupAuth(t, httpapi.Options{OpenPaths: []string{"/healthz", "/metrics"}})
	for path, want := range map[string]int{"/healthz": 200, "/metrics": 404, "/readyz": 401} {
		if got := get(metrics, path, ""); got != want {
			t.Errorf("OpenPaths{/healthz,/metrics}: GET %s = %d, want %d", path, got, want)
		}
	}
}

// Ensure that the access log names the token of each request and never
// holds a secret, whether the request was served or refused.
func TestAuth_AccessLogHasNoSecrets(t *testing.T) {
	logs := &syncBuffer{}
	tb := setupAuth(t, httpapi.Options{Logger: zerolog.New(logs)})
	wrong := "wrong-secret-0123456789"
	requests := []struct {
		secret, path, name string
		status             int
	}{
		{submitSecret, "/v1/queues/q/jobs", "ci", 202},
		{workSecret, "/v1/queues/q/jobs", "runner", 403},
		{adminSecret, "/v1/queues", "ops", 200},
		{wrong, "/v1/queues", "", 401},
	}
	for _, rq := range requests {
		method, body := http.MethodGet, ""
		if strings.HasSuffix(rq.path, "/jobs") {
			method, body = http.MethodPost, `{"payload":"x"}`
		}
		r := tb.request(t, context.Background(), method, rq.path, body, bearer(rq.secret, body != ""))
		if r.status != rq.status {
			t.Fatalf("%s %s as %q: %d %s", method, rq.path, rq.name, r.status, r.body)
		}
		id := r.header.Get("X-Request-Id")
		var line map[string]any
		for _, l := range logs.lines(t) {
			if l["request_id"] == id && l["message"] == "request" {
				line = l
			}
		}
		if line == nil {
			t.Fatalf("no access line for %s", id)
		}
		if got, _ := line["token_name"].(string); got != rq.name {
			t.Fatalf("access line token_name = %q, want %q: %v", got, rq.name, line)
		}
	}
	all := logs.buf.String()
	for _, secret := range []string{submitSecret, workSecret, adminSecret, wrong} {
		if strings.Contains(all, secret) {
			t.Fatalf("the log holds a secret:\n%s", all)
		}
	}
}
