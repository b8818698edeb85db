package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketq/ticketq/internal/strictjson"
	"github.com/ticketq/ticketq/job"
)

// The targets of this file fuzz the decoders on their own, without a store,
// so that they run orders of magnitude faster than the handler targets of
// fuzz_test.go and go deeper into the parsing.

// fuzzErrorCodes are the codes a decoding error may carry, by status.
var fuzzErrorCodes = map[int][]string{
	http.StatusBadRequest:            {"invalid_request", "invalid_json", "unknown_field", "duplicate_key", "body_truncated", "invalid_encoding"},
	http.StatusRequestEntityTooLarge: {"body_too_large"},
	http.StatusUnsupportedMediaType:  {"unsupported_media_type", "unsupported_encoding"},
}

// expectClientError fails unless err is answered as a client error of the
// decoders, with a non-empty code and message.
func expectClientError(t *testing.T, what string, err error) {
	t.Helper()
	e := classify(err)
	if !slices.Contains(fuzzErrorCodes[e.status], e.code) {
		t.Fatalf("%s: error %q is answered %d %q, want a 400, 413 or 415 with its code", what, err, e.status, e.code)
	}
	if e.message == "" {
		t.Fatalf("%s: error %#v has an empty message", what, err)
	}
}

// FuzzParseDuration fuzzes the durations of bodies (delay, timeout,
// visibility, wait, retry_in) and of ?wait=. parseDuration must agree with
// time.ParseDuration, refuse exactly the unparsable ones as 400
// invalid_request (a negative one is the field's rule to refuse), and keep
// a hostile value from flooding the message.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{
		"30s", "1h30m", "0", "0s", "", "-1s", "-0", "+5s", "1.5h", ".5s", "5.", "5", "s", ".s", "1µs", "1μs", "1us", "1e3s",
		"9223372036854775807ns", "9223372036854775808ns", "2562047h47m16.854775807s", "2562048h", "-9223372036854775808ns",
		"1h1h", " 1s", "1s ", "1S", "\xff", strings.Repeat("9", 100) + "s", strings.Repeat("1s", 100),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration("wait", s)
		want, werr := time.ParseDuration(s)
		switch {
		case werr != nil:
			if err == nil {
				t.Fatalf("parseDuration(%q) = %s, want an error (time.ParseDuration: %s, %v)", s, d, want, werr)
			}
			e := classify(err)
			if e.status != http.StatusBadRequest || e.code != "invalid_request" {
				t.Fatalf("parseDuration(%q): %v answered %d %s, want 400 invalid_request", s, err, e.status, e.code)
			}
			// clip keeps 64 bytes of the input, which %q may quadruple.
			if len(e.message) > 400 {
				t.Fatalf("parseDuration(%q): a message of %d bytes", s, len(e.message))
			}
		case err != nil:
			t.Fatalf("parseDuration(%q) = %v, want %s", s, err, want)
		case d != want:
			t.Fatalf("parseDuration(%q) = %s, want %s", s, d, want)
		}
	})
}

// decodeKinds are the request bodies of the API, by route.
var decodeKinds = []string{"submit", "lease", "ack", "nack", "extend", "release", "progress", "patch", "empty"}

// fuzzBodyLimit is the body cap of FuzzReadBody, small enough to cross.
const fuzzBodyLimit = 1 << 10

