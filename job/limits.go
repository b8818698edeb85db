package job

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
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

// The rules of the submission fields, one function each. Submission.Validate
// applies them to the fields that are set (a zero field means the queue's
// default, or none); the HTTP API applies them to every field the client
// gave, so that an explicit 0, "0s" or "" is refused there instead of
// silently meaning the default.

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
