package job

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ticketq/ticketq/internal/strictjson"
)

// The fuzz targets of this file check the shared parsers and limits against
// an independent statement of what they accept. The HTTP targets of package
// httpapi reach them through the API; these go faster and deeper.

// FuzzParseTicket checks that exactly the canonical decimals 1..2^64-1 are
// tickets, that a ticket has one spelling (String gives back the input), and
// that every refusal is an ErrInvalid with a bounded message.
func FuzzParseTicket(f *testing.F) {
	for _, s := range []string{
		"1", "17", "18446744073709551615", "18446744073709551616", "99999999999999999999", "999999999999999999999",
		"0", "00", "01", "", "-1", "+1", " 1", "1 ", "1e3", "0x10", "١", "1_000", "\x00", strings.Repeat("9", 100),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tk, err := ParseTicket(s)
		v, perr := strconv.ParseUint(s, 10, 64)
		canonical := perr == nil && v != 0 && strconv.FormatUint(v, 10) == s
		if err != nil {
			if canonical {
				t.Fatalf("ParseTicket(%q) = %v, want %d", s, err, v)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseTicket(%q): %v does not wrap ErrInvalid", s, err)
			}
			if len(err.Error()) > 300 {
				t.Fatalf("ParseTicket(%q): a message of %d bytes", s, len(err.Error()))
			}
			return
		}
		if !canonical || uint64(tk) != v || tk.String() != s {
			t.Fatalf("ParseTicket(%q) = %d, which is not its one spelling", s, tk)
		}
		var back Ticket
		if b, _ := tk.MarshalText(); back.UnmarshalText(b) != nil || back != tk {
			t.Fatalf("ticket %d does not survive MarshalText/UnmarshalText", tk)
		}
	})
}

// FuzzValidateQueueName checks that exactly the names of 1..128 bytes of
// [A-Za-z0-9._-] other than "." and ".." are accepted, and that an accepted
// name needs no escaping in a URL path.
func FuzzValidateQueueName(f *testing.F) {
	for _, s := range []string{
		"q", "emails", "a.b-c_D9", ".", "..", "...", "", "a b", "a/b", "a%2Fb", "ü", "q\x00", "q\n",
		strings.Repeat("q", MaxQueueNameLen), strings.Repeat("q", MaxQueueNameLen+1),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidateQueueName(name)
		want := name != "" && len(name) <= MaxQueueNameLen && name != "." && name != ".." &&
			strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == ""
		if (err == nil) != want {
			t.Fatalf("ValidateQueueName(%q) = %v, want accepted %t", name, err, want)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("ValidateQueueName(%q): %v does not wrap ErrInvalid", name, err)
		}
		if err == nil && url.PathEscape(name) != name {
			t.Fatalf("queue name %q is accepted but needs escaping in a URL", name)
		}
	})
}

// FuzzSubmissionValidate checks Submission.Validate against the limits it
// documents: every accepted submission is within all of them, and every
// refusal is an ErrInvalid.
func FuzzSubmissionValidate(f *testing.F) {
	for _, s := range []struct {
		key                   string
		priority, maxAttempts int
		timeout, delay, runAt int64
		hasRunAt              bool
	}{
		{"", 0, 0, 0, 0, 0, false},
		{"key-1", 5, 3, int64(30 * time.Second), int64(time.Minute), 0, false},
		{"k", -100, 1000, int64(MaxTimeout), int64(MaxDelay), 0, false},
		{"k", 101, 0, 0, 0, 0, false},
		{"k", 0, 1001, 0, 0, 0, false},
		{"k", 0, -1, -1, -1, 0, false},
		{"k", 0, 0, int64(MaxTimeout) + 1, int64(MaxDelay) + 1, 0, false},
		{"k", 0, 0, int64(time.Nanosecond), 0, 0, false},
		{"k", 0, 0, int64(MinTimeout), 0, 0, false},
		{"k", 0, 0, 0, 0, int64(time.Hour), true},
		{"k", 0, 0, 0, 0, -int64(MaxDelay) - 1, true},
		{"k", 0, 0, 0, int64(time.Second), int64(time.Hour), true},
		{"\x00", 0, 0, 0, 0, 0, false},
		{"\x7f", 0, 0, 0, 0, 0, false},
		{"\xff", 0, 0, 0, 0, 0, false},
		{"ключ", 0, 0, 0, 0, 0, false},
		{strings.Repeat("k", MaxIdempotencyKeyLen+1), 0, 0, 0, 0, 0, false},
	} {
		f.Add(s.key, s.priority, s.maxAttempts, s.timeout, s.delay, s.runAt, s.hasRunAt)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, key string, priority, maxAttempts int, timeout, delay, runAt int64, hasRunAt bool) {
		s := Submission{IdempotencyKey: key, Priority: priority, MaxAttempts: maxAttempts, Timeout: time.Duration(timeout), Delay: time.Duration(delay)}
		if hasRunAt {
			s.RunAt = now.Add(time.Duration(runAt))
		}
		err := s.Validate(now)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate(%+v): %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		printable := !strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f })
		switch {
		case len(key) > MaxIdempotencyKeyLen || !utf8.ValidString(key) || !printable:
			t.Fatalf("Validate accepted idempotency key %q", key)
		case priority < MinPriority || priority > MaxPriority:
			t.Fatalf("Validate accepted priority %d", priority)
		case maxAttempts < 0 || maxAttempts > MaxAttemptsLimit:
			t.Fatalf("Validate accepted max_attempts %d", maxAttempts)
		case s.Timeout != 0 && (s.Timeout < MinTimeout || s.Timeout > MaxTimeout):
			t.Fatalf("Validate accepted timeout %s", s.Timeout)
		case s.Delay < 0 || s.Delay > MaxDelay:
			t.Fatalf("Validate accepted delay %s", s.Delay)
		case s.Delay > 0 && !s.RunAt.IsZero():
			t.Fatalf("Validate accepted both delay %s and run_at %s", s.Delay, s.RunAt)
		case !s.RunAt.IsZero() && (s.RunAt.Sub(now) > MaxDelay || now.Sub(s.RunAt) > MaxDelay):
			t.Fatalf("Validate accepted run_at %s, %s from now", s.RunAt, s.RunAt.Sub(now))
		}
	})
}

// FuzzPayloadRules checks the payload and result rules against their
// statement through strictjson.Check, which asks json.Valid first: a
// payload is refused exactly when it is JSON but not strict JSON, and a
// result is rewritten exactly then, into strict JSON.
func FuzzPayloadRules(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, `{"a":1,"a":2}`, `"\ud800"`, "\"\xff\"", "\xff", `{"a":`, `{"a":1,"a":`, ``, `[{"b":1,"b":1}]`, `plain text`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := strictjson.Check(b)
		nonStrictJSON := err != nil && !errors.Is(err, strictjson.ErrNotJSON)
		if perr := ValidatePayload(b); (perr != nil) != nonStrictJSON || perr != nil && !errors.Is(perr, ErrInvalid) {
			t.Fatalf("ValidatePayload(%q) = %v; Check says %v", b, perr, err)
		}
		r := NormalizeResult(b)
		switch {
		case !nonStrictJSON && string(r) != string(b):
			t.Fatalf("NormalizeResult(%q) = %q, want it as it is (Check says %v)", b, r, err)
		case nonStrictJSON && !strictjson.Valid(r):
			t.Fatalf("NormalizeResult(%q) = %q, not strict JSON", b, r)
		}
	})
}
