package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/job"
)

// exampleRequest is a request with a JSON body, as a handler receives it: with
// the route's variables set, so that the handler's own helpers read it.
func exampleRequest(body []byte) *http.Request {
	r, err := http.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	r.Header.Set("Content-Type", "application/json")
	return mux.SetURLVars(r, map[string]string{"ticket": "1", "queue": "q"})
}

// inRange refuses a duration outside lo..hi, as the queue does.
func inRange(field string, d, lo, hi time.Duration) error {
	if d < lo || d > hi {
		return invalidf("invalid_request", "%s %s is outside %s..%s", field, d, lo, hi)
	}
	return nil
}

// requestCheckers read a request body the way each operation's handler does
// (readBody, settleRequest and the handler's own checks, on the same
// types), then apply the checks the queue makes on the values, from its
// exported limits, so that a body passes only if the server would take it.
var requestCheckers = map[string]func(body []byte) error{
	"submitJobs": func(b []byte) error {
		var body submitBody
		if err := readBody(exampleRequest(b), &body, true); err != nil {
			return err
		}
		if len(body.Jobs) > DefaultMaxBatch {
			return invalidf("batch_too_large", "%d jobs", len(body.Jobs))
		}
		_, _, err := body.submissions(time.Now())
		return err
	},
	"leaseJobs": func(b []byte) error {
		var body leaseBody
		if err := readBody(exampleRequest(b), &body, false); err != nil {
			return err
		}
		if body.Max != nil && (*body.Max < 1 || *body.Max > ticketq.MaxLeaseBatch) {
			return invalidf("invalid_request", "max %d", *body.Max)
		}
		vis, err := optDuration("visibility", body.Visibility, defaultVisibility)
		if err != nil {
			return err
		}
		wait, err := optDuration("wait", body.Wait, 0)
		if err != nil {
			return err
		}
		return errors.Join(inRange("visibility", vis, ticketq.MinVisibility, ticketq.MaxVisibility), inRange("wait", wait, 0, ticketq.MaxLeaseWait))
	},
	"ackJob": func(b []byte) error {
		var body ackBody
		_, err := settleRequest(exampleRequest(b), &body, &body.Lease)
		return err
	},
	"nackJob": func(b []byte) error {
		var body nackBody
		if _, err := settleRequest(exampleRequest(b), &body, &body.Lease); err != nil {
			return err
		}
		if body.RetryIn == nil {
			return nil
		}
		retryIn, err := optDuration("retry_in", body.RetryIn, -1)
		if err != nil {
			return err
		}
		return inRange("retry_in", retryIn, 0, job.MaxDelay)
	},
	"extendLease": func(b []byte) error {
		var body extendBody
		if _, err := settleRequest(exampleRequest(b), &body, &body.Lease); err != nil {
			return err
		}
		vis, err := optDuration("visibility", body.Visibility, defaultVisibility)
		if err != nil {
			return err
		}
		return inRange("visibility", vis, ticketq.MinVisibility, ticketq.MaxVisibility)
	},
	"reportProgress": func(b []byte) error {
		var body progressBody
		if _, err := settleRequest(exampleRequest(b), &body, &body.Lease); err != nil {
			return err
		}
		switch {
		case body.Progress == nil:
			return invalidf("invalid_request", "progress is required")
		case *body.Progress < 0 || *body.Progress > 100:
			return invalidf("invalid_request", "progress %d", *body.Progress)
		case len(body.Message) > job.MaxProgressMessageLen:
			return invalidf("invalid_request", "message of %d bytes", len(body.Message))
		}
		return nil
	},
	"releaseJob": func(b []byte) error {
		var body releaseBody
		_, err := settleRequest(exampleRequest(b), &body, &body.Lease)
		return err
	},
	"patchQueue": func(b []byte) error {
		var body patchBody
		if err := readBody(exampleRequest(b), &body, true); err != nil {
			return err
		}
		if !body.Workers.set && !body.MaxLeases.set && !body.Rate.set && !body.Burst.set {
			return invalidf("invalid_request", "nothing to change")
		}
		var o ticketq.QueueOverrides
		body.Workers.apply(&o.Workers)
		body.MaxLeases.apply(&o.MaxLeases)
		body.Rate.apply(&o.Rate)
		body.Burst.apply(&o.Burst)
		return o.Validate()
	},
	"retryJob":    emptyBody,
	"pauseQueue":  emptyBody,
	"resumeQueue": emptyBody,
}

func emptyBody(b []byte) error { return readBody(exampleRequest(b), &struct{}{}, false) }

