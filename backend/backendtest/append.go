package backendtest

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
)

// Ensure that an appended job is stored with every field it was given.
func testAppendSingle(t *testing.T, tb *bundle) {
	runAt := tb.clock.Now().Add(time.Minute)
	r := tb.submit(t, "mail", job.Submission{
		Payload: []byte(`{"to":"a@b"}`), IdempotencyKey: "k1", Priority: 7,
		MaxAttempts: 4, Timeout: 9 * time.Second, RunAt: runAt, Submitter: "ci",
	})
	if r[0].Ticket == 0 || r[0].State != job.Queued || r[0].Duplicate {
		t.Fatalf("receipt = %+v", r[0])
	}
	j := tb.get(t, r[0].Ticket)
	switch {
	case j.Queue != "mail", j.State != job.Queued, !bytes.Equal(j.Payload, []byte(`{"to":"a@b"}`)),
		j.IdempotencyKey != "k1", j.Submitter != "ci", j.Priority != 7, j.MaxAttempts != 4, j.Timeout != 9*time.Second,
		!j.RunAt.Equal(runAt), !j.CreatedAt.Equal(tb.clock.Now()), j.Attempt != 0, j.Lease != "":
		t.Fatalf("stored job = %+v", j)
	}
	wantCounts(t, tb.counts(t, "mail"), map[job.State]int{job.Queued: 1})
}

// Ensure that tickets grow in arrival order across batches.
func testAppendArrivalOrder(t *testing.T, tb *bundle) {
	a := tb.submit(t, "q", job.Submission{}, job.Submission{})
	b := tb.submit(t, "other", job.Submission{})
	c := tb.submit(t, "q", job.Submission{})
	all := append(append(tickets(a), tickets(b)...), tickets(c)...)
	for i := 1; i < len(all); i++ {
		if all[i] <= all[i-1] {
			t.Fatalf("tickets %v are not increasing", all)
		}
	}
}

// Ensure that a repeated idempotency key returns the first ticket, stores
// nothing, and is scoped to its queue.
func testAppendIdempotent(t *testing.T, tb *bundle) {
	first := tb.submit(t, "q", job.Submission{IdempotencyKey: "order-1", Payload: []byte(`1`)})
	again := tb.submit(t, "q", job.Submission{IdempotencyKey: "order-1", Payload: []byte(`2`)})
	if again[0].Ticket != first[0].Ticket || !again[0].Duplicate || again[0].State != job.Queued {
		t.Fatalf("repeat receipt = %+v, first = %+v", again[0], first[0])
	}
	if j := tb.get(t, first[0].Ticket); string(j.Payload) != "1" {
		t.Fatalf("payload changed to %s", j.Payload)
	}
	wantCounts(t, tb.counts(t, "q"), map[job.State]int{job.Queued: 1})
	other := tb.submit(t, "q2", job.Submission{IdempotencyKey: "order-1"})
	if other[0].Duplicate || other[0].Ticket == first[0].Ticket {
		t.Fatalf("key leaked across queues: %+v", other[0])
	}
	// The receipt of a duplicate reports the original's current state.
	res := tb.claim(t, "q", 1)
	tb.settle(t, backend.Settlement{Ticket: res.Jobs[0].Ticket, Lease: res.Jobs[0].Lease, Outcome: backend.Succeeded})
	late := tb.submit(t, "q", job.Submission{IdempotencyKey: "order-1"})
	if late[0].State != job.Succeeded || !late[0].Duplicate {
		t.Fatalf("receipt after success = %+v", late[0])
	}
}

// Ensure that idempotency keys are scoped to their submitter: the same key
// from another submitter (or from none) stores a new job, the same key
// from the same submitter is a duplicate, across batches and inside one.
func testAppendIdempotentPerSubmitter(t *testing.T, tb *bundle) {
	alice := tb.submit(t, "q", job.Submission{IdempotencyKey: "k", Submitter: "alice", Payload: []byte(`"a"`)})
	bob := tb.submit(t, "q", job.Submission{IdempotencyKey: "k", Submitter: "bob", Payload: []byte(`"b"`)})
	anon := tb.submit(t, "q", job.Submission{IdempotencyKey: "k", Payload: []byte(`"n"`)})
	if bob[0].Duplicate || anon[0].Duplicate || bob[0].Ticket == alice[0].Ticket || anon[0].Ticket == alice[0].Ticket || anon[0].Ticket == bob[0].Ticket {
		t.Fatalf("one key from three submitters: alice %+v, bob %+v, none %+v", alice[0], bob[0], anon[0])
	}
	for _, c := range []struct {
		submitter string
		want      []job.Receipt
	}{{"alice", alice}, {"bob", bob}, {"", anon}} {
		again := tb.submit(t, "q", job.Submission{IdempotencyKey: "k", Submitter: c.submitter})
		if !again[0].Duplicate || again[0].Ticket != c.want[0].Ticket {
			t.Fatalf("repeat by %q = %+v, want a duplicate of %s", c.submitter, again[0], c.want[0].Ticket)
		}
		if j := tb.get(t, c.want[0].Ticket); j.Submitter != c.submitter {
			t.Fatalf("ticket %s has submitter %q, want %q", j.Ticket, j.Submitter, c.submitter)
		}
	}
	// The scope keeps submitter and key apart: "alic" with key "ex" is
	// not "alice" with key "x", though both spell "alicex".
	r := tb.submit(t, "q",
		job.Submission{IdempotencyKey: "x", Submitter: "alice"},
		job.Submission{IdempotencyKey: "x", Submitter: "bob"},
		job.Submission{IdempotencyKey: "x", Submitter: "alice"},
		job.Submission{IdempotencyKey: "ex", Submitter: "alic"},
	)
	if r[0].Duplicate || r[1].Duplicate || r[1].Ticket == r[0].Ticket || !r[2].Duplicate || r[2].Ticket != r[0].Ticket ||
		r[3].Duplicate || r[3].Ticket == r[0].Ticket {
		t.Fatalf("batch receipts = %+v", r)
	}
	wantCounts(t, tb.counts(t, "q"), map[job.State]int{job.Queued: 6})
}

