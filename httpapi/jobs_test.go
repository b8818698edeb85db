package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/httpapi"
)

// Ensure that submits answer with their tickets and store what was asked.
func TestServer_Submit(t *testing.T) {
	// Ensure that a single job is accepted with 202, its ticket and Location.
	t.Run("Single", func(t *testing.T) {
		tb := setup(t, nil)
		r := tb.do(t, http.MethodPost, "/v1/queues/q/jobs", `{"payload": {"n": 1}}`)
		m := r.expect(t, http.StatusAccepted)
		if want := map[string]any{"ticket": "1", "queue": "q", "state": "queued"}; !reflect.DeepEqual(m, want) {
			t.Fatalf("body = %v, want %v", m, want)
		}
		if loc := r.header.Get("Location"); loc != "/v1/jobs/1" {
			t.Fatalf("Location = %q", loc)
		}
		j := tb.do(t, http.MethodGet, "/v1/jobs/1", "").expect(t, http.StatusOK)
		if p, _ := json.Marshal(j["payload"]); string(p) != `{"n":1}` {
			t.Fatalf("stored payload = %s", p)
		}
	})

	// Ensure that an explicit null is a payload (a job that needs no input),
	// stored and shown as null.
	t.Run("NullPayload", func(t *testing.T) {
		tb := setup(t, nil)
		tk := tb.submit(t, "q", `{"payload": null}`)
		j := tb.do(t, http.MethodGet, "/v1/jobs/"+tk, "").expect(t, http.StatusOK)
		if p, ok := j["payload"]; !ok || p != nil {
			t.Fatalf("payload = %v (present %v), want null", p, ok)
		}
	})

	// Ensure that JSON the strict rules allow is stored as sent: keys that
	// differ only in case inside a payload, the same key in two objects, a
	// surrogate pair; and that the job view reads back with a strict parser.
	t.Run("StrictButValid", func(t *testing.T) {
		tb := setup(t, nil)
		payload := `{"a":1,"A":2,"x":{"a":3},"y":{"a":4},"s":"\ud83d\ude00"}`
		tk := tb.submit(t, "q", `{"payload": `+payload+`}`)
		r := tb.do(t, http.MethodGet, "/v1/jobs/"+tk, "")
		var view struct{ Payload json.RawMessage }
		must(t, json.Unmarshal(r.body, &view))
		if string(view.Payload) != payload {
			t.Fatalf("payload = %s, want %s", view.Payload, payload)
		}
		var decoded map[string]any
		must(t, json.Unmarshal(view.Payload, &decoded))
		if decoded["s"] != "😀" || decoded["a"] != 1.0 || decoded["A"] != 2.0 {
			t.Fatalf("payload decodes to %v", decoded)
		}
	})

	// Ensure that a repeated idempotency key answers 200 with the original
	// ticket when the request is the same, 409 idempotency_key_reused when
	// it is not, and changes nothing either way.
	t.Run("Idempotent", func(t *testing.T) {
		tb := setup(t, nil)
		first := tb.submit(t, "q", `{"payload": 1, "idempotency_key": "k", "delay": "1h"}`)
		before := tb.snapshot(t)
		r := tb.do(t, http.MethodPost, "/v1/queues/q/jobs", `{"idempotency_key": "k", "delay": "1h", "payload": 1}`)
		m := r.expect(t, http.StatusOK)
		want := map[string]any{"ticket": first, "queue": "q", "state": "queued", "duplicate": true}
		if !reflect.DeepEqual(m, want) {
			t.Fatalf("body = %v, want %v", m, want)
		}
		if loc := r.header.Get("Location"); loc != "/v1/jobs/"+first {
			t.Fatalf("Location = %q", loc)
		}
		r = tb.do(t, http.MethodPost, "/v1/queues/q/jobs", `{"payload": 2, "idempotency_key": "k", "delay": "1h"}`)
		if msg := r.expectError(t, http.StatusConflict, "idempotency_key_reused"); !strings.Contains(msg, "ticket "+first) {
			t.Fatalf("message %q does not name the ticket the key holds", msg)
		}
		if after := tb.snapshot(t); after != before {
			t.Fatalf("the repeats changed the state:\nbefore %s\nafter  %s", before, after)
		}
		j := tb.do(t, http.MethodGet, "/v1/jobs/"+first, "").expect(t, http.StatusOK)
		if j["payload"] != json.Number("1") || j["idempotency_key"] != "k" {
			t.Fatalf("job = %v", j)
		}
	})

	// Ensure that a batch answers 202 with every ticket in order, and 200
	// when every job of it was a duplicate.
	t.Run("Batch", func(t *testing.T) {
		tb := setup(t, nil)
		body := `{"jobs": [{"payload": 1}, {"payload": 2, "idempotency_key": "b"}]}`
		m := tb.do(t, http.MethodPost, "/v1/queues/q/jobs", body).expect(t, http.StatusAccepted)
		want := map[string]any{
			"tickets": []any{"1", "2"},
			"jobs": []any{
				map[string]any{"ticket": "1", "state": "queued", "duplicate": false},
				map[string]any{"ticket": "2", "state": "queued", "duplicate": false},
			},
		}
		if !reflect.DeepEqual(m, want) {
			t.Fatalf("body = %v, want %v", m, want)
		}
		m = tb.do(t, http.MethodPost, "/v1/queues/q/jobs", `{"jobs": [{"payload": 2, "idempotency_key": "b"}]}`).expect(t, http.StatusOK)
		want = map[string]any{
			"tickets": []any{"2"},
			"jobs":    []any{map[string]any{"ticket": "2", "state": "queued", "duplicate": true}},
		}
		if !reflect.DeepEqual(m, want) {
			t.Fatalf("all-duplicate body = %v, want %v", m, want)
		}
	})

	// Ensure that two jobs of one batch with the same key are one request
	// made twice when they are the same: one job is stored, and both get
	// its ticket, the second marked duplicate.
	t.Run("BatchSameKeyTwice", func(t *testing.T) {
		tb := setup(t, nil)
		m := tb.do(t, http.MethodPost, "/v1/queues/q/jobs", `{"jobs": [{"payload": 1, "idempotency_key": "t"}, {"payload": 2}, {"payload": 1, "idempotency_key": "t"}]}`).expect(t, http.StatusAccepted)
		want := map[string]any{
			"tickets": []any{"1", "2", "1"},
			"jobs": []any{
				map[string]any{"ticket": "1", "state": "queued", "duplicate": false},
				map[string]any{"ticket": "2", "state": "queued", "duplicate": false},
				map[string]any{"ticket": "1", "state": "queued", "duplicate": true},
			},
		}
		if !reflect.DeepEqual(m, want) {
			t.Fatalf("body = %v, want %v", m, want)
		}
		st := tb.do(t, http.MethodGet, "/v1/queues/q", "").expect(t, http.StatusOK)
		if st["counts"].(map[string]any)["queued"] != json.Number("2") {
			t.Fatalf("stats = %v, want 2 jobs stored", st)
		}
	})

	// Ensure that priority, max_attempts, timeout and delay are stored.
	t.Run("Options", func(t *testing.T) {
		tb := setup(t, nil)
		before := time.Now()
		tk := tb.submit(t, "q", `{"payload": "x", "priority": 7, "max_attempts": 3, "timeout": "30s", "delay": "1h"}`)
		after := time.Now()
		j := tb.do(t, http.MethodGet, "/v1/jobs/"+tk, "").expect(t, http.StatusOK)
		if j["priority"] != json.Number("7") || j["max_attempts"] != json.Number("3") || j["timeout"] != "30s" {
			t.Fatalf("job = %v", j)
		}
		runAt := parseTime(t, j["run_at"])
		if runAt.Before(before.Add(time.Hour)) || runAt.After(after.Add(time.Hour)) {
			t.Fatalf("run_at %s is not an hour after the submit (%s..%s)", runAt, before, after)
		}
	})

	// Ensure that the job view shows the timeout in force: the queue's when
	// the job gives none, and the shortest a job may ask for as it was.
	t.Run("Timeout", func(t *testing.T) {
		tb := setup(t, nil)
		for body, want := range map[string]string{`{"payload": 1}`: "10m0s", `{"payload": 1, "timeout": "1s"}`: "1s", `{"payload": 1, "timeout": "168h"}`: "168h0m0s"} {
			tk := tb.submit(t, "q", body)
			if j := tb.do(t, http.MethodGet, "/v1/jobs/"+tk, "").expect(t, http.StatusOK); j["timeout"] != want {
				t.Errorf("%s: timeout %v, want %s", body, j["timeout"], want)
			}
		}
	})

	// Ensure that run_at is stored and shown in UTC.
	t.Run("RunAt", func(t *testing.T) {
		tb := setup(t, nil)
		at := time.Now().Add(2 * time.Hour).Truncate(time.Second).In(time.FixedZone("CEST", 2*3600))
		tk := tb.submit(t, "q", `{"payload": 1, "run_at": "`+at.Format(time.RFC3339)+`"}`)
		j := tb.do(t, http.MethodGet, "/v1/jobs/"+tk, "").expect(t, http.StatusOK)
		if want := at.UTC().Format(time.RFC3339Nano); j["run_at"] != want {
			t.Fatalf("run_at = %v, want %s", j["run_at"], want)
		}
	})
}

