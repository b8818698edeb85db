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
	MaxTimeout           = 7 * 24 * time.Hour
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

// Validate checks a submission against the shared limits; now is the time
// the submission arrived, used to judge RunAt.
func (s *Submission) Validate(now time.Time) error {
	if len(s.IdempotencyKey) > MaxIdempotencyKeyLen {
		return fmt.Errorf("%w: idempotency_key is %d bytes long; the limit is %d", ErrInvalid, len(s.IdempotencyKey), MaxIdempotencyKeyLen)
	}
	if !utf8.ValidString(s.IdempotencyKey) {
		return fmt.Errorf("%w: idempotency_key is not valid UTF-8", ErrInvalid)
	}
	for i := 0; i < len(s.IdempotencyKey); i++ {
		if s.IdempotencyKey[i] < 0x20 || s.IdempotencyKey[i] == 0x7f {
			return fmt.Errorf("%w: idempotency_key contains a control character", ErrInvalid)
		}
	}
	// JSON decoders put U+FFFD where the input had a lone surrogate
	// (\ud800) or invalid bytes: two different keys sent would be stored
	// as one, so such a key is refused rather than silently rewritten.
	if strings.ContainsRune(s.IdempotencyKey, utf8.RuneError) {
		return fmt.Errorf("%w: idempotency_key contains U+FFFD, which stands for a lone surrogate or invalid UTF-8", ErrInvalid)
	}
	if err := validateSubmitter(s.Submitter); err != nil {
		return err
	}
	if s.Priority < MinPriority || s.Priority > MaxPriority {
		return fmt.Errorf("%w: priority %d is outside %d..%d", ErrInvalid, s.Priority, MinPriority, MaxPriority)
	}
	if s.MaxAttempts < 0 || s.MaxAttempts > MaxAttemptsLimit {
		return fmt.Errorf("%w: max_attempts %d is outside 1..%d", ErrInvalid, s.MaxAttempts, MaxAttemptsLimit)
	}
	if s.Timeout < 0 || s.Timeout > MaxTimeout {
		return fmt.Errorf("%w: timeout %s is outside 1ns..%s", ErrInvalid, s.Timeout, MaxTimeout)
	}
	if s.Delay < 0 || s.Delay > MaxDelay {
		return fmt.Errorf("%w: delay %s is outside 0..%s", ErrInvalid, s.Delay, MaxDelay)
	}
	if s.Delay > 0 && !s.RunAt.IsZero() {
		return fmt.Errorf("%w: set delay or run_at, not both", ErrInvalid)
	}
	if !s.RunAt.IsZero() && s.RunAt.Sub(now) > MaxDelay {
		return fmt.Errorf("%w: run_at %s is more than %s in the future", ErrInvalid, s.RunAt.UTC().Format(time.RFC3339), MaxDelay)
	}
	// A run_at far in the past is almost always a bug in the client (a zero
	// or mis-parsed date); a slightly late one simply runs now.
	if !s.RunAt.IsZero() && now.Sub(s.RunAt) > MaxDelay {
		return fmt.Errorf("%w: run_at %s is more than %s in the past", ErrInvalid, s.RunAt.UTC().Format(time.RFC3339), MaxDelay)
	}
	return nil
}