// Ensure that every request-body example is valid against its schema and is
// taken by the handler's decoding and checks; and that the schema and the
// handler agree on two changes of each example: an unknown field (both
// refuse it, the handler with unknown_field) and a required field left out
// (both refuse it).
func TestOpenAPI_RequestExamples(t *testing.T) {
	spec := loadSpec(t)
	covered := map[string]bool{}
	for _, o := range spec.operations() {
		rb, ptr, err := spec.requestBody(o)
		if err != nil {
			t.Fatal(err)
		}
		if rb == nil {
			continue
		}
		check := requestCheckers[o.op.OperationID]
		if check == nil {
			t.Errorf("%s (%s) takes a body, but requestCheckers has no entry for it", o, o.op.OperationID)
			continue
		}
		covered[o.op.OperationID] = true
		mt := rb.Content["application/json"]
		if mt == nil || len(rb.Content) != 1 {
			t.Errorf("%s: the body must be application/json, and only that", o)
			continue
		}
		if len(mt.Examples) == 0 {
			t.Errorf("%s: the request body has no examples", o)
		}
		schemaPtr := ptr + pointer("content", "application/json", "schema")[1:]
		_, required, err := spec.properties(schemaPtr)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range slices.Sorted(maps.Keys(mt.Examples)) {
			ex := []byte(mt.Examples[name].Value)
			where := fmt.Sprintf("%s example %q", o, name)
			if err := spec.validate(schemaPtr, ex); err != nil {
				t.Errorf("%s does not match the schema: %v", where, err)
			}
			if err := check(ex); err != nil {
				t.Errorf("%s is refused by the handler: %v", where, err)
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(ex, &fields); err != nil {
				t.Errorf("%s is not an object: %v", where, err)
				continue
			}

			unknown := mutate(t, fields, func(m map[string]json.RawMessage) { m["zz_unknown"] = json.RawMessage("1") })
			if err := spec.validate(schemaPtr, unknown); err == nil {
				t.Errorf("%s with an unknown field matches the schema; the handler refuses it", where)
			}
			if err := check(unknown); classify(errOrNil(err)).code != "unknown_field" {
				t.Errorf("%s with an unknown field: the handler answers %v, want unknown_field", where, err)
			}
			for field := range required {
				if _, present := fields[field]; !present {
					continue
				}
				without := mutate(t, fields, func(m map[string]json.RawMessage) { delete(m, field) })
				if err := spec.validate(schemaPtr, without); err == nil {
					t.Errorf("%s without %q matches the schema, which requires it", where, field)
				}
				if err := check(without); err == nil {
					t.Errorf("%s without %q is taken by the handler; the schema requires it", where, field)
				}
			}
		}
	}
	for id := range requestCheckers {
		if !covered[id] {
			t.Errorf("requestCheckers names %q, which is no operation with a request body", id)
		}
	}
}

// errOrNil stands in for a nil error, which classify cannot take.
func errOrNil(err error) error {
	if err == nil {
		return errors.New("accepted")
	}
	return err
}

// mutate encodes a changed copy of an example's fields.
func mutate(t *testing.T, fields map[string]json.RawMessage, change func(map[string]json.RawMessage)) []byte {
	t.Helper()
	m := maps.Clone(fields)
	change(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Ensure that the Duration pattern takes the durations the server parses
// and refuses those it refuses, and the negative ones, which it parses but
// every duration field's rule refuses (TestServer_Errors, TestServer_PullErrors).
func TestOpenAPI_DurationPattern(t *testing.T) {
	spec := loadSpec(t)
	const ptr = "#/components/schemas/Duration"
	quote := func(s string) []byte { b, _ := json.Marshal(s); return b }
	for _, s := range []string{"0", "0s", "30s", "1h30m", "1.5h", ".5s", "1.s", "250ms", "10us", "10µs", "10μs", "7ns", "+5m", "1h2m3s4ms5us6ns"} {
		if _, err := parseDuration("d", s); err != nil {
			t.Errorf("the server refuses %q: %v", s, err)
		}
		if err := spec.validate(ptr, quote(s)); err != nil {
			t.Errorf("the pattern refuses %q, which the server takes: %v", s, err)
		}
	}
	if err := spec.validate(ptr, quote("-5s")); err == nil {
		t.Errorf("the pattern takes a negative duration, which no field takes")
	}
	for _, s := range []string{"", "s", "5", "5 s", "5S", "5d", "1.5.5s", ".s", "abc", "5s ", " 5s", "1h-5m", "0x10s"} {
		if _, err := parseDuration("d", s); err == nil {
			t.Errorf("the server takes %q; this list is of durations it refuses", s)
		}
		if err := spec.validate(ptr, quote(s)); err == nil {
			t.Errorf("the pattern takes %q, which the server refuses", s)
		}
	}
}

// Ensure that the Ticket and QueueName schemas take the path values the
// server takes and refuse those it refuses.
func TestOpenAPI_PathPatterns(t *testing.T) {
	spec := loadSpec(t)
	quote := func(s string) []byte { b, _ := json.Marshal(s); return b }
	for _, c := range []struct {
		schema string
		parse  func(string) error
		good   []string
		bad    []string
	}{
		{
			"#/components/schemas/Ticket",
			func(s string) error { _, err := job.ParseTicket(s); return err },
			[]string{"1", "42", "18446744073709551615", "10000000000000000000"},
			[]string{"", "0", "01", "-1", "+1", "1.0", "abc", "1 ", "123456789012345678901"},
		},
		{
			"#/components/schemas/QueueName",
			job.ValidateQueueName,
			[]string{"emails", "a", "A.b_c-9", "...", strings.Repeat("q", job.MaxQueueNameLen)},
			[]string{"", ".", "..", "a b", "a/b", "é", strings.Repeat("q", job.MaxQueueNameLen+1)},
		},
	} {
		for _, v := range c.good {
			if err := c.parse(v); err != nil {
				t.Errorf("the server refuses %q: %v", v, err)
			}
			if err := spec.validate(c.schema, quote(v)); err != nil {
				t.Errorf("%s refuses %q, which the server takes: %v", c.schema, v, err)
			}
		}
		for _, v := range c.bad {
			if err := c.parse(v); err == nil {
				t.Errorf("the server takes %q; this list is of values it refuses", v)
			}
			if err := spec.validate(c.schema, quote(v)); err == nil {
				t.Errorf("%s takes %q, which the server refuses", c.schema, v)
			}
		}
	}
}
