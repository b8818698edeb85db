package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/httpapi"
)

// otherSubmitSecret is the secret of a second submit token, "cd", next to
// testTokens' "ci".
const otherSubmitSecret = "other-submit-0123456789"

// ownerBundle serves a real queue, whose waits it observes, with the test
// tokens and a second submit token.
type ownerBundle struct {
	*testBundle
	sq *signalingQueue
}

func setupOwners(t *testing.T) ownerBundle {
	t.Helper()
	q := openQueue(t, nil)
	sq := newSignalingQueue(q)
	tokens := append(testTokens[:len(testTokens):len(testTokens)], httpapi.Token{Name: "cd", Role: httpapi.RoleSubmit, Secret: otherSubmitSecret})
	return ownerBundle{serve(t, q, httpapi.New(sq, httpapi.Options{Tokens: tokens})), sq}
}

// get reads a ticket's view as secret, bounded by a deadline well below
// the server's longest wait, so that a request that waits fails the test
// instead of answering late.
func (tb ownerBundle) get(t *testing.T, secret, ticket, query string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return tb.request(t, ctx, http.MethodGet, "/v1/jobs/"+ticket+query, "", bearer(secret, false))
}

func (tb ownerBundle) post(t *testing.T, secret, body string) response {
	t.Helper()
	return tb.request(t, context.Background(), http.MethodPost, "/v1/queues/q/jobs", body, bearer(secret, true))
}

// notWaited fails the test if the queue was asked to wait.
func (tb ownerBundle) notWaited(t *testing.T) {
	t.Helper()
	select {
	case <-tb.sq.waiting:
		t.Fatal("the request waited on the job")
	default:
	}
}

// Ensure that a job records the token that submitted it, that a submit
// token reads only its own jobs (another's answers exactly as an unknown
// ticket, with or without a wait, and is never waited on), and that work
// and admin tokens read every job.
func TestAuth_SubmitReadsOwnJobs(t *testing.T) {
	tb := setupOwners(t)
	m := tb.post(t, submitSecret, `{"payload": 1}`).expect(t, http.StatusAccepted)
	mine := m["ticket"].(string)
	unknown := "999999"

	got := tb.get(t, submitSecret, mine, "").expect(t, http.StatusOK)
	if got["submitted_by"] != "ci" {
		t.Fatalf("submitted_by = %v, want ci", got["submitted_by"])
	}
	// The other submit token: a foreign ticket answers as an unknown one.
	for _, query := range []string{"", "?wait=60s"} {
		foreign := tb.get(t, otherSubmitSecret, mine, query)
		foreignMsg := foreign.expectError(t, http.StatusNotFound, "not_found")
		tb.notWaited(t)
		free := tb.get(t, otherSubmitSecret, unknown, query)
		freeMsg := free.expectError(t, http.StatusNotFound, "not_found")
		tb.notWaited(t)
		if strings.ReplaceAll(foreignMsg, mine, unknown) != freeMsg {
			t.Fatalf("GET %s%s: foreign ticket says %q, unknown ticket %q", mine, query, foreignMsg, freeMsg)
		}
		if strings.ReplaceAll(string(foreign.body), mine, unknown) != string(free.body) {
			t.Fatalf("bodies differ: %s vs %s", foreign.body, free.body)
		}
	}
	// Work and admin tokens read it, with who submitted it.
	for _, secret := range []string{workSecret, adminSecret} {
		if got := tb.get(t, secret, mine, "").expect(t, http.StatusOK); got["submitted_by"] != "ci" || got["ticket"] != mine {
			t.Fatalf("read by another role: %v", got)
		}
	}
	// The owner's wait does reach the queue: the check above is about the
	// token, not about waits.
	tb.request(t, context.Background(), http.MethodDelete, "/v1/jobs/"+mine, "", bearer(adminSecret, false)).expect(t, http.StatusOK)
	if got := tb.get(t, submitSecret, mine, "?wait=60s").expect(t, http.StatusOK); got["state"] != "canceled" {
		t.Fatalf("owner's wait: %v", got)
	}
	select {
	case <-tb.sq.waiting:
		<-tb.sq.waited
	default:
		t.Fatal("the owner's ?wait= did not wait on the job")
	}

	// Every token's name is recorded; the listing shows it too.
	byAdmin := tb.post(t, adminSecret, `{"payload": 2}`).expect(t, http.StatusAccepted)["ticket"].(string)
	if got := tb.get(t, adminSecret, byAdmin, "").expect(t, http.StatusOK); got["submitted_by"] != "ops" {
		t.Fatalf("admin's job: submitted_by = %v", got["submitted_by"])
	}
	tb.get(t, submitSecret, byAdmin, "").expectError(t, http.StatusNotFound, "not_found")
	list := tb.request(t, context.Background(), http.MethodGet, "/v1/queues/q/jobs", "", bearer(adminSecret, false)).expect(t, http.StatusOK)
	jobs, _ := list["jobs"].([]any)
	if len(jobs) != 2 {
		t.Fatalf("listing = %v", list)
	}
	for _, j := range jobs {
		if v := j.(map[string]any); v["submitted_by"] == nil {
			t.Fatalf("listed job without submitted_by: %v", v)
		}
	}
}