// FuzzReadBody fuzzes readBody into every request body of the API and then
// the conversions the handlers make of it (submissions, durations). Every
// refusal must be a 400, 413 or 415 with a code; every accepted submission
// must pass the shared limits and carry a UTF-8 JSON payload. The body is
// read once at a time and once in reads of at most split bytes (with EOF
// on the last read when split >= 128): whether it is accepted, what it
// decodes to and the status of a refusal must not depend on how the body
// arrives.
func FuzzReadBody(f *testing.F) {
	const ct = "application/json"
	for _, s := range []struct {
		kind    uint8
		ct      string
		body    string
		chunked bool
		split   uint8
	}{
		{0, ct, `{"payload": {"n": 1}, "idempotency_key": "k", "priority": 5, "max_attempts": 3, "timeout": "30s", "delay": "1m"}`, false, 0},
		{0, ct, `{"payload": 1, "run_at": "2030-01-02T15:04:05Z"}`, false, 3},
		{0, ct, `{"payload": 1, "run_at": "2030-01-02T15:04:05+25:00"}`, false, 0},
		{0, ct, `{"jobs": [{"payload": 1}, {"payload": null, "priority": -100}]}`, false, 1},
		{0, ct, `{"jobs": [], "payload": 1}`, false, 0},
		{0, ct, `{"jobs": [{"payload": 1, "jobs": []}]}`, false, 0},
		{0, ct, `{"payload": 1, "priority": 1e2}`, false, 0},
		{0, ct, `{"payload": {"a": 1, "a": 2}}`, false, 3},
		{0, ct, `{"payload": {"a": 1, "\u0061": 2}}`, false, 1},
		{0, ct, `{"payload": "\ud83d\ude00", "idempotency_key": "\ud83d\ude00"}`, false, 2},
		{0, ct, `{"payload": "\ud83d\u0041"}`, false, 5},
		{0, ct, `{"jobs": [{"payload": 1, "Priority": 1}]}`, false, 0},
		{0, ct, `{"payload": 1, "jobFields": {}}`, false, 0},
		{0, ct, `{"Payload": 1, "PRIORITY": 2}`, false, 0},
		{0, ct, `{"payload": 1, "idempotency_key": "\ud800"}`, false, 0},
		{0, ct, `{"payload": "ключ €𝄞", "idempotency_key": "𝄞"}`, false, 1},
		{0, ct, `{"payload": "ключ €𝄞", "idempotency_key": "𝄞"}`, false, 2},
		{0, ct, `{"payload": "ключ €𝄞", "idempotency_key": "𝄞"}`, true, 131},
		{0, ct, "{\"payload\": \"\xff\"}", false, 0},
		{0, ct, "{\"payload\": 1, \"idempotency_key\": \"a\xe2\x82\"}", false, 2},
		{0, ct, "{\"payload\": \"\xed\xa0\x80\"}", false, 1},
		{0, ct, "{\"payload\": 1}\xf0\x9f", true, 130},
		{0, ct, `{"payload": 1}` + strings.Repeat(" ", 2000), false, 0},
		{0, ct, `{"payload": "` + strings.Repeat("x", 2000) + `"}`, false, 7},
		{0, ct, ``, true, 0},
		{0, "text/json", `{"payload": 1}`, false, 0},
		{0, "application/json; charset=\"utf-8\"", `{"payload": 1}`, false, 0},
		{0, "application/json; charset", `{"payload": 1}`, false, 0},
		{1, ct, ``, false, 0},
		{1, ct, ``, true, 1},
		{1, ct, `{"max": 10, "visibility": "30s", "wait": "1s"}`, false, 0},
		{1, ct, `{"wait": "-1s"}`, false, 0},
		{2, ct, `{"lease": "L", "result": [1, {"a": null}]}`, false, 5},
		{3, ct, `{"lease": "L", "error": "boom", "retry_in": "1h", "permanent": true}`, false, 0},
		{3, ct, `{"lease": "L", "permanent": "yes"}`, false, 0},
		{4, ct, `{"lease": "L", "visibility": "5m"}`, false, 0},
		{5, ct, `{"lease": "L"}`, false, 0},
		{6, ct, `{"lease": "L", "progress": 40, "message": "halfway"}`, false, 0},
		{6, ct, `{"lease": "L", "progress": 9223372036854775808}`, false, 0},
		{7, ct, `{"workers": 2, "max_leases": null, "rate": 1.5, "burst": 3}`, false, 4},
		{7, ct, `{"rate": "1"}`, false, 0},
		{7, ct, `{"workers": {}}`, false, 0},
		{8, ct, `{}`, false, 0},
		{8, ct, `{"x": 1}`, false, 0},
		{8, "", `{}`, false, 0},
		{8, "", ``, true, 0},
	} {
		f.Add(s.kind, s.ct, []byte(s.body), s.chunked, s.split)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, kind uint8, contentType string, body []byte, chunked bool, split uint8) {
		k := decodeKinds[int(kind)%len(decodeKinds)]
		what := fmt.Sprintf("%s Content-Type %q chunked=%t body %q", k, contentType, chunked, body)
		v, err := decodeAs(k, bodyRequest(contentType, body, chunked, 0))
		if split > 0 {
			// The same body in small reads must decode the same way.
			v2, err2 := decodeAs(k, bodyRequest(contentType, body, chunked, split))
			// Of a body with two faults, the one found first is answered,
			// and which one that is may depend on the reads: {"x":0}\xf0
			// is unknown_field at once, and invalid_json (not UTF-8) when
			// the last read brings io.EOF with the data. The status may
			// not depend on them.
			same := err == nil && err2 == nil && reflect.DeepEqual(v, v2)
			if err != nil && err2 != nil {
				same = classify(err).status == classify(err2).status
			}
			if !same {
				t.Fatalf("%s: read at once: %+v, %v; in reads of %d bytes: %+v, %v", what, v, err, split, v2, err2)
			}
		}
		if err != nil {
			expectClientError(t, what, err)
			return
		}
		if len(body) > fuzzBodyLimit {
			t.Fatalf("%s: a body of %d bytes was read past the limit of %d", what, len(body), fuzzBodyLimit)
		}
		// The conversions the handlers make of the decoded body.
		switch b := v.(type) {
		case *submitBody:
			err = checkSubmissions(t, what, b, now)
		case *leaseBody:
			if _, err = optDuration("visibility", b.Visibility, defaultVisibility); err == nil {
				_, err = optDuration("wait", b.Wait, 0)
			}
		case *ackBody:
			if b.Result != nil && !strictjson.Valid(b.Result) {
				t.Fatalf("%s: result %q is not UTF-8 JSON", what, b.Result)
			}
		case *nackBody:
			_, err = optDuration("retry_in", b.RetryIn, -1)
		case *extendBody:
			_, err = optDuration("visibility", b.Visibility, defaultVisibility)
		}
		if err != nil {
			expectClientError(t, what, err)
		}
	})
}

