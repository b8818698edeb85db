package httpapi

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ticketq/ticketq/internal/strictjson"
)

// Ensure that the strict reader knows every field of the request bodies
// (embedded structs and batch elements included), so that each is refused
// in the wrong case, and leaves payloads and self-decoding fields alone.
func TestStrictFieldNames(t *testing.T) {
	for _, c := range []struct {
		name   string
		v      any
		fields []string
	}{
		{"Submit", &submitBody{}, []string{"payload", "idempotency_key", "delay", "run_at", "priority", "max_attempts", "timeout", "jobs"}},
		{"Patch", &patchBody{}, []string{"workers", "max_leases", "rate", "burst", "max_queue"}},
		{"Ack", &ackBody{}, []string{"lease", "result"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, f := range c.fields {
				body := `{"` + strings.ToUpper(f) + `": 1}`
				var se *strictjson.Error
				if _, err := io.ReadAll(strictjson.NewReader(strings.NewReader(body), c.v)); !errors.As(err, &se) || se.Kind != strictjson.CaseMismatch || se.Want != f {
					t.Errorf("%s: %v, want %q named as the field in the wrong case", body, err, f)
				}
			}
		})
	}
	for _, body := range []string{
		`{"jobs": [{"payload": 1, "MAX_ATTEMPTS": 3}]}`, // a batch's job is a request object
	} {
		if _, err := io.ReadAll(strictjson.NewReader(strings.NewReader(body), &submitBody{})); err == nil {
			t.Errorf("%s was taken", body)
		}
	}
	for _, c := range []struct {
		body string
		v    any
	}{
		{`{"payload": {"Payload": 1, "JOBS": 2}}`, &submitBody{}}, // user JSON
		{`{"result": {"LEASE": 1}}`, &ackBody{}},
		{`{"workers": {"WORKERS": 1}}`, &patchBody{}}, // decodes itself
	} {
		if _, err := io.ReadAll(strictjson.NewReader(strings.NewReader(c.body), c.v)); err != nil {
			t.Errorf("%s: %v, want the value left to its own decoder", c.body, err)
		}
	}
}

// Ensure that a stored value that JSON tools could not read back (a value
// stored by an older version with a key twice or a lone surrogate, a
// payload an embedding program stored as bytes) is served as a JSON
// string, and any other JSON as it is.
func TestRawJSON(t *testing.T) {
	for _, c := range []struct{ stored, served string }{
		{``, `null`},
		{`{"a": 1, "A": [true, "\ud83d\ude00"]}`, `{"a": 1, "A": [true, "\ud83d\ude00"]}`},
		{`{"a": 1, "a": 2}`, `"{\"a\": 1, \"a\": 2}"`},
		{`"\ud800"`, `"\"\\ud800\""`},
		{`not json`, `"not json"`},
		{"{\"a\": \"\xff\"}", `"{\"a\": \"\ufffd\"}"`},
	} {
		got, err := rawJSON(c.stored).MarshalJSON()
		if err != nil || string(got) != c.served {
			t.Errorf("rawJSON(%q) = %s, %v; want %s", c.stored, got, err, c.served)
		}
	}
}
