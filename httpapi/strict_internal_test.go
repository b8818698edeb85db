package httpapi

import (
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// Ensure that the strict reader refuses exactly the bodies that break its
// rules, names the place of the fault, and reads a body the same way
// whether it arrives at once or a byte at a time.
func TestStrictReader(t *testing.T) {
	cases := []struct {
		name string
		body string
		kind strictKind // 0: accepted
		path string
		key  string
	}{
		{"Plain", `{"payload": {"a": 1, "b": [1, 2, {"c": null}]}, "idempotency_key": "k"}`, 0, "", ""},
		{"SameKeyInSiblings", `{"payload": {"a": {"x": 1}, "b": {"x": 2}}}`, 0, "", ""},
		{"SameKeyAtTwoDepths", `{"payload": {"payload": {"payload": 1}}}`, 0, "", ""},
		{"PayloadKeysDifferInCase", `{"payload": {"a": 1, "A": 2}}`, 0, "", ""},
		{"SurrogatePair", `{"payload": "\ud83d\ude00 \uD834\uDD1E"}`, 0, "", ""},
		{"EscapesThatLookLikeStructure", `{"payload": "{\"a\": 1, \"a\": 2} \\ \" [", "idempotency_key": "\\\""}`, 0, "", ""},
		{"KeysWithEscapedQuotes", `{"payload": {"\"": 1, "\\": 2, "\"\"": 3}}`, 0, "", ""},
		{"BMPEscape", `{"payload": "\u00e9\uFFFF\u0000"}`, 0, "", ""},
		{"ArrayOfObjects", `{"jobs": [{"payload": 1}, {"payload": 1}]}`, 0, "", ""},
		{"Duplicate", `{"payload": 1, "payload": 2}`, duplicateKey, "", "payload"},
		{"DuplicateAfterEscape", `{"payload": 1, "p\u0061yload": 2}`, duplicateKey, "", "payload"},
		{"DuplicateInBatch", `{"jobs": [{"payload": 1}, {"payload": 1, "delay": "1s", "delay": "2s"}]}`, duplicateKey, "jobs[1]", "delay"},
		{"DuplicateInPayload", `{"jobs": [{"payload": {"a": [0, {"b": 1, "b": 1}]}}]}`, duplicateKey, "jobs[0].payload.a[1]", "b"},
		{"DuplicateAmongMany", `{"payload": {` + manyKeys(40) + `, "k7": 0}}`, duplicateKey, "payload", "k7"},
		{"CaseMismatch", `{"Payload": 1}`, caseMismatch, "", "Payload"},
		{"CaseMismatchInBatch", `{"jobs": [{"payload": 1, "MAX_ATTEMPTS": 3}]}`, caseMismatch, "jobs[0]", "MAX_ATTEMPTS"},
		{"LoneHigh", `{"payload": "a\ud800"}`, loneSurrogate, "payload", ""},
		{"LoneHighBeforeText", `{"payload": "\ud800b"}`, loneSurrogate, "payload", ""},
		{"LoneLow", `{"payload": "\udc00"}`, loneSurrogate, "payload", ""},
		{"HighHigh", `{"payload": "\ud800\ud800"}`, loneSurrogate, "payload", ""},
		{"HighThenBMP", `{"payload": "\ud800\u0041"}`, loneSurrogate, "payload", ""},
		{"HighThenOtherEscape", `{"payload": "\ud800\t"}`, loneSurrogate, "payload", ""},
		{"LoneInKey", `{"payload": {"\ud800": 1}}`, loneSurrogate, "payload", ""},
		{"LoneInBatchArray", `{"jobs": [{"payload": ["x", "\uDBFF"]}]}`, loneSurrogate, "jobs[0].payload[1]", ""},
		// Bodies that are not JSON pass through to the decoder, which
		// says why; the reader must not invent a fault in them.
		{"Unbalanced", `{"payload": 1]]]}`, 0, "", ""},
		{"BadEscape", `{"payload": "\uZZZZ", "payload": 2}`, 0, "", ""},
		{"Deep", strings.Repeat("[", maxDepth+5) + strings.Repeat("]", maxDepth+5), 0, "", ""},
	}
	for _, c := range cases {
		// Ensure that this body is judged as documented, however it arrives.
		t.Run(c.name, func(t *testing.T) {
			for _, chunk := range []int{len(c.body), 1, 3} {
				src := &splitReader{b: []byte(c.body), n: max(chunk, 1)}
				_, err := io.ReadAll(newStrictReader(src, &submitBody{}))
				var se *strictError
				switch {
				case c.kind == 0 && err != nil:
					t.Fatalf("reads of %d: %v, want the body accepted", chunk, err)
				case c.kind == 0:
				case !errors.As(err, &se):
					t.Fatalf("reads of %d: %v, want a strictError", chunk, err)
				case se.kind != c.kind || se.path != c.path || se.key != c.key:
					t.Fatalf("reads of %d: kind %d path %q key %q, want kind %d path %q key %q", chunk, se.kind, se.path, se.key, c.kind, c.path, c.key)
				}
			}
		})
	}
}

// manyKeys returns n distinct members "k0": 0, "k1": 0, …, enough to move a
// key set from its list to its map.
func manyKeys(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = `"k` + strconv.Itoa(i) + `": 0`
	}
	return strings.Join(parts, ", ")
}

// Ensure that the shape of a request type names its fields as encoding/json
// does (embedded structs included) and leaves payloads and self-decoding
// fields unchecked.
func TestShapeOf(t *testing.T) {
	sh := shapeOf(reflect.TypeOf(&submitBody{}))
	for _, name := range []string{"payload", "idempotency_key", "delay", "run_at", "priority", "max_attempts", "timeout", "jobs"} {
		if _, ok := sh.fields[name]; !ok {
			t.Errorf("submit body has no field %q: %v", name, sh.fields)
		}
	}
	if sh.fields["payload"] != nil {
		t.Errorf("payload has a shape; it is user JSON")
	}
	jobs := sh.fields["jobs"]
	if jobs == nil || jobs.elem == nil || jobs.elem.fields["max_attempts"] != nil {
		t.Fatalf("jobs shape = %+v, want an array of request objects", jobs)
	}
	if _, ok := jobs.elem.fields["max_attempts"]; !ok {
		t.Fatalf("a job of a batch has no field max_attempts")
	}
	if p := shapeOf(reflect.TypeOf(&patchBody{})); len(p.fields) != 5 || p.fields["workers"] != nil || p.fields["max_queue"] != nil {
		t.Fatalf("patch body shape = %+v", p)
	}
}

// Ensure that a stored value that JSON tools could not read back (a result
// an executor wrote with a key twice or a lone surrogate) is served as a
// JSON string, and any other JSON as it is.
func TestRawJSON(t *testing.T) {
	for _, c := range []struct{ stored, served string }{
		{``, `null`},
		{`{"a": 1, "A": [true, "\ud83d\ude00"]}`, `{"a": 1, "A": [true, "\ud83d\ude00"]}`},
		{`{"a": 1, "a": 2}`, `"{\"a\": 1, \"a\": 2}"`},
		{`"\ud800"`, `"\"\\ud800\""`},
		{`not json`, `"not json"`},
	} {
		got, err := rawJSON(c.stored).MarshalJSON()
		if err != nil || string(got) != c.served {
			t.Errorf("rawJSON(%q) = %s, %v; want %s", c.stored, got, err, c.served)
		}
	}
}
