package strictjson

import (
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
)

// testJob and testBody stand for the HTTP API's submit body: request
// objects, a payload of user JSON, an array of request objects.
type testJob struct {
	Payload        json.RawMessage `json:"payload"`
	IdempotencyKey *string         `json:"idempotency_key"`
	Delay          *string         `json:"delay"`
	MaxAttempts    *int            `json:"max_attempts"`
}

type testBody struct {
	testJob
	Jobs []testJob `json:"jobs"`
}

// splitReader returns b in reads of at most n bytes.
type splitReader struct {
	b []byte
	n int
}

func (r *splitReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[n:]
	return n, nil
}

// Ensure that the reader refuses exactly the bodies that break its rules,
// names the place of the fault, and reads a body the same way whether it
// arrives at once or a byte at a time.
func TestReader(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		kind   Kind // 0: accepted
		path   string
		key    string
		offset int64
	}{
		{"Plain", `{"payload": {"a": 1, "b": [1, 2, {"c": null}]}, "idempotency_key": "k"}`, 0, "", "", 0},
		{"SameKeyInSiblings", `{"payload": {"a": {"x": 1}, "b": {"x": 2}}}`, 0, "", "", 0},
		{"SameKeyAtTwoDepths", `{"payload": {"payload": {"payload": 1}}}`, 0, "", "", 0},
		{"PayloadKeysDifferInCase", `{"payload": {"a": 1, "A": 2}}`, 0, "", "", 0},
		{"SurrogatePair", `{"payload": "\ud83d\ude00 \uD834\uDD1E"}`, 0, "", "", 0},
		{"EscapesThatLookLikeStructure", `{"payload": "{\"a\": 1, \"a\": 2} \\ \" [", "idempotency_key": "\\\""}`, 0, "", "", 0},
		{"KeysWithEscapedQuotes", `{"payload": {"\"": 1, "\\": 2, "\"\"": 3}}`, 0, "", "", 0},
		{"BMPEscape", `{"payload": "\u00e9\uFFFF\u0000"}`, 0, "", "", 0},
		{"ArrayOfObjects", `{"jobs": [{"payload": 1}, {"payload": 1}]}`, 0, "", "", 0},
		{"ManySiblingsWithManyKeys", `{"jobs": [` + strings.Repeat(`{"payload": {`+manyKeys(40)+`}},`, 3) + `{"payload": 1}]}`, 0, "", "", 0},
		{"Duplicate", `{"payload": 1, "payload": 2}`, DuplicateKey, "", "payload", 15},
		{"DuplicateAfterEscape", `{"payload": 1, "p\u0061yload": 2}`, DuplicateKey, "", "payload", 15},
		{"DuplicateInBatch", `{"jobs": [{"payload": 1}, {"payload": 1, "delay": "1s", "delay": "2s"}]}`, DuplicateKey, "jobs[1]", "delay", 56},
		{"DuplicateInPayload", `{"jobs": [{"payload": {"a": [0, {"b": 1, "b": 1}]}}]}`, DuplicateKey, "jobs[0].payload.a[1]", "b", 41},
		{"DuplicateAmongMany", `{"payload": {` + manyKeys(40) + `, "k7": 0}}`, DuplicateKey, "payload", "k7", int64(len(`{"payload": {` + manyKeys(40) + `, `))},
		{"DuplicateAfterInnerObjectClosed", `{"payload": {` + manyKeys(20) + `, "x": {` + manyKeys(30) + `}, "k3": 0}}`, DuplicateKey, "payload", "k3", int64(len(`{"payload": {` + manyKeys(20) + `, "x": {` + manyKeys(30) + `}, `))},
		{"CaseMismatch", `{"Payload": 1}`, CaseMismatch, "", "Payload", 1},
		{"CaseMismatchInBatch", `{"jobs": [{"payload": 1, "MAX_ATTEMPTS": 3}]}`, CaseMismatch, "jobs[0]", "MAX_ATTEMPTS", 25},
		{"LoneHigh", `{"payload": "a\ud800"}`, LoneSurrogate, "payload", "", 20},
		{"LoneHighBeforeText", `{"payload": "\ud800b"}`, LoneSurrogate, "payload", "", 19},
		{"LoneLow", `{"payload": "\udc00"}`, LoneSurrogate, "payload", "", 18},
		{"HighHigh", `{"payload": "\ud800\ud800"}`, LoneSurrogate, "payload", "", 24},
		{"HighThenBMP", `{"payload": "\ud800\u0041"}`, LoneSurrogate, "payload", "", 24},
		{"HighThenOtherEscape", `{"payload": "\ud800\t"}`, LoneSurrogate, "payload", "", 20},
		{"LoneInKey", `{"payload": {"\ud800": 1}}`, LoneSurrogate, "payload", "", 20},
		{"LoneInBatchArray", `{"jobs": [{"payload": ["x", "\uDBFF"]}]}`, LoneSurrogate, "jobs[0].payload[1]", "", 35},
		// Bodies that are not JSON pass through to the decoder, which
		// says why; the reader must not invent a fault in them.
		{"Unbalanced", `{"payload": 1]]]}`, 0, "", "", 0},
		{"BadEscape", `{"payload": "\uZZZZ", "payload": 2}`, 0, "", "", 0},
		{"Deep", strings.Repeat("[", maxDepth+5) + strings.Repeat("]", maxDepth+5), 0, "", "", 0},
	}
	for _, c := range cases {
		// Ensure that this body is judged as documented, however it arrives.
		t.Run(c.name, func(t *testing.T) {
			for _, chunk := range []int{len(c.body), 1, 3} {
				src := &splitReader{b: []byte(c.body), n: max(chunk, 1)}
				_, err := io.ReadAll(NewReader(src, &testBody{}))
				var se *Error
				switch {
				case c.kind == 0 && err != nil:
					t.Fatalf("reads of %d: %v, want the body accepted", chunk, err)
				case c.kind == 0:
				case !errors.As(err, &se):
					t.Fatalf("reads of %d: %v, want an *Error", chunk, err)
				case se.Kind != c.kind || se.Path != c.path || se.Key != c.key || se.Offset != c.offset:
					t.Fatalf("reads of %d: kind %d path %q key %q offset %d, want kind %d path %q key %q offset %d",
						chunk, se.Kind, se.Path, se.Key, se.Offset, c.kind, c.path, c.key, c.offset)
				}
			}
		})
	}
}

// manyKeys returns n distinct members "k0": 0, "k1": 0, …, enough to move a
// key set from its list to its index.
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
func TestReader_Shape(t *testing.T) {
	for _, c := range []struct {
		body string
		ok   bool
	}{
		{`{"payload": 1, "idempotency_key": "k", "delay": "1s", "max_attempts": 1, "jobs": []}`, true},
		{`{"PAYLOAD": 1}`, false},
		{`{"Delay": "1s"}`, false},                      // a field of the embedded struct
		{`{"jobs": [{"Max_Attempts": 1}]}`, false},      // a field of an element of an array
		{`{"payload": {"Payload": {"JOBS": 1}}}`, true}, // user JSON
		{`{"unknown": 1, "Unknown": 2}`, true},          // no field: the decoder refuses it
	} {
		_, err := io.ReadAll(NewReader(strings.NewReader(c.body), &testBody{}))
		if (err == nil) != c.ok {
			t.Errorf("%s: %v, want accepted %t", c.body, err, c.ok)
		}
	}
}
