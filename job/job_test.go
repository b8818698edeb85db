package job

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// Ensure that tickets have exactly one spelling and that bad ones are refused.
func TestParseTicket(t *testing.T) {
	for _, ok := range []struct {
		in   string
		want Ticket
	}{{"1", 1}, {"17", 17}, {"18446744073709551615", 18446744073709551615}} {
		got, err := ParseTicket(ok.in)
		if err != nil || got != ok.want || got.String() != ok.in {
			t.Fatalf("ParseTicket(%q) = %d, %v", ok.in, got, err)
		}
	}
	for _, bad := range []string{"", "0", "01", "-1", "+1", " 1", "1.0", "abc", "18446744073709551616", "99999999999999999999", strings.Repeat("9", 100)} {
		if _, err := ParseTicket(bad); !errors.Is(err, ErrInvalid) {
			t.Fatalf("ParseTicket(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

// Ensure that a ticket is a decimal string in JSON and back.
func TestTicket_JSON(t *testing.T) {
	b, err := json.Marshal(struct{ T Ticket }{42})
	if err != nil || string(b) != `{"T":"42"}` {
		t.Fatalf("marshal = %s, %v", b, err)
	}
	var v struct{ T Ticket }
	if err := json.Unmarshal([]byte(`{"T":"7"}`), &v); err != nil || v.T != 7 {
		t.Fatalf("unmarshal = %v, %v", v.T, err)
	}
	if err := json.Unmarshal([]byte(`{"T":"x"}`), &v); err == nil {
		t.Fatal("bad ticket decoded")
	}
}

// Ensure that every state round-trips by name and only the three final
// states are final.
func TestState(t *testing.T) {
	finals := 0
	for _, s := range States {
		got, err := ParseState(s.String())
		if err != nil || got != s {
			t.Fatalf("ParseState(%q) = %v, %v", s, got, err)
		}
		if s.Final() {
			finals++
		}
	}
	if finals != len(FinalStates) || Queued.Final() || Running.Final() {
		t.Fatal("wrong final states")
	}
	if _, err := ParseState("done"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("ParseState(done) = %v", err)
	}
	if State(9).Valid() || State(9).String() != "state(9)" {
		t.Fatal("state 9 is not valid")
	}
	if _, err := State(0).MarshalText(); err == nil {
		t.Fatal("state 0 marshaled")
	}
}

// Ensure that queue names outside the safe alphabet are refused.
func TestValidateQueueName(t *testing.T) {
	for _, ok := range []string{"a", "emails", "a.b-c_D9", strings.Repeat("q", MaxQueueNameLen)} {
		if err := ValidateQueueName(ok); err != nil {
			t.Fatalf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "a b", "ü", "a\x00", strings.Repeat("q", MaxQueueNameLen+1)} {
		if err := ValidateQueueName(bad); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}

// Ensure that each field's rule refuses what an HTTP client may give
// explicitly but the embedded queue reads as "not set": an empty key, no
// attempts, no timeout, Go's zero time.
func TestValidateFields(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, err := range map[string]error{
		"idempotency_key is empty": ValidateIdempotencyKey(""),
		"max_attempts 0":           ValidateMaxAttempts(0),
		"timeout 0s":               ValidateTimeout(0),
		"0001-01-01T00:00:00Z":     ValidateRunAt(time.Time{}, now),
		"delay -1s":                ValidateDelay(-time.Second),
		"priority 101":             ValidatePriority(101),
	} {
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), name) {
			t.Errorf("%v, want ErrInvalid mentioning %q", err, name)
		}
	}
}

// Ensure that a payload that is JSON must be strict JSON, with a message
// naming the rule and its place, while bytes that are not JSON are opaque.
func TestValidatePayload(t *testing.T) {
	for p, msg := range map[string]string{
		`{"a":1,"a":2}`:  `payload: key "a" is given twice at offset 7`,
		`[1,"\udc00"]`:   `payload: lone surrogate escape (\ud800-\udfff without its pair) in [1] at offset 9`,
		"\"\xff\"":       `payload: invalid UTF-8 at offset 1`,
		`{"a":1,"A":2}`:  "",
		`"\ud83d\ude00"`: "",
		"\x00binary":     "",
		`{"a":`:          "",
		``:               "",
	} {
		err := ValidatePayload([]byte(p))
		switch {
		case msg == "" && err != nil:
			t.Errorf("ValidatePayload(%q) = %v, want nil", p, err)
		case msg != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), msg)):
			t.Errorf("ValidatePayload(%q) = %v, want ErrInvalid with %q", p, err, msg)
		}
	}
}

// Ensure that a result is kept as it is unless it is JSON that is not
// strict, which is kept as the JSON string of its text.
func TestNormalizeResult(t *testing.T) {
	for in, out := range map[string]string{
		`{"a":1,"a":2}`: `"{\"a\":1,\"a\":2}"`,
		`"\ud800"`:      `"\"\\ud800\""`,
		"\"\xff\"":      `"\"\ufffd\""`,
		`{"a":[1,2]}`:   `{"a":[1,2]}`,
		"plain\x00\xff": "plain\x00\xff",
		``:              ``,
	} {
		if got := NormalizeResult([]byte(in)); string(got) != out {
			t.Errorf("NormalizeResult(%q) = %q, want %q", in, got, out)
		}
	}
}

// Ensure that each limit of a submission is enforced with a message naming it.
func TestSubmission_Validate(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		s    Submission
		want string
	}{
		{Submission{Priority: MaxPriority + 1}, "priority"},
		{Submission{Priority: MinPriority - 1}, "priority"},
		{Submission{MaxAttempts: -1}, "max_attempts"},
		{Submission{MaxAttempts: MaxAttemptsLimit + 1}, "max_attempts"},
		{Submission{Timeout: -time.Second}, "timeout"},
		{Submission{Timeout: time.Nanosecond}, "outside 1s..168h"},
		{Submission{Timeout: MinTimeout - 1}, "timeout"},
		{Submission{Timeout: MaxTimeout + 1}, "timeout"},
		{Submission{RunAt: now.Add(MaxDelay + time.Hour)}, "future"},
		{Submission{RunAt: now.Add(-MaxDelay - time.Hour)}, "past"},
		{Submission{Delay: -time.Second}, "delay"},
		{Submission{Delay: MaxDelay + 1}, "delay"},
		{Submission{Delay: time.Second, RunAt: now}, "not both"},
		{Submission{IdempotencyKey: strings.Repeat("k", MaxIdempotencyKeyLen+1)}, "idempotency_key"},
		{Submission{IdempotencyKey: "a\x00b"}, "control character"},
		{Submission{IdempotencyKey: "\xff"}, "UTF-8"},
		{Submission{IdempotencyKey: "a\uFFFDb"}, "U+FFFD"},
		{Submission{MaxAttempts: -1}, "outside 1..1000"},
		{Submission{Submitter: strings.Repeat("s", MaxSubmitterLen+1)}, "submitter"},
		{Submission{Submitter: "ci\x00"}, "submitter"},
		{Submission{Submitter: "ci team"}, "submitter"},
		{Submission{Submitter: "ci/bot"}, "submitter"},
		{Submission{Submitter: "caf\u00e9"}, "submitter"},
	}
	for _, tc := range cases {
		err := tc.s.Validate(now)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%+v: %v, want ErrInvalid mentioning %q", tc.s, err, tc.want)
		}
	}
	ok := Submission{Priority: 5, MaxAttempts: 3, Timeout: time.Minute, RunAt: now.Add(time.Hour), IdempotencyKey: "order-1"}
	if err := ok.Validate(now); err != nil {
		t.Fatal(err)
	}
	// The bounds themselves are taken; zero means the queue's default.
	for _, s := range []Submission{{Timeout: MinTimeout}, {Timeout: MaxTimeout}, {MaxAttempts: 1}, {MaxAttempts: MaxAttemptsLimit}, {}} {
		if err := s.Validate(now); err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
	}
	// Every token name is a valid submitter, the longest included.
	for _, name := range []string{"ci", "A.b_c-9", strings.Repeat("s", MaxSubmitterLen)} {
		s := Submission{Submitter: name}
		if err := s.Validate(now); err != nil {
			t.Fatalf("submitter %q: %v", name, err)
		}
	}
}

