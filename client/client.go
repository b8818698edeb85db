package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ticketq/ticketq/job"
)

// Defaults of Options.
const (
	DefaultRetries   = 4
	DefaultRetryBase = 100 * time.Millisecond
	DefaultUserAgent = "ticketq-client"
)

// maxAnswer bounds an answer's body: a job view holds a payload and a
// result of up to the server's body limit (4 MiB by default) each.
const maxAnswer = 64 << 20

// Options configure a Client. Zero values take the documented defaults, so
// Options{} is a working configuration.
type Options struct {
	// HTTPClient sends the requests. Defaults to a client whose Transport
	// keeps up to 100 idle connections to the server (so that a Worker's
	// heartbeats reuse them) and that has no overall Timeout: every call
	// is bounded by its context instead, because long-polls (Wait, Lease)
	// legitimately take as long as they are asked to.
	HTTPClient *http.Client
	// Retries is how many times a failed call is repeated, for the
	// failures that are safe to repeat (see the package documentation).
	// Defaults to 4; a negative value disables retries.
	Retries int
	// RetryBase is the wait before the first retry; it doubles on each
	// further retry, with jitter, up to 5s. A Retry-After from the server
	// (429, 503) replaces it. Defaults to 100ms.
	RetryBase time.Duration
	// UserAgent is sent with every request. Defaults to "ticketq-client".
	UserAgent string
	// Token is sent with every request as "Authorization: Bearer Token",
	// for a server that has tokens configured. Empty sends none. A server
	// answers a missing or unknown token with 401 unauthorized and a token
	// whose role does not allow the call with 403 forbidden: an *APIError
	// with that Status and Code, which matches ErrUnauthorized or
	// ErrForbidden (no sentinel of package job) and is never retried.
	Token string
	// TLSConfig configures TLS for an https:// server URL, for example
	// RootCAs to trust a private CA. It applies to the default HTTPClient;
	// setting both is an error (configure TLS on your own Transport
	// instead). Defaults to the system's roots.
	TLSConfig *tls.Config
}

func (o Options) withDefaults() Options {
	if o.HTTPClient == nil {
		tr := newTransport()
		if o.TLSConfig != nil {
			tr.TLSClientConfig = o.TLSConfig.Clone()
		}
		o.HTTPClient = &http.Client{Transport: tr}
	}
	switch {
	case o.Retries == 0:
		o.Retries = DefaultRetries
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.RetryBase <= 0 {
		o.RetryBase = DefaultRetryBase
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	return o
}

// newTransport is the default Transport: the standard one, with enough idle
// connections per host for a busy worker.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Client talks to one ticketq server. It is safe for concurrent use.
type Client struct {
	base          string // scheme://host[/prefix], without a trailing slash
	opts          Options
	authorization string // the Authorization header, or ""
}

// New returns a client of the server at baseURL, such as
// "http://127.0.0.1:8080" (a path prefix is kept, for an API mounted
// below the root). It only checks the URL; it does not contact the server.
func New(baseURL string, opts Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("parse server url: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("server url %q: scheme must be http or https", baseURL)
	case u.Host == "":
		return nil, fmt.Errorf("server url %q: no host", baseURL)
	case u.User != nil:
		return nil, fmt.Errorf("server url %q: credentials in the url are not supported", baseURL)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("server url %q: must have no query or fragment", baseURL)
	}
	if opts.HTTPClient != nil && opts.TLSConfig != nil {
		return nil, errors.New("client options: set TLSConfig or HTTPClient, not both (put the TLS settings on the HTTPClient's Transport)")
	}
	c := &Client{base: u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"), opts: opts.withDefaults()}
	if opts.Token != "" {
		// The token itself is never quoted in an error: it is a secret.
		for i := 0; i < len(opts.Token); i++ {
			if opts.Token[i] <= ' ' || opts.Token[i] > '~' {
				return nil, errors.New("client options: Token holds a space, a control or a non-ASCII character")
			}
		}
		c.authorization = "Bearer " + opts.Token
	}
	return c, nil
}

// request is one API call.
type request struct {
	method string
	path   string // escaped, with its query
	body   any    // sent as JSON when not nil
	out    any    // a 2xx answer is decoded into it when not nil
	policy retryPolicy
}

// do sends r, repeating it as its policy allows, and decodes the answer.
// Every non-2xx answer is an *APIError.
func (c *Client) do(ctx context.Context, r request) (attempts, error) {
	var body []byte
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return attempts{}, fmt.Errorf("encode request: %w", err)
		}
		body = b
	}
	var answer []byte
	a, err := c.retry(ctx, r.policy, func() error {
		var err error
		answer, err = c.send(ctx, r.method, r.path, body)
		return err
	})
	if err != nil || r.out == nil {
		return a, err
	}
	if err := json.Unmarshal(answer, r.out); err != nil {
		return a, fmt.Errorf("decode answer of %s %s: %w", r.method, r.path, err)
	}
	return a, nil
}

// send makes one attempt and returns the body of a 2xx answer.
func (c *Client) send(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.opts.UserAgent)
	if c.authorization != "" {
		req.Header.Set("Authorization", c.authorization)
	}
	res, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		// The status arrived but the body did not: as uncertain as a
		// lost answer.
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if res.StatusCode/100 != 2 {
		return nil, newAPIError(res.StatusCode, res.Header, b)
	}
	return b, nil
}

// jobPath returns the path of a ticket, refusing the zero ticket.
func jobPath(t job.Ticket, suffix string) (string, error) {
	if t == 0 {
		return "", fmt.Errorf("%w: ticket 0 does not exist; tickets start at 1", job.ErrInvalid)
	}
	return "/v1/jobs/" + t.String() + suffix, nil
}

// queuePath returns the path of a queue, checking the name first so that a
// bad one cannot reach another route.
func queuePath(name, suffix string) (string, error) {
	if err := job.ValidateQueueName(name); err != nil {
		return "", err
	}
	return "/v1/queues/" + name + suffix, nil
}

// Healthy reports whether the server process answers (GET /healthz). Only
// network errors are retried.
func (c *Client) Healthy(ctx context.Context) error {
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/healthz", policy: retryProbe})
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	return nil
}

// Ready reports whether the server takes traffic (GET /readyz): nil once
// recovery is done, an *APIError matching job.ErrClosed while it recovers
// ("recovering") or drains ("shutting_down"). Only network errors are
// retried: a 503 is the answer.
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/readyz", policy: retryProbe})
	if err != nil {
		return fmt.Errorf("readiness check: %w", err)
	}
	return nil
}