// Ensure that a job's view has exactly the documented fields.
func TestServer_Status(t *testing.T) {
	tb := setup(t, func(q *ticketq.Queue) {
		must(t, q.Handle("ok", func(ctx context.Context, j *ticketq.Job) ([]byte, error) {
			return []byte(`{"ok": true}`), nil
		}, fast))
		must(t, q.Handle("text", func(ctx context.Context, j *ticketq.Job) ([]byte, error) {
			return []byte("plain text"), nil
		}, fast))
		must(t, q.Handle("bad", func(ctx context.Context, j *ticketq.Job) ([]byte, error) {
			return nil, ticketq.Permanent(errors.New("bad payload"))
		}, fast))
	})

	// Ensure that a succeeded job shows its JSON result and payload as JSON.
	t.Run("Succeeded", func(t *testing.T) {
		tk := tb.submit(t, "ok", `{"payload": {"a": [1, 2]}}`)
		j := tb.do(t, http.MethodGet, "/v1/jobs/"+tk+"?wait=20s", "").expect(t, http.StatusOK)
		expectKeys(t, j, jobKeys...)
		want := map[string]any{"ticket": tk, "queue": "ok", "state": "succeeded", "attempts": json.Number("1"),
			"max_attempts": json.Number("10"), "interrupted": json.Number("0"), "priority": json.Number("0")}
		for k, v := range want {
			if j[k] != v {
				t.Fatalf("%s = %v, want %v", k, j[k], v)
			}
		}
		for _, k := range []string{"created_at", "updated_at", "run_at", "started_at", "finished_at"} {
			parseTime(t, j[k])
		}
		if r, _ := json.Marshal(j["result"]); string(r) != `{"ok":true}` {
			t.Fatalf("result = %s", r)
		}
		if p, _ := json.Marshal(j["payload"]); string(p) != `{"a":[1,2]}` {
			t.Fatalf("payload = %s", p)
		}
		if e, ok := j["errors"].([]any); !ok || len(e) != 0 {
			t.Fatalf("errors = %#v, want []", j["errors"])
		}
	})

	// Ensure that a result that is not JSON is shown as a JSON string.
	t.Run("TextResult", func(t *testing.T) {
		tk := tb.submit(t, "text", `{"payload": 1}`)
		j := tb.do(t, http.MethodGet, "/v1/jobs/"+tk+"?wait=20s", "").expect(t, http.StatusOK)
		if j["result"] != "plain text" {
			t.Fatalf("result = %#v", j["result"])
		}
	})

	// Ensure that a dead job shows its error history and last_error.
	t.Run("Dead", func(t *testing.T) {
		tk := tb.submit(t, "bad", `{"payload": 1, "idempotency_key": "dead-1"}`)
		j := tb.do(t, http.MethodGet, "/v1/jobs/"+tk+"?wait=20s", "").expect(t, http.StatusOK)
		expectKeys(t, j, append(jobKeys, "last_error", "idempotency_key")...)
		errs, _ := j["errors"].([]any)
		if j["state"] != "dead" || j["result"] != nil || len(errs) != 1 {
			t.Fatalf("job = %v", j)
		}
		e := errs[0].(map[string]any)
		expectKeys(t, e, "attempt", "at", "error")
		if e["attempt"] != json.Number("1") || e["error"] != j["last_error"] {
			t.Fatalf("error entry = %v, last_error %v", e, j["last_error"])
		}
		parseTime(t, e["at"])
	})

	// Ensure that a queued job shows null for the times that have not come.
	t.Run("Queued", func(t *testing.T) {
		tk := tb.submit(t, "idle", `{"payload": 1}`)
		j := tb.do(t, http.MethodGet, "/v1/jobs/"+tk, "").expect(t, http.StatusOK)
		if j["state"] != "queued" || j["started_at"] != nil || j["finished_at"] != nil || j["result"] != nil {
			t.Fatalf("job = %v", j)
		}
	})
}

