package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ticketq/ticketq/job"
)

// ErrLeaseLost is the cause of a handler's context when the worker learns
// that its lease no longer holds the job (it expired, typically because
// heartbeats could not reach the server, and the job went back in line).
// The job is not acked or nacked: whatever the handler returns is dropped.
// It wraps job.ErrLeaseMismatch.
var ErrLeaseLost = fmt.Errorf("%w: the lease was lost (it expired or the job was re-leased)", job.ErrLeaseMismatch)

// Refusals of the caller's token. An *APIError with status 401 or 403
// matches one of them with errors.Is, whether the answer came from ticketq
// (codes unauthorized and forbidden) or from a proxy in front of it. No
// retry fixes either: the client never repeats such a call, and a Worker
// stops on them.
var (
	// ErrUnauthorized is a 401: the server needs a token and the one sent,
	// if any, is not valid (Options.Token).
	ErrUnauthorized = errors.New("the server refused the token (401 unauthorized)")
	// ErrForbidden is a 403: the token is valid, but its role does not
	// allow the call (a submit token leasing jobs, say).
	ErrForbidden = errors.New("the token's role does not allow the call (403 forbidden)")
)

// APIError is an error answer of the server: any non-2xx status. Match it
// with errors.Is against the sentinels of package job (job.ErrNotFound,
// job.ErrLeaseMismatch, job.ErrQueueFull, …) and ErrUnauthorized or
// ErrForbidden, or with errors.As to read the code.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Code is the API's error code, such as "not_found" or "lease_mismatch";
	// the status of /readyz ("recovering", "shutting_down") for that probe;
	// empty when the body was not a ticketq error (a proxy's page, say).
	Code string
	// Message is the server's explanation, or the start of a body that was
	// not a ticketq error.
	Message string
	// RetryAfter is the server's Retry-After (429 queue_full, 503
	// not_ready); zero when it sent none.
	RetryAfter time.Duration
	// RequestID is the X-Request-Id of the answer, which names the request
	// in the server's log.
	RequestID string

	// hasRetryAfter tells "Retry-After: 0" from no header at all.
	hasRetryAfter bool
}

func (e *APIError) Error() string {
	code := e.Code
	if code == "" {
		code = strings.ToLower(http.StatusText(e.Status))
	}
	if e.Message == "" {
		return fmt.Sprintf("server answered %d %s", e.Status, code)
	}
	return fmt.Sprintf("server answered %d %s: %s", e.Status, code, e.Message)
}

// codeSentinels maps the API's codes to the sentinels they stand for. Codes
// of the same family share their parent: job.ErrLeaseCanceled wraps
// job.ErrLeaseMismatch, which wraps job.ErrConflict, so errors.Is answers
// for the parents too.
var codeSentinels = map[string]error{
	"not_found":              job.ErrNotFound,
	"conflict":               job.ErrConflict,
	"already_final":          job.ErrAlreadyFinal,
	"not_retryable":          job.ErrNotRetryable,
	"idempotency_key_reused": job.ErrIdempotencyKeyReused,
	"lease_mismatch":         job.ErrLeaseMismatch,
	"job_canceled":           job.ErrLeaseCanceled,
	"has_executor":           job.ErrHasExecutor,
	"queue_full":             job.ErrQueueFull,
	"too_many_queues":        job.ErrTooManyQueues,
	"shutting_down":          job.ErrClosed,
	"not_ready":              job.ErrClosed,
	"recovering":             job.ErrClosed,
	"outcome_unknown":        job.ErrUnknownOutcome,
	"store_failed":           job.ErrStoreFailed,
	"disk_full":              job.ErrDiskFull,
	"body_too_large":         job.ErrInvalid,
	"unsupported_media_type": job.ErrInvalid,
	"unsupported_encoding":   job.ErrInvalid,
	"unauthorized":           ErrUnauthorized,
	"forbidden":              ErrForbidden,
}

// sentinel returns the error that the answer stands for, or nil.
func (e *APIError) sentinel() error {
	if s, ok := codeSentinels[e.Code]; ok {
		return s
	}
	switch e.Status {
	case http.StatusBadRequest:
		// Every 400 (invalid_json, unknown_field, invalid_ticket,
		// invalid_request and codes added later) is input that can never
		// succeed as sent.
		return job.ErrInvalid
	case http.StatusUnauthorized:
		// Also a proxy's 401 or 403, which has no ticketq code: the
		// token is refused all the same.
		return ErrUnauthorized
	case http.StatusForbidden:
		return ErrForbidden
	}
	return nil
}

// Is reports whether the answer stands for target, so that
// errors.Is(err, job.ErrNotFound) works on a client error as it does on the
// embedded queue's.
func (e *APIError) Is(target error) bool {
	s := e.sentinel()
	return s != nil && errors.Is(s, target)
}

// maxErrorBody bounds how much of a non-ticketq error body is kept.
const maxErrorBody = 512

// newAPIError reads an error answer. It never fails: a body that is not a
// ticketq error still gives the status and the start of the body.
func newAPIError(status int, h http.Header, body []byte) *APIError {
	e := &APIError{Status: status, RequestID: h.Get("X-Request-Id")}
	e.RetryAfter, e.hasRetryAfter = parseRetryAfter(h.Get("Retry-After"), time.Now())
	var b struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		// Status is the body of the probes.
		Status string `json:"status"`
	}
	switch {
	case json.Unmarshal(body, &b) != nil:
		e.Message = clip(strings.TrimSpace(string(body)), maxErrorBody)
	case b.Error.Code != "":
		e.Code, e.Message = b.Error.Code, b.Error.Message
	case b.Status != "":
		e.Code = b.Status
	default:
		e.Message = clip(strings.TrimSpace(string(body)), maxErrorBody)
	}
	return e
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		return time.Duration(max(s, 0)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// clip shortens s to at most n bytes.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// apiCode returns the API code of err, or "".
func apiCode(err error) string {
	var e *APIError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
