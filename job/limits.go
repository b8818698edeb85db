package job

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ticketq/ticketq/internal/strictjson"
)

// Limits shared by every layer, so that the API, the store and the
// dispatcher agree on what is valid.
const (
	MinPriority = -100
	MaxPriority = 100

	MaxQueueNameLen      = 128
	MaxIdempotencyKeyLen = 256
	MaxAttemptsLimit     = 1000
	// MinTimeout is the shortest per-run timeout: a shorter one would
	// make nearly every run of a loaded server time out (a job's start is
	// itself a commit, milliseconds), and it matches the shortest lease
	// visibility a pull worker gets.
	MinTimeout = time.Second
	MaxTimeout = 7 * 24 * time.Hour
	// MaxDelay bounds how far in the future a job may be scheduled.
	MaxDelay = 366 * 24 * time.Hour
	// MaxErrorHistory is how many attempt errors a job keeps.
	MaxErrorHistory = 10
	// MaxErrorLen bounds one stored error message.
	MaxErrorLen = 4096
	// MaxProgressMessageLen bounds one progress message.
	MaxProgressMessageLen = 1024
	// MaxWorkers bounds the workers of one queue.
	MaxWorkers = 10000
)

// ValidateQueueName accepts 1..128 characters of [A-Za-z0-9._-], which are
// safe in URLs, file names, metric labels and environment variable names.
func ValidateQueueName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: queue name is empty", ErrInvalid)
	}
	if len(name) > MaxQueueNameLen {
		return fmt.Errorf("%w: queue name is %d bytes long; the limit is %d", ErrInvalid, len(name), MaxQueueNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: queue name %q has a character outside [A-Za-z0-9._-]", ErrInvalid, clip(name))
		}
	}
	if name == "." || name == ".." {
		return fmt.Errorf("%w: queue name %q is reserved", ErrInvalid, name)
	}
	return nil
}

// The rules of the submission fields, one function each, and the layer
// that owns each check:
//
//   - Submission.Validate applies the rules to the fields that are set (a
//     zero field means the queue's default, or none). The root package's
//     SubmitBatch runs it for every entry point (an embedding program, the
//     HTTP API), and wal's Append again, so that the store never holds a
//     record that breaks them.
//   - The HTTP API (httpapi/submit.go) applies each rule to every field the
//     client gave, so that an explicit 0, "0s" or "" is refused there
//     instead of silently meaning the default; it parses a field's text
//     and leaves its range to the rule here.
//   - ValidatePayload is applied by the root's SubmitBatch only: the store
//     keeps a payload's bytes as given. The HTTP API's strict reader
//     refuses the same payloads earlier, naming their offset in the body,
//     and so does the Go client before it sends one. NormalizeResult is
//     the root's at check-off; the HTTP API refuses a non-strict result
//     to an ack, and the Go client's Worker sends one as a JSON string.
//   - ValidateQueueName is applied by every layer that takes a name from
//     outside (HTTP paths, the client, the root, the store's index).
//
// Queue options (MaxAttempts, Timeout…) are the root's QueueOptions.Validate,
// which holds a queue's timeout to ValidateTimeout too.

// ValidateIdempotencyKey accepts 1..256 bytes of UTF-8 without control
// characters.
func ValidateIdempotencyKey(k string) error {
	if k == "" {
		return fmt.Errorf("%w: idempotency_key is empty; leave it out for a job without one", ErrInvalid)
	}
	if len(k) > MaxIdempotencyKeyLen {
		return fmt.Errorf("%w: idempotency_key is %d bytes long; the limit is %d", ErrInvalid, len(k), MaxIdempotencyKeyLen)
	}
	if !utf8.ValidString(k) {
		return fmt.Errorf("%w: idempotency_key is not valid UTF-8", ErrInvalid)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] == 0x7f {
			return fmt.Errorf("%w: idempotency_key contains a control character", ErrInvalid)
		}
	}
	// JSON decoders put U+FFFD where the input had a lone surrogate
	// (\ud800) or invalid bytes: two different keys sent would be stored
	// as one, so such a key is refused rather than silently rewritten.
	if strings.ContainsRune(k, utf8.RuneError) {
		return fmt.Errorf("%w: idempotency_key contains U+FFFD, which stands for a lone surrogate or invalid UTF-8", ErrInvalid)
	}
	return nil
}

