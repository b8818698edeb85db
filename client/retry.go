package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"time"
)

// retryPolicy says which failures of a call may be repeated. A repeat must
// never do what the caller did not ask for, so each call gets the widest
// policy that is still safe for it.
type retryPolicy uint8

const (
	// retrySafe repeats network errors, 429, 503 and 507: for calls whose repeat
	// cannot do harm (reads, PATCH, keyed submits, and the lease-fenced
	// Ack, Nack, Extend and Progress).
	retrySafe retryPolicy = iota
	// retryUnapplied repeats only failures that prove the server did
	// nothing: the request was never sent (dial error), or an answer that
	// is given before anything is stored (503 not_ready or shutting_down,
	// 429 queue_full, 507 disk_full). For calls whose repeat could act twice.
	retryUnapplied
	// retryProbe repeats network errors only: the probes' 503 is their
	// answer, not a failure.
	retryProbe
)

// maxRetryDelay caps the exponential backoff between attempts.
const maxRetryDelay = 5 * time.Second

// attempts reports what happened to the attempts of one call.
type attempts struct {
	// uncertain is set when an attempt failed in a way that leaves its
	// effect unknown: the request may have been applied and its answer
	// lost. Ack and Nack need it to read a later 409 correctly.
	uncertain bool
}

// allows reports whether err, the failure of one attempt, may be repeated.
func (p retryPolicy) allows(err error) bool {
	var e *APIError
	if !errors.As(err, &e) {
		// A network error. Only a dial error proves that the request
		// never left; after that, the server may have acted on it.
		return p != retryUnapplied || notSent(err)
	}
	switch p {
	case retrySafe:
		return e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable ||
			e.Status == http.StatusInsufficientStorage
	case retryUnapplied:
		return e.Code == "not_ready" || e.Code == "shutting_down" || e.Code == "queue_full" || e.Code == "disk_full"
	}
	return false
}

// uncertain reports whether a failed attempt may still have taken effect.
func uncertain(err error) bool {
	var e *APIError
	if !errors.As(err, &e) {
		return !notSent(err)
	}
	if e.Status < 500 {
		return false // every refusal of the API changes nothing
	}
	// The gate answers the first two before a request is handled, and a
	// full disk rolls its transaction back; any other 5xx (outcome_unknown,
	// store_failed, a proxy's 502) may follow a write.
	return e.Code != "not_ready" && e.Code != "shutting_down" && e.Code != "disk_full"
}

// notSent reports whether a transport error happened before the request
// was written: the connection could not even be made.
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// delay returns how long to wait before retry number n (0 for the first
// retry): the server's Retry-After when it sent one, else RetryBase
// doubled per retry, capped at 5s, with jitter in [d/2, d] so that
// clients that failed together do not retry together.
func (c *Client) delay(n int, err error) time.Duration {
	var e *APIError
	if errors.As(err, &e) && e.hasRetryAfter {
		return e.RetryAfter
	}
	d := c.opts.RetryBase
	for i := 0; i < n && d < maxRetryDelay; i++ {
		d *= 2
	}
	d = min(d, maxRetryDelay)
	return d/2 + rand.N(d/2+1)
}

// retry runs attempt until it succeeds, fails in a way policy does not
// repeat, runs out of Options.Retries, or ctx ends. It waits between
// attempts, and gives up at once when the wait would outlast ctx.
func (c *Client) retry(ctx context.Context, policy retryPolicy, attempt func() error) (attempts, error) {
	var a attempts
	for n := 0; ; n++ {
		err := attempt()
		if err == nil {
			return a, nil
		}
		a.uncertain = a.uncertain || uncertain(err)
		if ctx.Err() != nil {
			// The transport's error already wraps ctx's, so errors.Is
			// matches context.Canceled or DeadlineExceeded.
			return a, err
		}
		if n >= c.opts.Retries || !policy.allows(err) {
			return a, err
		}
		d := c.delay(n, err)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			return a, err
		}
		if serr := sleep(ctx, d); serr != nil {
			return a, fmt.Errorf("%w (before retrying after: %v)", serr, err)
		}
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
