package client_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ticketq/ticketq/client"
	"github.com/ticketq/ticketq/job"
)

// Ensure that the client's views marshal to the API's shape and read back
// the same, the fields the API spells its own way included (a Job's and a
// lease's timeout, a queue's age): ticketq status prints a client.Job.
func TestTypes_JSONRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 4, 16, 15, 2, 95062904, time.UTC)
	for _, c := range []struct {
		name  string
		v     any
		fresh func() any
		want  string // a member of the JSON
	}{
		{"Job", &client.Job{
			Ticket: 7, Queue: "emails", State: job.Succeeded, Attempts: 2, MaxAttempts: 5, Timeout: 90 * time.Second,
			Interrupted: 1, Priority: -3, IdempotencyKey: "k", CreatedAt: at, UpdatedAt: at.Add(time.Second), RunAt: at,
			StartedAt: at, FinishedAt: at.Add(2 * time.Second), LastError: "boom", SubmittedBy: "ci", LeaseExpiresAt: at,
			Progress: 40, ProgressMessage: "half", ProgressAt: at, Payload: json.RawMessage(`{"to":"ada"}`),
			Result: json.RawMessage(`{"ok":true}`), Errors: []client.AttemptError{{Attempt: 1, At: at, Error: "boom"}},
		}, func() any { return &client.Job{} }, `"timeout":"1m30s"`},
		{"JobWithoutResultOrTimeout", &client.Job{Ticket: 8, Queue: "q", State: job.Queued, Payload: json.RawMessage(`null`)},
			func() any { return &client.Job{} }, `"result":null`},
		{"LeasedJob", &client.LeasedJob{
			Ticket: 9, Queue: "pull", Payload: json.RawMessage(`1`), Attempt: 1, MaxAttempts: 3, IdempotencyKey: "k",
			Timeout: 45 * time.Second, Lease: "L", LeaseExpiresAt: at,
		}, func() any { return &client.LeasedJob{} }, `"timeout":"45s"`},
		{"QueueStats", &client.QueueStats{
			Queue: "q", Kind: "push", Counts: map[job.State]int{job.Queued: 3}, InFlight: 1, OldestQueuedAge: 1500 * time.Millisecond,
			Limits: client.Limits{Workers: 4, Burst: 1},
		}, func() any { return &client.QueueStats{} }, `"oldest_queued_age_seconds":1.5`},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := json.Marshal(c.v)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), c.want) {
				t.Fatalf("marshaled %s, want %s in it", b, c.want)
			}
			back := c.fresh()
			if err := json.Unmarshal(b, back); err != nil {
				t.Fatalf("unmarshal %s: %v", b, err)
			}
			if !reflect.DeepEqual(back, c.v) {
				t.Fatalf("round trip:\n got  %+v\n want %+v\n via  %s", back, c.v, b)
			}
		})
	}
}