// ValidatePayload accepts bytes that are not JSON at all, which ticketq
// stores as they are (a payload is opaque to it, and the HTTP API shows
// such a payload as a JSON string), and JSON that is strict: UTF-8, no key
// twice in an object, no lone surrogate escape. JSON that breaks these
// rules is refused rather than stored, because the HTTP API could show it
// only as a string, a value of another type than the one submitted.
func ValidatePayload(p []byte) error {
	err := strictjson.CheckRules(p)
	if err == nil || !json.Valid(p) {
		return nil
	}
	return fmt.Errorf("%w: payload: %v; a payload that is JSON must be strict JSON (UTF-8, each key once per object, no lone surrogate escape)", ErrInvalid, err)
}

// NormalizeResult returns a run's result as it is stored: as it is when it
// is strict JSON, or bytes that are not JSON at all (opaque to ticketq, as
// a payload is: the HTTP API shows them as a JSON string of their text),
// and as a JSON string of its text when it is JSON that breaks the strict
// rules (a key twice, a lone surrogate escape, invalid UTF-8). Such a
// result cannot be refused (the work is done) and the HTTP API could show
// it only as a string: stored as one, it is the same value everywhere.
// The root package applies it at check-off, to its handlers' results and
// to the Ack of a pull worker.
func NormalizeResult(r []byte) []byte {
	if strictjson.CheckRules(r) == nil || !json.Valid(r) {
		return r
	}
	return strictjson.AsJSON(r)
}

// ValidatePriority accepts MinPriority..MaxPriority.
func ValidatePriority(p int) error {
	if p < MinPriority || p > MaxPriority {
		return fmt.Errorf("%w: priority %d is outside %d..%d", ErrInvalid, p, MinPriority, MaxPriority)
	}
	return nil
}

// ValidateMaxAttempts accepts 1..MaxAttemptsLimit.
func ValidateMaxAttempts(n int) error {
	if n < 1 || n > MaxAttemptsLimit {
		return fmt.Errorf("%w: max_attempts %d is outside 1..%d", ErrInvalid, n, MaxAttemptsLimit)
	}
	return nil
}

// ValidateTimeout accepts MinTimeout..MaxTimeout.
func ValidateTimeout(d time.Duration) error {
	if d < MinTimeout || d > MaxTimeout {
		return fmt.Errorf("%w: timeout %s is outside %s..%s", ErrInvalid, d, MinTimeout, MaxTimeout)
	}
	return nil
}

// ValidateDelay accepts 0..MaxDelay.
func ValidateDelay(d time.Duration) error {
	if d < 0 || d > MaxDelay {
		return fmt.Errorf("%w: delay %s is outside 0s..%s", ErrInvalid, d, MaxDelay)
	}
	return nil
}

// ValidateRunAt accepts a time at most MaxDelay from now, either way. A
// run_at far in the past is almost always a bug in the client (a zero or
// mis-parsed date, such as 0001-01-01, Go's zero time); a slightly late
// one simply runs now.
func ValidateRunAt(t, now time.Time) error {
	if t.Sub(now) > MaxDelay {
		return fmt.Errorf("%w: run_at %s is more than %s in the future", ErrInvalid, t.UTC().Format(time.RFC3339), MaxDelay)
	}
	if now.Sub(t) > MaxDelay {
		return fmt.Errorf("%w: run_at %s is more than %s in the past", ErrInvalid, t.UTC().Format(time.RFC3339), MaxDelay)
	}
	return nil
}

// Validate checks a submission against the shared limits; now is the time
// the submission arrived, used to judge RunAt. Zero fields are not
// checked: they mean none (IdempotencyKey, RunAt, Delay) or the queue's
// default (MaxAttempts, Timeout).
func (s *Submission) Validate(now time.Time) error {
	if s.IdempotencyKey != "" {
		if err := ValidateIdempotencyKey(s.IdempotencyKey); err != nil {
			return err
		}
	}
	if err := validateSubmitter(s.Submitter); err != nil {
		return err
	}
	if err := ValidatePriority(s.Priority); err != nil {
		return err
	}
	if s.MaxAttempts != 0 {
		if err := ValidateMaxAttempts(s.MaxAttempts); err != nil {
			return err
		}
	}
	if s.Timeout != 0 {
		if err := ValidateTimeout(s.Timeout); err != nil {
			return err
		}
	}
	if err := ValidateDelay(s.Delay); err != nil {
		return err
	}
	if s.Delay > 0 && !s.RunAt.IsZero() {
		return fmt.Errorf("%w: set delay or run_at, not both", ErrInvalid)
	}
	if !s.RunAt.IsZero() {
		return ValidateRunAt(s.RunAt, now)
	}
	return nil
}
