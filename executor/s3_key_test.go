package executor

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ticketq/ticketq/job"
)

// Ensure that every placeholder expands from the job alone: the date is the
// UTC day of CreatedAt, and a missing idempotency key becomes the ticket.
func TestS3Key(t *testing.T) {
	j := &job.Job{
		Ticket:         7,
		Queue:          "thumbs",
		IdempotencyKey: "order-9/v2",
		CreatedAt:      time.Date(2024, 12, 31, 22, 0, 0, 0, time.FixedZone("UTC-3", -3*3600)),
	}
	noKey := *j
	noKey.IdempotencyKey = ""
	for _, tc := range []struct {
		name, template string
		job            *job.Job
		want           string
	}{
		{"default", DefaultS3Key, j, "thumbs/2025-01-01/7.json"},
		{"ticket only", "{ticket}", j, "7"},
		{"idempotency key", "{queue}/{idempotency_key}.bin", j, "thumbs/order-9/v2.bin"},
		{"no idempotency key", "{queue}/{idempotency_key}.bin", &noKey, "thumbs/7.bin"},
		{"repeated", "{ticket}-{ticket}/{date}{date}", j, "7-7/2025-01-012025-01-01"},
		{"literal text around", "out/day={date}/t={ticket}/x.json", j, "out/day=2025-01-01/t=7/x.json"},
		{"non-ASCII", "données/{ticket}", j, "données/7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := S3Key(tc.template, tc.job)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("S3Key(%q) = %q, want %q", tc.template, got, tc.want)
			}
		})
	}
}

// Ensure that templates that could not give each job one valid,
// deterministic key are refused, saying why.
func TestS3Key_Invalid(t *testing.T) {
	for _, tc := range []struct{ name, template, want string }{
		{"empty", "", "key template is empty"},
		{"no ticket or idempotency key", "{queue}/{date}.json", "needs {ticket} or {idempotency_key}"},
		{"unknown placeholder", "{queue}/{now}/{ticket}", "unknown placeholder {now}"},
		{"leading slash", "/{queue}/{ticket}", "starts with '/'"},
		{"unclosed", "{queue}/{ticket", "unbalanced brace"},
		{"stray close", "{queue}}/{ticket}", "unbalanced brace"},
		{"nested", "{que{ticket}ue}", "unbalanced brace"},
		{"empty placeholder", "{}/{ticket}", "unknown placeholder {}"},
		{"control character", "{ticket}\n.json", "control character"},
		{"too long", strings.Repeat("a", MaxS3KeyLen) + "{ticket}", "1024 bytes besides its placeholders, too many"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := S3Key(tc.template, testJob())
			if !errors.Is(err, job.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("S3Key(%q) = %q, %v; want an invalid-input error containing %q", tc.template, got, err, tc.want)
			}
		})
	}
}

// Ensure that a key that only this job makes invalid is refused when it is
// expanded: too long, or starting with '/'.
func TestS3Key_InvalidForJob(t *testing.T) {
	j := testJob()
	j.IdempotencyKey = strings.Repeat("k", job.MaxIdempotencyKeyLen)
	if _, err := S3Key(strings.Repeat("a", 800)+"{idempotency_key}", j); !errors.Is(err, job.ErrInvalid) || !strings.Contains(err.Error(), "1056 bytes long") {
		t.Errorf("long key: error = %v, want the key's length", err)
	}
	j.IdempotencyKey = "/etc"
	if _, err := S3Key("{idempotency_key}", j); !errors.Is(err, job.ErrInvalid) || !strings.Contains(err.Error(), "starts with '/'") {
		t.Errorf("leading slash: error = %v, want it refused", err)
	}
}
