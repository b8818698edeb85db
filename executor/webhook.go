package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ticketq/ticketq/job"
)

// DefaultMaxBody is the default for WebhookOptions.MaxBody.
const DefaultMaxBody = 64 << 10

const (
	// snippetLen bounds how much of an error response's body goes into the
	// error message: enough to show a server's reason, not enough to flood
	// the job's error history.
	snippetLen = 512
	// drainLimit bounds how much of a response is read only so that the
	// connection can be reused. A longer body costs a new connection, which
	// is cheaper than reading megabytes nobody keeps.
	drainLimit = 256 << 10
)

// WebhookOptions configures Webhook. The zero value is ready to use.
type WebhookOptions struct {
	// Client sends the requests. It should have no Timeout: the handler's
	// context bounds each attempt. Defaults to a client with a clone of
	// http.DefaultTransport that follows only 307 and 308 redirects (see
	// Webhook).
	Client *http.Client

	// Header holds static headers added to every request, such as
	// Authorization. They may replace Content-Type and User-Agent but not
	// the X-Ticketq-* and Idempotency-Key headers that describe the job. A
	// Host entry sets the request's Host.
	Header http.Header

	// MaxBody is how many bytes of a 2xx response body are kept as the
	// result; the rest is discarded. Zero or less means DefaultMaxBody
	// (64 KiB).
	MaxBody int
}

// Webhook returns a handler that POSTs the job's payload to url once per
// attempt, with these headers:
//
//	Content-Type: application/json
//	User-Agent: ticketq
//	X-Ticketq-Ticket, X-Ticketq-Queue, X-Ticketq-Attempt
//	Idempotency-Key (only when the job has one)
//
// A 2xx response is success and its body, cut to MaxBody bytes, is the
// result; if the connection fails while that body is read, the attempt fails
// and is retried, as the result would be incomplete. 408, 429, 5xx and transport errors are plain errors, retried with
// backoff; on 408, 429 and 5xx a valid Retry-After header (seconds or an
// HTTP date) returns job.RetryAfter with the delay clamped to
// [0, job.MaxDelay]. Any other status is job.Permanent: the job goes
// straight to dead. That includes 301, 302 and 303, which the default client
// does not follow because following them would replace the POST with a GET
// that drops the payload. An invalid url is permanent too.
//
// The request carries ctx, so a timeout or cancel aborts it, and the error
// then wraps context.Cause(ctx).
func Webhook(url string, opts WebhookOptions) job.Handler {
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.Client == nil {
		opts.Client = defaultClient()
	}
	// Copy, so that the caller may change its map later, and canonicalize,
	// so that a key spelled "authorization" replaces the default and "host"
	// is found.
	header := make(http.Header, len(opts.Header))
	for k, vs := range opts.Header {
		for _, v := range vs {
			header.Add(k, v)
		}
	}
	opts.Header = header
	return func(ctx context.Context, j *job.Job) ([]byte, error) {
		return post(ctx, url, opts, j)
	}
}

func defaultClient() *http.Client {
	c := &http.Client{CheckRedirect: followSameMethod}
	// Clone rather than share: the webhook gets its own connection pool. If
	// DefaultTransport was replaced by another type, a nil Transport uses it.
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		c.Transport = t.Clone()
	}
	return c
}

// followSameMethod follows 307 and 308, which repeat the POST with its body,
// and hands any other redirect back as the response. net/http would follow
// 301, 302 and 303 with a GET without the payload, and the job would then
// succeed although the receiver never saw it.
func followSameMethod(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return http.ErrUseLastResponse
	}
	switch req.Response.StatusCode {
	case http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return nil
	}
	return http.ErrUseLastResponse
}

func post(ctx context.Context, target string, opts WebhookOptions, j *job.Job) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(j.Payload))
	if err != nil {
		// Only a malformed URL gets here, and it will not heal by retrying.
		return nil, job.Permanent(fmt.Errorf("build webhook request: %w", redactURL(err)))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ticketq")
	for k, vs := range opts.Header {
		req.Header[k] = slices.Clone(vs) // requests run concurrently; share nothing
	}
	if h := opts.Header.Get("Host"); h != "" {
		req.Host = h // net/http ignores a Host entry in Header
	}
	req.Header.Set("X-Ticketq-Ticket", j.Ticket.String())
	req.Header.Set("X-Ticketq-Queue", j.Queue)
	req.Header.Set("X-Ticketq-Attempt", strconv.Itoa(j.Attempt))
	req.Header.Del("Idempotency-Key")
	if j.IdempotencyKey != "" {
		req.Header.Set("Idempotency-Key", j.IdempotencyKey)
	}

	resp, err := opts.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("webhook aborted: %w", context.Cause(ctx))
		}
		return nil, fmt.Errorf("post webhook: %w", redactURL(err))
	}
	defer func() {
		// Read to EOF (bounded) before closing, or the connection cannot go
		// back to the pool.
		_, _ = io.CopyN(io.Discard, resp.Body, drainLimit)
		_ = resp.Body.Close()
	}()

	// resp.Status is not used: its reason phrase is whatever the server sent.
	status := strconv.Itoa(resp.StatusCode)
	if text := http.StatusText(resp.StatusCode); text != "" {
		status += " " + text
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		body, err := io.ReadAll(io.LimitReader(resp.Body, int64(opts.MaxBody)))
		if err != nil {
			// The receiver accepted the job, but the result is incomplete;
			// retrying is safe for a receiver that honours Idempotency-Key.
			if ctx.Err() != nil {
				return nil, fmt.Errorf("webhook returned %s, reading the body aborted: %w", status, context.Cause(ctx))
			}
			return nil, fmt.Errorf("webhook returned %s, read body: %w", status, err)
		}
		return body, nil
	}

	err = fmt.Errorf("webhook returned %s", status)
	if s := snippet(resp.Body); s != "" {
		err = fmt.Errorf("webhook returned %s: %s", status, s)
	}
	switch code := resp.StatusCode; {
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500 && code <= 599:
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return nil, job.RetryAfter(d, err)
		}
		return nil, err
	default:
		return nil, job.Permanent(err)
	}
}

// redactURL drops the URL that a *url.Error repeats: its query or path may
// hold a token, and a job's error history is readable through the API.
func redactURL(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// snippet reads the start of an error response for the error message,
// made printable and marked with "…" when the body is longer.
func snippet(body io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(body, snippetLen+1))
	cut := len(b) > snippetLen
	if cut {
		b = dropPartialTail(b[:snippetLen])
	}
	s := printable(b, false)
	if cut && s != "" {
		s += "…"
	}
	return s
}

// parseRetryAfter reads a Retry-After value, delta-seconds or an HTTP date
// relative to now, clamped to [0, job.MaxDelay]. It reports false for a
// missing or malformed value, which then leaves the delay to the backoff.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return 0, false
		}
		// A value too large for uint64 parses as MaxUint64 with ErrRange;
		// either way, clamp before multiplying so that it cannot overflow.
		if secs > uint64(job.MaxDelay/time.Second) {
			return job.MaxDelay, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), job.MaxDelay), true
}