// Ensure that ?wait= long-polls until the job is final, and no longer than
// asked or than the client stays.
func TestServer_Wait(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	q := openQueue(t, func(q *ticketq.Queue) {
		must(t, q.Handle("work", func(ctx context.Context, j *ticketq.Job) ([]byte, error) {
			started <- struct{}{}
			select {
			case <-release:
				return []byte(`"done"`), nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}, fast))
	})
	sq := newSignalingQueue(q)
	tb := serve(t, q, httpapi.New(sq, httpapi.Options{}))

	// Ensure that the long-poll answers once the handler finishes the job.
	t.Run("UntilFinal", func(t *testing.T) {
		tk := tb.submit(t, "work", `{"payload": 1}`)
		<-started
		res := tb.getAsync("/v1/jobs/" + tk + "?wait=30s")
		<-sq.waiting // the request is waiting, the job is still running
		close(release)
		j := (<-res).wait(t).expect(t, http.StatusOK)
		if j["state"] != "succeeded" || j["result"] != "done" {
			t.Fatalf("job = %v", j)
		}
		if err := <-sq.waited; err != nil {
			t.Fatalf("wait ended with %v", err)
		}
	})

	// Ensure that the long-poll answers the job as it is when the wait passes.
	t.Run("Passes", func(t *testing.T) {
		tk := tb.submit(t, "idle", `{"payload": 1}`)
		j := tb.do(t, http.MethodGet, "/v1/jobs/"+tk+"?wait=50ms", "").expect(t, http.StatusOK)
		<-sq.waiting
		if err := <-sq.waited; !errors.Is(err, context.DeadlineExceeded) || j["state"] != "queued" {
			t.Fatalf("job = %v after %v", j, err)
		}
	})

	// Ensure that the long-poll ends when the client goes away.
	t.Run("ClientGone", func(t *testing.T) {
		tk := tb.submit(t, "idle", `{"payload": 1}`)
		ctx, cancel := context.WithCancel(context.Background())
		sent := make(chan error, 1)
		go func() {
			_, err := tb.send(ctx, http.MethodGet, "/v1/jobs/"+tk+"?wait=60s", "", nil)
			sent <- err
		}()
		<-sq.waiting
		cancel()
		if err := <-sq.waited; !errors.Is(err, context.Canceled) {
			t.Fatalf("server-side wait ended with %v", err)
		}
		if err := <-sent; !errors.Is(err, context.Canceled) {
			t.Fatalf("client got %v", err)
		}
	})
}

// Ensure that DELETE cancels a queued job once, then answers 409.
func TestServer_Cancel(t *testing.T) {
	tb := setup(t, nil)
	tk := tb.submit(t, "q", `{"payload": 1}`)
	j := tb.do(t, http.MethodDelete, "/v1/jobs/"+tk, "").expect(t, http.StatusOK)
	expectKeys(t, j, jobKeys...)
	if j["state"] != "canceled" || j["finished_at"] == nil {
		t.Fatalf("canceled job = %v", j)
	}
	before := tb.snapshot(t)
	tb.do(t, http.MethodDelete, "/v1/jobs/"+tk, "").expectError(t, http.StatusConflict, "already_final")
	if after := tb.snapshot(t); after != before {
		t.Fatalf("a refused cancel changed the state:\n%s\n%s", before, after)
	}
}

// Ensure that a canceled or dead job can be retried and a queued one cannot.
func TestServer_Retry(t *testing.T) {
	tb := setup(t, nil)
	tk := tb.submit(t, "q", `{"payload": 1}`)
	tb.do(t, http.MethodDelete, "/v1/jobs/"+tk, "").expect(t, http.StatusOK)
	j := tb.do(t, http.MethodPost, "/v1/jobs/"+tk+"/retry", "").expect(t, http.StatusOK)
	expectKeys(t, j, jobKeys...)
	if j["state"] != "queued" || j["finished_at"] != nil {
		t.Fatalf("retried job = %v", j)
	}
	before := tb.snapshot(t)
	tb.do(t, http.MethodPost, "/v1/jobs/"+tk+"/retry", "").expectError(t, http.StatusConflict, "not_retryable")
	if after := tb.snapshot(t); after != before {
		t.Fatalf("a refused retry changed the state:\n%s\n%s", before, after)
	}
	// An empty JSON object is an acceptable body for a body-less action.
	tb.do(t, http.MethodDelete, "/v1/jobs/"+tk, "").expect(t, http.StatusOK)
	tb.do(t, http.MethodPost, "/v1/jobs/"+tk+"/retry", `{}`).expect(t, http.StatusOK)
}

// parseTime checks a JSON timestamp: RFC 3339 in UTC.
func parseTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("timestamp = %#v, want a string", v)
	}
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || at.Location() != time.UTC {
		t.Fatalf("timestamp %q: %v (location %v)", s, err, at.Location())
	}
	return at
}

