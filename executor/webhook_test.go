package executor

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Ensure that a 2xx is success and its body the result.
func TestWebhook_Success(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
	}{
		{"200 with body", 200, `{"sent":true}`},
		{"201", 201, "created"},
		{"204 without body", 204, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, reply(tc.status, tc.body))
			res, err := call(t, Webhook(srv.URL, WebhookOptions{}), context.Background(), testJob())
			if err != nil {
				t.Fatal(err)
			}
			if string(res) != tc.body {
				t.Errorf("result = %q, want %q", res, tc.body)
			}
		})
	}
}

// Ensure that the request carries the payload and the job's headers, that
// static headers are added, and that they cannot fake the job's headers.
func TestWebhook_Headers(t *testing.T) {
	for _, tc := range []struct{ name, key string }{
		{"with idempotency key", "key-1"},
		{"without idempotency key", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Copy what the test checks: a Request must not be used after its
			// handler returns.
			type seen struct {
				method, host, path, body string
				header                   http.Header
			}
			got := make(chan seen, 1)
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got <- seen{r.Method, r.Host, r.URL.Path, string(b), r.Header.Clone()}
			})
			opts := WebhookOptions{Header: http.Header{
				"authorization":    {"Bearer s3cret"}, // not canonical on purpose
				"host":             {"hooks.example"},
				"X-Ticketq-Ticket": {"forged"},
				"Idempotency-Key":  {"forged"},
			}}
			j := testJob()
			j.IdempotencyKey = tc.key
			if _, err := call(t, Webhook(srv.URL+"/hook", opts), context.Background(), j); err != nil {
				t.Fatal(err)
			}
			r := <-got
			if r.method != http.MethodPost || r.path != "/hook" || r.host != "hooks.example" {
				t.Errorf("request = %s %s%s, want POST hooks.example/hook", r.method, r.host, r.path)
			}
			if r.body != string(j.Payload) {
				t.Errorf("body = %q, want the payload %q", r.body, j.Payload)
			}
			for name, want := range map[string]string{
				"Content-Type":      "application/json",
				"User-Agent":        "ticketq",
				"Authorization":     "Bearer s3cret",
				"X-Ticketq-Ticket":  "42",
				"X-Ticketq-Queue":   "emails",
				"X-Ticketq-Attempt": "3",
			} {
				if v := r.header.Values(name); len(v) != 1 || v[0] != want {
					t.Errorf("%s = %q, want [%q]", name, v, want)
				}
			}
			if v := r.header.Values("Idempotency-Key"); tc.key == "" && len(v) != 0 || tc.key != "" && (len(v) != 1 || v[0] != tc.key) {
				t.Errorf("Idempotency-Key = %q, want the job's key %q only", v, tc.key)
			}
		})
	}
}

// Ensure that a body over MaxBody is cut to exactly MaxBody, still success.
func TestWebhook_Truncate(t *testing.T) {
	for _, tc := range []struct {
		name            string
		size, max, want int
	}{
		{"over the limit", 10000, 1000, 1000},
		{"at the limit", 1000, 1000, 1000},
		{"default limit", 100 << 10, 0, DefaultMaxBody},
		{"beyond the drain limit", 2 << 20, 0, DefaultMaxBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, reply(200, strings.Repeat("x", tc.size)))
			res, err := call(t, Webhook(srv.URL, WebhookOptions{MaxBody: tc.max}), context.Background(), testJob())
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != tc.want {
				t.Errorf("result is %d bytes, want %d", len(res), tc.want)
			}
		})
	}
}

// Ensure that an error body is cut to 512 bytes and stripped of control
// characters before it reaches the message.
func TestWebhook_Snippet(t *testing.T) {
	const head = "line1\nline2\x1b[31m\x00 "
	srv := newServer(t, reply(500, head+strings.Repeat("y", 2000)))
	_, err := call(t, Webhook(srv.URL, WebhookOptions{}), context.Background(), testJob())
	// The first 512 bytes of the body: the newline flattened, ESC and NUL
	// dropped, and "…" to show that the body went on.
	want := "webhook returned 500 Internal Server Error: line1 line2[31m " +
		strings.Repeat("y", 512-len(head)) + "…"
	if err == nil || err.Error() != want {
		t.Errorf("error = %q\nwant      %q", err, want)
	}
}

// Ensure that a refused connection is retryable and does not leak the URL.
func TestWebhook_ConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(reply(200, ""))
	url := srv.URL + "/hook?token=s3cret"
	srv.Close()
	_, err := call(t, Webhook(url, WebhookOptions{}), context.Background(), testJob())
	assertRetryable(t, err)
	if !strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error = %q, want connection refused without the URL", err)
	}
}

// Ensure that a cancel or a timeout aborts a request the server sits on,
// promptly, with an error wrapping the context's cause.
func TestWebhook_Cancel(t *testing.T) {
	for _, name := range []string{"cancel", "timeout"} {
		t.Run(name, func(t *testing.T) {
			arrived := make(chan struct{}, 1)
			release := make(chan struct{})
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				arrived <- struct{}{}
				<-release
			})
			t.Cleanup(func() { close(release) }) // runs before srv.Close

			errStop := errors.New("stopped by the test")
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			if name == "timeout" {
				var stop context.CancelFunc
				ctx, stop = context.WithTimeoutCause(ctx, 100*time.Millisecond, errStop)
				defer stop()
			}
			done := make(chan error, 1)
			go func() {
				_, err := Webhook(srv.URL, WebhookOptions{})(ctx, testJob())
				done <- err
			}()
			<-arrived
			if name == "cancel" {
				cancel(errStop)
			}
			select {
			case err := <-done:
				if !errors.Is(err, errStop) {
					t.Errorf("error = %v, want it to wrap the cause %v", err, errStop)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("handler still running 10s after the context ended")
			}
		})
	}
}

// Ensure that responses are drained and closed so that one connection
// serves every attempt, whatever the outcome.
func TestWebhook_ConnectionReuse(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			_, _ = io.WriteString(w, strings.Repeat("x", 100<<10)) // more than MaxBody
		case "/fail":
			w.WriteHeader(500)
			_, _ = io.WriteString(w, strings.Repeat("e", 10<<10)) // more than the snippet
		default:
			w.WriteHeader(404)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	client := &http.Client{Transport: &http.Transport{}}
	for _, path := range []string{"/big", "/fail", "/missing", "/big"} {
		_, _ = call(t, Webhook(srv.URL+path, WebhookOptions{Client: client, MaxBody: 1000}), context.Background(), testJob())
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 4 sequential requests, want 1", n)
	}
}