// bodyRequest is a POST of body. With split > 0 the body arrives in reads
// of at most split%128 bytes (at least 1), the last one with io.EOF when
// split >= 128.
func bodyRequest(contentType string, body []byte, chunked bool, split uint8) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	if chunked {
		r.ContentLength = -1
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	if split > 0 {
		r.Body = io.NopCloser(&splitReader{b: body, n: max(int(split%128), 1), eofWithData: split >= 128})
	}
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, fuzzBodyLimit)
	return r
}

// splitReader reads b in pieces of at most n bytes.
type splitReader struct {
	b           []byte
	n           int
	eofWithData bool // the last piece comes with io.EOF
}

func (r *splitReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[n:]
	if len(r.b) == 0 && r.eofWithData {
		return n, io.EOF
	}
	return n, nil
}

// decodeAs reads the body of r as readBody does for the route kind and
// returns the decoded value.
func decodeAs(kind string, r *http.Request) (any, error) {
	var v any
	required := true
	switch kind {
	case "submit":
		v = &submitBody{}
	case "lease":
		v, required = &leaseBody{}, false
	case "ack":
		v = &ackBody{}
	case "nack":
		v = &nackBody{}
	case "extend":
		v = &extendBody{}
	case "release":
		v = &releaseBody{}
	case "progress":
		v = &progressBody{}
	case "patch":
		v = &patchBody{}
	case "empty":
		v, required = &struct{}{}, false
	}
	return v, readBody(r, v, required)
}

// checkSubmissions converts a decoded submit body as the handler does and
// checks what comes out: an error is ErrInvalid; otherwise one job, or as
// many as the batch holds, each with a JSON payload and within the limits.
func checkSubmissions(t *testing.T, what string, b *submitBody, now time.Time) error {
	t.Helper()
	subs, batch, err := b.submissions(now)
	if err != nil {
		if !errors.Is(err, job.ErrInvalid) {
			t.Fatalf("%s: submissions: %v does not wrap ErrInvalid", what, err)
		}
		return err
	}
	if batch != (b.Jobs != nil) {
		t.Fatalf("%s: batch = %t with jobs %v", what, batch, b.Jobs)
	}
	if want := max(len(b.Jobs), 1); len(subs) != want {
		t.Fatalf("%s: %d submissions, want %d", what, len(subs), want)
	}
	for i := range subs {
		if !strictjson.Valid(subs[i].Payload) {
			t.Fatalf("%s: job %d has payload %q, not UTF-8 JSON that reads back the same", what, i, subs[i].Payload)
		}
		if err := subs[i].Validate(now); err != nil {
			t.Fatalf("%s: job %d was accepted but fails the limits: %v", what, i, err)
		}
	}
	return nil
}
