package executor

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketq/ticketq/job"
)

// Ensure that a status that repeating cannot fix is permanent, with the
// status and the body's start in the message, even with a Retry-After.
func TestWebhook_Permanent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		wantMsg string
	}{
		{"404", reply(404, "no such hook\n"), "webhook returned 404 Not Found: no such hook"},
		{"422", reply(422, `{"error":"bad email"}`), `webhook returned 422 Unprocessable Entity: {"error":"bad email"}`},
		{"400 without body", reply(400, ""), "webhook returned 400 Bad Request"},
		{"404 with Retry-After", reply(404, "gone", "Retry-After", "5"), "webhook returned 404 Not Found: gone"},
		{"unknown status", reply(499, "?"), "webhook returned 499: ?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.handler)
			_, err := call(t, Webhook(srv.URL, WebhookOptions{}), context.Background(), testJob())
			perm, ok := errors.AsType[*job.PermanentError](err)
			if !ok {
				t.Fatalf("error = %v, want a *job.PermanentError", err)
			}
			if _, ok := errors.AsType[*job.RetryAfterError](err); ok {
				t.Errorf("permanent error carries a Retry-After: %v", err)
			}
			if perm.Err.Error() != tc.wantMsg {
				t.Errorf("message = %q, want %q", perm.Err, tc.wantMsg)
			}
		})
	}
}

// Ensure that a malformed URL is permanent and kept out of the message.
func TestWebhook_InvalidURL(t *testing.T) {
	_, err := call(t, Webhook("http://%zz/?token=s3cret", WebhookOptions{}), context.Background(), testJob())
	if _, ok := errors.AsType[*job.PermanentError](err); !ok {
		t.Fatalf("error = %v, want a *job.PermanentError", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error = %q, want it without the URL", err)
	}
}

// Ensure that 307 and 308 are followed with the payload, and that 301, 302
// and 303, which net/http would turn into a GET, are permanent instead.
func TestWebhook_Redirect(t *testing.T) {
	for _, tc := range []struct {
		status   int
		followed bool
	}{
		{301, false}, {302, false}, {303, false}, {307, true}, {308, true},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			var hits atomic.Int32
			mux := http.NewServeMux()
			mux.Handle("/old", reply(tc.status, "", "Location", "/new"))
			mux.HandleFunc("/new", func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				b, _ := io.ReadAll(r.Body)
				_, _ = w.Write(append([]byte(r.Method+" "), b...))
			})
			srv := newServer(t, mux.ServeHTTP)
			res, err := call(t, Webhook(srv.URL+"/old", WebhookOptions{}), context.Background(), testJob())
			if tc.followed {
				if want := "POST " + string(testJob().Payload); err != nil || string(res) != want {
					t.Errorf("got %q, %v; want %q", res, err, want)
				}
				return
			}
			if _, ok := errors.AsType[*job.PermanentError](err); !ok {
				t.Errorf("error = %v, want a *job.PermanentError", err)
			}
			if hits.Load() != 0 {
				t.Errorf("the redirect was followed %d times", hits.Load())
			}
		})
	}
}

// Ensure that 408, 429 and 5xx without a usable Retry-After are plain
// retryable errors naming the status.
func TestWebhook_Retryable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		wantMsg string
	}{
		{"500", reply(500, "db down"), "webhook returned 500 Internal Server Error: db down"},
		{"502", reply(502, ""), "webhook returned 502 Bad Gateway"},
		{"408", reply(408, ""), "webhook returned 408 Request Timeout"},
		{"429 without Retry-After", reply(429, ""), "webhook returned 429 Too Many Requests"},
		{"503 with a bad Retry-After", reply(503, "", "Retry-After", "soon"), "webhook returned 503 Service Unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.handler)
			_, err := call(t, Webhook(srv.URL, WebhookOptions{}), context.Background(), testJob())
			assertRetryable(t, err)
			if err.Error() != tc.wantMsg {
				t.Errorf("error = %q, want %q", err, tc.wantMsg)
			}
		})
	}
}

// Ensure that Retry-After on a retryable status sets the delay, in seconds
// or as an HTTP date.
func TestWebhook_RetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name        string
		status      int
		retryAfter  string
		least, most time.Duration
	}{
		{"429 seconds", 429, "7", 7 * time.Second, 7 * time.Second},
		{"503 date", 503, time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), time.Second, time.Hour},
		{"500 past date", 500, "Mon, 02 Jan 2006 15:04:05 GMT", 0, 0},
		{"503 huge", 503, "99999999999999999999999", job.MaxDelay, job.MaxDelay},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, reply(tc.status, "", "Retry-After", tc.retryAfter))
			_, err := call(t, Webhook(srv.URL, WebhookOptions{}), context.Background(), testJob())
			ra, ok := errors.AsType[*job.RetryAfterError](err)
			if !ok {
				t.Fatalf("error = %v, want a *job.RetryAfterError", err)
			}
			if ra.After < tc.least || ra.After > tc.most {
				t.Errorf("After = %s, want %s..%s", ra.After, tc.least, tc.most)
			}
			if _, ok := errors.AsType[*job.PermanentError](err); ok {
				t.Errorf("error is permanent: %v", err)
			}
		})
	}
}

// Ensure that Retry-After values parse as RFC 9110 says, relative to now.
func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{" 5 ", 5 * time.Second, true},
		{"31622400", job.MaxDelay, true},
		{"31622401", job.MaxDelay, true},
		{"18446744073709551616", job.MaxDelay, true},
		{"Wed, 02 Jan 2030 03:05:05 GMT", time.Minute, true},
		{"Wednesday, 02-Jan-30 03:04:15 GMT", 10 * time.Second, true},
		{"Tue, 01 Jan 2030 03:04:05 GMT", 0, true},
		{"Fri, 02 Jan 2032 03:04:05 GMT", job.MaxDelay, true},
		{"", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"5s", 0, false},
		{"tomorrow", 0, false},
	} {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