// Ensure that a key repeated inside one batch stores one job (without
// digests, which match anything).
func testAppendIdempotentWithinBatch(t *testing.T, tb *bundle) {
	r := tb.submit(t, "q", job.Submission{IdempotencyKey: "x"}, job.Submission{}, job.Submission{IdempotencyKey: "x"})
	if r[0].Duplicate || r[2].Ticket != r[0].Ticket || !r[2].Duplicate || r[1].Ticket == r[0].Ticket {
		t.Fatalf("receipts = %+v", r)
	}
	wantCounts(t, tb.counts(t, "q"), map[job.State]int{job.Queued: 2})
}

// Ensure that a known key is a duplicate only when the request repeats the
// one that stored it: a different digest, stored or earlier in the batch,
// refuses the whole batch with ErrIdempotencyKeyReused and stores nothing;
// a zero digest on either side (a job stored before digests existed, a
// caller that gives none) matches; a job keeps its digest.
func testAppendKeyReused(t *testing.T, tb *bundle) {
	sub := func(key, payload string) job.Submission {
		return job.Submission{IdempotencyKey: key, Payload: []byte(payload), MaxAttempts: 3}
	}
	digest := func(payload string) job.Digest { return (&job.Submission{Payload: []byte(payload)}).Digest() }
	appendWith := func(jobs []job.Submission, digests ...job.Digest) ([]job.Receipt, error) {
		return tb.b.Append(tb.ctx, backend.AppendRequest{Queue: "q", Jobs: jobs, Digests: digests})
	}
	first, err := appendWith([]job.Submission{sub("k", "1")}, digest("1"))
	if err != nil {
		t.Fatal(err)
	}
	if j := tb.get(t, first[0].Ticket); j.Digest != digest("1") {
		t.Fatalf("stored digest %x, want %x", j.Digest, digest("1"))
	}
	again, err := appendWith([]job.Submission{sub("k", "1")}, digest("1"))
	if err != nil || !again[0].Duplicate || again[0].Ticket != first[0].Ticket {
		t.Fatalf("the same request again: %+v, %v", again, err)
	}
	_, err = appendWith([]job.Submission{sub("k", "2")}, digest("2"))
	wantErr(t, err, job.ErrIdempotencyKeyReused)
	wantErr(t, err, job.ErrConflict)
	// Whole batches are refused: the new job beside the reused key is not
	// stored either.
	_, err = appendWith([]job.Submission{sub("fresh", "3"), sub("k", "2")}, digest("3"), digest("2"))
	wantErr(t, err, job.ErrIdempotencyKeyReused)
	_, err = appendWith([]job.Submission{sub("twin", "4"), sub("twin", "5")}, digest("4"), digest("5"))
	wantErr(t, err, job.ErrIdempotencyKeyReused)
	wantCounts(t, tb.counts(t, "q"), map[job.State]int{job.Queued: 1})
	// Twins that are the same request are one job.
	r, err := appendWith([]job.Submission{sub("twin", "4"), sub("twin", "4")}, digest("4"), digest("4"))
	if err != nil || r[0].Duplicate || !r[1].Duplicate || r[1].Ticket != r[0].Ticket {
		t.Fatalf("identical twins: %+v, %v", r, err)
	}
	// Zero digests match either way.
	legacy := tb.submit(t, "q", sub("legacy", "6"))
	if j := tb.get(t, legacy[0].Ticket); !j.Digest.IsZero() {
		t.Fatalf("a job appended without a digest has %x", j.Digest)
	}
	if r, err := appendWith([]job.Submission{sub("legacy", "7")}, digest("7")); err != nil || !r[0].Duplicate {
		t.Fatalf("a digest against a stored zero one: %+v, %v", r, err)
	}
	if r, err := appendWith([]job.Submission{sub("k", "8")}); err != nil || !r[0].Duplicate || r[0].Ticket != first[0].Ticket {
		t.Fatalf("no digest against a stored one: %+v, %v", r, err)
	}
	// A job without a key keeps no digest: there is nothing to compare.
	plain, err := appendWith([]job.Submission{{Payload: []byte("9"), MaxAttempts: 3}}, digest("9"))
	if err != nil {
		t.Fatal(err)
	}
	if j := tb.get(t, plain[0].Ticket); !j.Digest.IsZero() {
		t.Fatalf("a job without a key kept digest %x", j.Digest)
	}
	_, err = appendWith([]job.Submission{sub("z", "1"), sub("y", "1")}, digest("1"))
	wantErr(t, err, job.ErrInvalid)
	wantCounts(t, tb.counts(t, "q"), map[job.State]int{job.Queued: 4})
}