// Ensure that a job submitted without a token (by the embedding program)
// has no submitted_by, is read by work and admin tokens, and by no submit
// token.
func TestAuth_SubmitCannotReadAnonymousJobs(t *testing.T) {
	tb := setupOwners(t)
	r, err := tb.q.Submit(context.Background(), "q", ticketq.Submission{Payload: []byte(`1`)})
	must(t, err)
	tk := r.Ticket.String()
	for _, secret := range []string{submitSecret, otherSubmitSecret} {
		tb.get(t, secret, tk, "").expectError(t, http.StatusNotFound, "not_found")
		tb.get(t, secret, tk, "?wait=60s").expectError(t, http.StatusNotFound, "not_found")
		tb.notWaited(t)
	}
	got := tb.get(t, workSecret, tk, "").expect(t, http.StatusOK)
	if _, ok := got["submitted_by"]; ok {
		t.Fatalf("a job without a submitter shows submitted_by: %v", got)
	}
}

// Ensure that idempotency keys are scoped to the submitting token: another
// token's key stores a new job, the same token's key answers the original.
func TestAuth_IdempotencyKeyPerToken(t *testing.T) {
	tb := setupOwners(t)
	const body = `{"payload": 1, "idempotency_key": "order-1"}`
	first := tb.post(t, submitSecret, body).expect(t, http.StatusAccepted)["ticket"].(string)

	// B reusing A's key gets a job of its own, not A's ticket and state.
	other := tb.post(t, otherSubmitSecret, body)
	m := other.expect(t, http.StatusAccepted)
	theirs := m["ticket"].(string)
	if theirs == first || m["duplicate"] == true {
		t.Fatalf("B's submit with A's key: %s", other.body)
	}
	if got := tb.get(t, otherSubmitSecret, theirs, "").expect(t, http.StatusOK); got["submitted_by"] != "cd" {
		t.Fatalf("B's job: %v", got)
	}
	// Each token's repeat is a duplicate of its own job.
	for _, c := range []struct{ secret, want string }{{submitSecret, first}, {otherSubmitSecret, theirs}} {
		again := tb.post(t, c.secret, body).expect(t, http.StatusOK)
		if again["ticket"] != c.want || again["duplicate"] != true {
			t.Fatalf("repeat: %v, want a duplicate of %s", again, c.want)
		}
	}
	// A batch is scoped the same way.
	batch := tb.post(t, otherSubmitSecret, `{"jobs": [{"payload": 1, "idempotency_key": "order-1"}, {"payload": 2, "idempotency_key": "order-2"}]}`)
	items, _ := batch.expect(t, http.StatusAccepted)["jobs"].([]any)
	if len(items) != 2 || items[0].(map[string]any)["ticket"] != theirs || items[0].(map[string]any)["duplicate"] != true ||
		items[1].(map[string]any)["duplicate"] != false {
		t.Fatalf("batch: %s", batch.body)
	}
}

// Ensure that without tokens a job has no submitted_by and idempotency
// keys work as before.
func TestSubmit_NoTokenNoSubmitter(t *testing.T) {
	tb := setup(t, nil)
	const body = `{"payload": 1, "idempotency_key": "k"}`
	tk := tb.submit(t, "q", body)
	expectKeys(t, tb.do(t, http.MethodGet, "/v1/jobs/"+tk, "").expect(t, http.StatusOK), append(jobKeys, "idempotency_key")...)
	if again := tb.do(t, http.MethodPost, "/v1/queues/q/jobs", body).expect(t, http.StatusOK); again["ticket"] != tk {
		t.Fatalf("repeat = %v, want %s", again, tk)
	}
}

// Ensure that a submit token cancels the jobs it submitted, and that
// another token's job, an anonymous one or an unknown ticket answer it
// 404 not_found alike and are left as they are.
func TestAuth_SubmitCancelsOwnJobs(t *testing.T) {
	tb := setupOwners(t)
	del := func(secret, ticket string) response {
		t.Helper()
		return tb.request(t, context.Background(), http.MethodDelete, "/v1/jobs/"+ticket, "", bearer(secret, false))
	}
	mine := tb.post(t, submitSecret, `{"payload": 1}`).expect(t, http.StatusAccepted)["ticket"].(string)
	theirs := tb.post(t, otherSubmitSecret, `{"payload": 2}`).expect(t, http.StatusAccepted)["ticket"].(string)
	r, err := tb.q.Submit(context.Background(), "q", ticketq.Submission{Payload: []byte(`3`)})
	must(t, err)
	anonymous := r.Ticket.String()
	unknown := "999999"

	before := tb.snapshot(t)
	free := del(submitSecret, unknown)
	freeMsg := free.expectError(t, http.StatusNotFound, "not_found")
	for _, tk := range []string{theirs, anonymous} {
		foreign := del(submitSecret, tk)
		if msg := foreign.expectError(t, http.StatusNotFound, "not_found"); strings.ReplaceAll(msg, tk, unknown) != freeMsg {
			t.Fatalf("DELETE %s: foreign ticket says %q, unknown ticket %q", tk, msg, freeMsg)
		}
	}
	if after := tb.snapshot(t); after != before {
		t.Fatalf("refused cancels changed the state:\nbefore %s\nafter  %s", before, after)
	}

	if got := del(submitSecret, mine).expect(t, http.StatusOK); got["state"] != "canceled" || got["ticket"] != mine {
		t.Fatalf("cancel of its own job = %v", got)
	}
	del(submitSecret, mine).expectError(t, http.StatusConflict, "already_final")
	// Its own canceled job waits and reads as any other of its jobs.
	if got := tb.get(t, submitSecret, mine, "?wait=60s").expect(t, http.StatusOK); got["state"] != "canceled" {
		t.Fatalf("wait on its own canceled job = %v", got)
	}
	<-tb.sq.waiting
	<-tb.sq.waited
	// Admin cancels anyone's; a work token none.
	del(workSecret, theirs).expectError(t, http.StatusForbidden, "forbidden")
	if got := del(adminSecret, theirs).expect(t, http.StatusOK); got["state"] != "canceled" {
		t.Fatalf("admin's cancel = %v", got)
	}
}
