package ticketq_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/httpapi"
)

// Ensure that an embedding program's payload that is JSON but not strict
// JSON is refused, a batch holding one stores nothing, and bytes that are
// not JSON at all are still taken as the opaque payload they are.
func TestQueue_Submit_StrictPayload(t *testing.T) {
	tb := setup(t, ticketq.Options{}, nil)
	for name, p := range map[string]string{
		"KeyTwice":      `{"a":1,"a":2}`,
		"KeyTwiceDeep":  `[{"x":{"b":1,"b":1}}]`,
		"LoneSurrogate": `{"msg":"\ud800"}`,
		"NotUTF8":       "\"\xff\"",
	} {
		if _, err := tb.q.Submit(tb.ctx, "strict", ticketq.Submission{Payload: []byte(p)}); !errors.Is(err, ticketq.ErrInvalid) {
			t.Errorf("%s: submit of %q: %v, want ErrInvalid", name, p, err)
		}
	}
	batch := []ticketq.Submission{{Payload: []byte(`{"ok":1}`)}, {Payload: []byte(`{"a":1,"a":2}`)}}
	if _, err := tb.q.SubmitBatch(tb.ctx, "strict", batch); !errors.Is(err, ticketq.ErrInvalid) {
		t.Errorf("batch with one non-strict payload: %v, want ErrInvalid", err)
	}
	if _, err := tb.q.Stats(tb.ctx, "strict"); !errors.Is(err, ticketq.ErrNotFound) {
		t.Fatalf("after refused submits the queue exists (stats: %v)", err)
	}
	for _, p := range []string{`{"a":1,"b":[2,"\ud83d\ude00"]}`, "\x00\xffbinary", `{"a":1,`, ``} {
		tk := tb.submit(t, "strict", ticketq.Submission{Payload: []byte(p)})
		j, err := tb.q.Status(tb.ctx, tk)
		if err != nil || string(j.Payload) != p {
			t.Errorf("payload %q stored as %q (%v)", p, j.Payload, err)
		}
	}
}

// Ensure that a result that is JSON but not strict JSON is stored as a
// JSON string of its text, from a handler and from a pull worker's Ack,
// and that the HTTP API serves exactly what is stored; strict JSON and
// bytes that are not JSON are stored as they are.
func TestQueue_Result_Normalized(t *testing.T) {
	results := []struct{ out, stored string }{
		{`{"a":1,"a":2}`, `"{\"a\":1,\"a\":2}"`},
		{`["\udc00"]`, `"[\"\\udc00\"]"`},
		{"\"\xff\"", `"\"\ufffd\""`},
		{`{"a":{"b":[1,"\ud83d\ude00"]}}`, `{"a":{"b":[1,"\ud83d\ude00"]}}`},
		{"plain text", "plain text"},
	}
	tb := setup(t, ticketq.Options{}, func(q *ticketq.Queue) {
		must(t, q.Handle("push", func(ctx context.Context, j *ticketq.Job) ([]byte, error) {
			var i int
			if err := json.Unmarshal(j.Payload, &i); err != nil || i < 0 || i >= len(results) {
				return nil, ticketq.Permanent(fmt.Errorf("payload %q", j.Payload))
			}
			return []byte(results[i].out), nil
		}, fast))
	})
	srv := httptest.NewServer(httpapi.New(tb.q, httpapi.Options{}))
	t.Cleanup(srv.Close)
	for i, r := range results {
		for _, how := range []string{"handler", "ack"} {
			var j *ticketq.Job
			if how == "handler" {
				j = tb.wait(t, tb.submit(t, "push", ticketq.Submission{Payload: []byte(strconv.Itoa(i))}))
			} else {
				tk := tb.submit(t, "pull", ticketq.Submission{})
				ls := tb.lease(t, "pull", 1, time.Minute)
				if len(ls) != 1 || ls[0].Ticket != tk {
					t.Fatalf("lease = %+v", ls)
				}
				var err error
				if j, err = tb.q.Ack(tb.ctx, tk, ls[0].Lease, []byte(r.out)); err != nil {
					t.Fatalf("ack: %v", err)
				}
			}
			if j.State != ticketq.Succeeded || string(j.Result) != r.stored {
				t.Errorf("%s returning %q: %s with result %q, want %q stored", how, r.out, j.State, j.Result, r.stored)
				continue
			}
			if served := servedResult(t, srv.URL, j.Ticket); r.stored != "plain text" && served != r.stored || r.stored == "plain text" && served != `"plain text"` {
				t.Errorf("%s returning %q: stored %q, served %s", how, r.out, r.stored, served)
			}
		}
	}
}

// servedResult returns the "result" of GET /v1/jobs/{ticket}, as sent.
func servedResult(t *testing.T, base string, tk ticketq.Ticket) string {
	t.Helper()
	resp, err := http.Get(base + "/v1/jobs/" + tk.String())
	must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, err)
	var v struct{ Result json.RawMessage }
	if err := json.Unmarshal(body, &v); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET job %s: %d %s (%v)", tk, resp.StatusCode, body, err)
	}
	return string(v.Result)
}
