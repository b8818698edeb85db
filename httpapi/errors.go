package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/ticketq/ticketq/job"
)

// Errors of the HTTP layer itself. The queue's own conditions are the
// sentinels of package job; both kinds are mapped to a status in classify.
var (
	errNotReady         = errors.New("the queue is still being recovered; retry shortly")
	errShuttingDown     = fmt.Errorf("%w: the server is shutting down; retry against another instance or after the restart", job.ErrClosed)
	errMediaType        = errors.New("unsupported media type")
	errMethodNotAllowed = errors.New("method not allowed")
	errRouteNotFound    = fmt.Errorf("%w: no such route", job.ErrNotFound)
	errPanic            = errors.New("internal error; the details are in the server log")
	errTooManyLongPolls = errors.New("too many long-polls")
	errReadTimeout      = errors.New("request timeout")
	errEncoding         = errors.New("unsupported content encoding")
	errInflatedTooLarge = errors.New("decompressed body too large")
)

// codedError gives an error a more precise API code than its sentinel's
// (invalid_json rather than invalid_request); the status still comes from
// the sentinel it wraps.
type codedError struct {
	code string
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// withCode refines the API code of err.
func withCode(code string, err error) error { return &codedError{code: code, err: err} }

// errorf wraps sentinel with a message for the client.
func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}

// invalidf builds an ErrInvalid with a precise code and message.
func invalidf(code, format string, args ...any) error {
	return withCode(code, errorf(job.ErrInvalid, format, args...))
}

// apiError is how one error is answered.
type apiError struct {
	status  int
	code    string
	message string
	header  map[string]string
}

// classify is the one place that decides the status, code, message and
// headers of an error answer. The order matters where errors wrap several
// sentinels: a failed commit wraps both ErrUnknownOutcome and
// ErrStoreFailed, and the client's next step depends on the first.
func classify(err error) apiError {
	e := apiError{status: http.StatusInternalServerError, code: "internal", message: err.Error()}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		e.status, e.code = http.StatusRequestEntityTooLarge, "body_too_large"
		e.message = fmt.Sprintf("the request body is larger than the limit of %d bytes", tooLarge.Limit)
	case errors.Is(err, errInflatedTooLarge):
		e.status, e.code = http.StatusRequestEntityTooLarge, "body_too_large"
	case errors.Is(err, errMediaType):
		e.status, e.code = http.StatusUnsupportedMediaType, "unsupported_media_type"
	case errors.Is(err, errEncoding):
		// RFC 7694: a 415 for a content coding lists the ones accepted.
		e.status, e.code = http.StatusUnsupportedMediaType, "unsupported_encoding"
		e.header = map[string]string{"Accept-Encoding": "gzip"}
	case errors.Is(err, errMethodNotAllowed):
		e.status, e.code = http.StatusMethodNotAllowed, "method_not_allowed"
	case errors.Is(err, errUnauthorized):
		e.status, e.code = http.StatusUnauthorized, "unauthorized"
		e.header = map[string]string{"WWW-Authenticate": `Bearer realm="ticketq"`}
	case errors.Is(err, errForbidden):
		e.status, e.code = http.StatusForbidden, "forbidden"
	case errors.Is(err, errNotReady):
		e.status, e.code = http.StatusServiceUnavailable, "not_ready"
		e.header = map[string]string{"Retry-After": "1"}
	case errors.Is(err, job.ErrInvalid):
		e.status, e.code = http.StatusBadRequest, "invalid_request"
	case errors.Is(err, job.ErrNotFound):
		e.status, e.code = http.StatusNotFound, "not_found"
	case errors.Is(err, job.ErrAlreadyFinal):
		e.status, e.code = http.StatusConflict, "already_final"
	case errors.Is(err, job.ErrIdempotencyKeyReused):
		e.status, e.code = http.StatusConflict, "idempotency_key_reused"
	case errors.Is(err, job.ErrNotRetryable):
		e.status, e.code = http.StatusConflict, "not_retryable"
	case errors.Is(err, job.ErrLeaseCanceled):
		e.status, e.code = http.StatusConflict, "job_canceled"
	case errors.Is(err, job.ErrTooManyQueues):
		e.status, e.code = http.StatusConflict, "too_many_queues"
	case errors.Is(err, job.ErrHasExecutor):
		e.status, e.code = http.StatusConflict, "has_executor"
	case errors.Is(err, job.ErrLeaseMismatch):
		e.status, e.code = http.StatusConflict, "lease_mismatch"
	case errors.Is(err, job.ErrConflict):
		e.status, e.code = http.StatusConflict, "conflict"
	case errors.Is(err, job.ErrQueueFull):
		e.status, e.code = http.StatusTooManyRequests, "queue_full"
		e.message += "; retry later"
		e.header = map[string]string{"Retry-After": "1"}
	case errors.Is(err, errReadTimeout):
		e.status, e.code = http.StatusRequestTimeout, "request_timeout"
		e.header = map[string]string{"Connection": "close"}
	case errors.Is(err, errTooManyLongPolls):
		e.status, e.code = http.StatusTooManyRequests, "too_many_long_polls"
		e.header = map[string]string{"Retry-After": "1"}
	case errors.Is(err, job.ErrClosed):
		// Closing the connection moves a keep-alive client to another
		// instance instead of letting it retry into this one.
		e.status, e.code = http.StatusServiceUnavailable, "shutting_down"
		e.header = map[string]string{"Connection": "close", "Retry-After": "1"}
	case errors.Is(err, job.ErrUnknownOutcome):
		e.status, e.code = http.StatusServiceUnavailable, "outcome_unknown"
		if errors.Is(err, job.ErrStoreFailed) {
			e.message, e.header = storeFailed("the server's storage failed while it committed this request")
		}
		e.message += "; the request may or may not have taken effect: retry it with the same idempotency_key, which answers with the original ticket if the first try was stored"
	case errors.Is(err, job.ErrStoreFailed):
		e.status, e.code = http.StatusServiceUnavailable, "store_failed"
		e.message, e.header = storeFailed("the server's storage failed and it is stopping; the request was not carried out: retry it once the server has restarted, or on another instance")
	case errors.Is(err, job.ErrDiskFull):
		// Nothing was written, and nothing will be until an operator
		// frees space: a slow retry is all a client can do.
		e.status, e.code = http.StatusInsufficientStorage, "disk_full"
		e.header = map[string]string{"Retry-After": "5"}
	}
	var coded *codedError
	if errors.As(err, &coded) {
		e.code = coded.code
	}
	return e
}

// storeFailed is the answer to a request that met a failed store: msg,
// not the store's own account, which names server files and the commands
// an operator runs (the log has it, see writeError). The process is about
// to exit: closing the connection moves a keep-alive client elsewhere, and
// Retry-After covers a restart that checks the file first.
func storeFailed(msg string) (string, map[string]string) {
	return msg + " (the server log has the details)", map[string]string{"Connection": "close", "Retry-After": "5"}
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError answers err. Server-side failures are logged with the
// request's logger, so the log line carries the request id.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := classify(err)
	log := s.logger(w)
	switch {
	case e.status >= 500 && e.code == "internal":
		log.Error().Err(err).Int("status", e.status).Msg("internal error")
	case e.code == "store_failed" || e.code == "outcome_unknown":
		log.Warn().Err(err).Int("status", e.status).Str("code", e.code).Msg("store error")
	}
	for k, v := range e.header {
		w.Header().Set(k, v)
	}
	s.writeJSON(w, e.status, errorBody{Error: errorDetail{Code: e.code, Message: e.message}})
}