// Ensure that a batch that would exceed MaxQueued is refused whole.
func testAppendQueueFull(t *testing.T, tb *bundle) {
	req := backend.AppendRequest{Queue: "q", MaxQueued: 3, Jobs: []job.Submission{{MaxAttempts: 1}, {MaxAttempts: 1}}}
	if _, err := tb.b.Append(tb.ctx, req); err != nil {
		t.Fatal(err)
	}
	_, err := tb.b.Append(tb.ctx, req)
	wantErr(t, err, job.ErrQueueFull)
	wantCounts(t, tb.counts(t, "q"), map[job.State]int{job.Queued: 2})
	// Duplicates take no room: a batch of known keys passes a full queue.
	keyed := backend.AppendRequest{Queue: "q", MaxQueued: 3, Jobs: []job.Submission{{MaxAttempts: 1, IdempotencyKey: "a"}}}
	if _, err := tb.b.Append(tb.ctx, keyed); err != nil {
		t.Fatal(err)
	}
	r, err := tb.b.Append(tb.ctx, keyed)
	if err != nil || !r[0].Duplicate {
		t.Fatalf("duplicate on a full queue: %+v, %v", r, err)
	}
	// A refused append to an unknown queue does not create it.
	_, err = tb.b.Append(tb.ctx, backend.AppendRequest{Queue: "new", MaxQueued: 1, Jobs: []job.Submission{{MaxAttempts: 1}, {MaxAttempts: 1}}})
	wantErr(t, err, job.ErrQueueFull)
	if _, err := tb.b.Stats(tb.ctx, "new"); !errorsIs(err, job.ErrNotFound) {
		t.Fatalf("refused append created the queue: %v", err)
	}
}

// Ensure that invalid input is refused, changes nothing, and does not stop
// the store (Err stays nil).
func testAppendInvalid(t *testing.T, tb *bundle) {
	tb.submit(t, "q", job.Submission{})
	cases := []backend.AppendRequest{
		{Queue: "", Jobs: []job.Submission{{MaxAttempts: 1}}},
		{Queue: "bad/name", Jobs: []job.Submission{{MaxAttempts: 1}}},
		{Queue: "q", Jobs: nil},
		{Queue: "q", Jobs: []job.Submission{{MaxAttempts: 1}, {MaxAttempts: 1, Priority: job.MaxPriority + 1}}},
		{Queue: "q", Jobs: []job.Submission{{MaxAttempts: 0}}},
		{Queue: "q", Jobs: []job.Submission{{MaxAttempts: 1, RunAt: tb.clock.Now().Add(job.MaxDelay + time.Hour)}}},
		{Queue: "q", Jobs: []job.Submission{{MaxAttempts: 1, IdempotencyKey: "k", Submitter: "ci\x00"}}},
		{Queue: "q", Jobs: []job.Submission{{MaxAttempts: 1, Submitter: strings.Repeat("s", job.MaxSubmitterLen+1)}}},
	}
	for i, req := range cases {
		_, err := tb.b.Append(tb.ctx, req)
		if !errorsIs(err, job.ErrInvalid) {
			t.Fatalf("case %d: error = %v, want ErrInvalid", i, err)
		}
	}
	wantCounts(t, tb.counts(t, "q"), map[job.State]int{job.Queued: 1})
	names, err := tb.b.Queues(tb.ctx)
	if err != nil || len(names) != 1 {
		t.Fatalf("queues = %v, %v", names, err)
	}
	// Bad input is the caller's failure, not the store's: it still serves.
	if err := tb.b.Err(); err != nil {
		t.Fatalf("Err after refused appends = %v, want nil", err)
	}
}

// Ensure that concurrent appends each get distinct tickets.
func testAppendConcurrent(t *testing.T, tb *bundle) {
	const writers, each = 16, 20
	var mu sync.Mutex
	seen := map[job.Ticket]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r, err := tb.b.Append(tb.ctx, backend.AppendRequest{Queue: "q", Jobs: []job.Submission{
					{MaxAttempts: 1, IdempotencyKey: fmt.Sprintf("%d-%d", w, i)},
				}})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				seen[r[0].Ticket] = true
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != writers*each {
		t.Fatalf("%d distinct tickets, want %d", len(seen), writers*each)
	}
	wantCounts(t, tb.counts(t, "q"), map[job.State]int{job.Queued: writers * each})
}