// Ensure that a number is judged by its value, not its spelling: 1e2 is the
// integer 100, 1e9 is refused with the same message as 1000000000, and no
// message names a Go type.
func TestServer_NumberSpellings(t *testing.T) {
	tb := setup(t, nil)
	tk := tb.submit(t, "q", `{"payload": 1, "priority": 1e2, "max_attempts": 3.0}`)
	j := tb.do(t, http.MethodGet, "/v1/jobs/"+tk, "").expect(t, http.StatusOK)
	if j["priority"] != json.Number("100") || j["max_attempts"] != json.Number("3") {
		t.Fatalf("priority %v, max_attempts %v; want 100 and 3", j["priority"], j["max_attempts"])
	}
	same := [][]string{
		{`{"workers": 1e9}`, `{"workers": 1000000000}`, `{"workers": 1000000000.0}`},
		{`{"burst": 2e6}`, `{"burst": 2000000}`},
		{`{"rate": 1e7}`, `{"rate": 10000000}`},
	}
	for _, bodies := range same {
		var first string
		for _, body := range bodies {
			msg := tb.do(t, http.MethodPatch, "/v1/queues/q", body).expectError(t, http.StatusBadRequest, "invalid_request")
			if first == "" {
				first = msg
			} else if msg != first {
				t.Errorf("%s answers %q, but %s answers %q", body, msg, bodies[0], first)
			}
		}
	}
	for body, want := range map[string]string{
		`{"rate": 1e309}`:   `field "rate" must be a finite number, not number 1e309`,
		`{"workers": 1.5}`:  `field "workers" must be an integer, not number 1.5`,
		`{"workers": 1e30}`: `field "workers" must be an integer from -2^53 to 2^53, not number 1e30`,
	} {
		if msg := tb.do(t, http.MethodPatch, "/v1/queues/q", body).expectError(t, http.StatusBadRequest, "invalid_request"); !strings.Contains(msg, want) {
			t.Errorf("%s answers %q, want it to say %q", body, msg, want)
		}
	}
}