// Ensure that Permanent and RetryAfter wrap and unwrap, and ignore nil.
func TestHandlerErrors(t *testing.T) {
	base := errors.New("boom")
	var pe *PermanentError
	if !errors.As(Permanent(base), &pe) || !errors.Is(Permanent(base), base) || Permanent(nil) != nil {
		t.Fatal("Permanent")
	}
	var ra *RetryAfterError
	if !errors.As(RetryAfter(time.Second, base), &ra) || ra.After != time.Second || RetryAfter(time.Second, nil) != nil {
		t.Fatal("RetryAfter")
	}
}

// Ensure that the digest of a submission changes with every field that
// changes what runs, is the same for the same instant in any zone, and
// leaves out the scope of the key.
func TestSubmission_Digest(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	base := Submission{Payload: []byte(`{"a":1}`), IdempotencyKey: "k", Priority: 1, MaxAttempts: 2, Timeout: time.Minute, RunAt: at}
	d := base.Digest()
	if d.IsZero() {
		t.Fatal("zero digest")
	}
	same := base
	same.IdempotencyKey, same.Submitter, same.RunAt = "other", "ci", at.In(time.FixedZone("X", 3600))
	if same.Digest() != d {
		t.Fatal("the key, the submitter or the zone of run_at changed the digest")
	}
	for name, change := range map[string]func(s *Submission){
		"payload":      func(s *Submission) { s.Payload = []byte(`{"a": 1}`) },
		"priority":     func(s *Submission) { s.Priority = 0 },
		"max_attempts": func(s *Submission) { s.MaxAttempts = 0 },
		"timeout":      func(s *Submission) { s.Timeout = 0 },
		"run_at":       func(s *Submission) { s.RunAt = at.Add(time.Nanosecond) },
		"delay":        func(s *Submission) { s.RunAt, s.Delay = time.Time{}, time.Minute },
		"no run_at":    func(s *Submission) { s.RunAt = time.Time{} },
	} {
		s := base
		change(&s)
		if s.Digest() == d {
			t.Errorf("a different %s has the same digest", name)
		}
	}
	var zero Digest
	if !d.Matches(d) || !d.Matches(zero) || !zero.Matches(d) || d.Matches((&Submission{}).Digest()) {
		t.Fatal("Matches: equal or either zero, nothing else")
	}
}
