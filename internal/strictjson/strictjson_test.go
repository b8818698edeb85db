package strictjson

import (
	"errors"
	"testing"
)

// Ensure that Check tells bytes that are not JSON from JSON that breaks a
// rule, and names the rule and its place.
func TestCheck(t *testing.T) {
	for _, c := range []struct {
		in      string
		kind    Kind // 0: accepted, or not JSON
		notJSON bool
		offset  int64
		msg     string
	}{
		{in: `{"a": [1, "\ud83d\ude00"], "b": {"a": 1}}`},
		{in: `"plain"`},
		{in: ``, notJSON: true},
		{in: `hello`, notJSON: true},
		{in: `{"a": 1,}`, notJSON: true},
		{in: "{\"a\": \"\xff\"}", kind: InvalidUTF8, offset: 7, msg: "invalid UTF-8 at offset 7"},
		{in: `{"a": 1, "a": 2}`, kind: DuplicateKey, offset: 9, msg: `key "a" is given twice at offset 9`},
		{in: `[{"x": {"a": 1, "a": 2}}]`, kind: DuplicateKey, offset: 16, msg: `key "a" is given twice in [0].x at offset 16`},
		{in: `["\udc00"]`, kind: LoneSurrogate, offset: 7, msg: `lone surrogate escape (\ud800-\udfff without its pair) in [0] at offset 7`},
	} {
		err := Check([]byte(c.in))
		var se *Error
		switch {
		case c.notJSON:
			if !errors.Is(err, ErrNotJSON) {
				t.Errorf("Check(%q) = %v, want ErrNotJSON", c.in, err)
			}
		case c.kind == 0:
			if err != nil || !Valid([]byte(c.in)) {
				t.Errorf("Check(%q) = %v, want nil", c.in, err)
			}
		case !errors.As(err, &se) || se.Kind != c.kind || se.Offset != c.offset || se.Error() != c.msg:
			t.Errorf("Check(%q) = %v, want kind %d at %d: %s", c.in, err, c.kind, c.offset, c.msg)
		case Valid([]byte(c.in)):
			t.Errorf("Valid(%q) = true", c.in)
		}
	}
}

// Ensure that AsJSON keeps strict JSON as it is, stores nothing for
// nothing, and turns anything else into the JSON string of its text.
func TestAsJSON(t *testing.T) {
	for _, c := range []struct{ in, out string }{
		{``, ``},
		{`{"a": 1, "A": [true, "\ud83d\ude00"]}`, `{"a": 1, "A": [true, "\ud83d\ude00"]}`},
		{`{"a": 1, "a": 2}`, `"{\"a\": 1, \"a\": 2}"`},
		{`"\ud800"`, `"\"\\ud800\""`},
		{"done\n", `"done\n"`},
		{"\"\xff\"", `"\"\ufffd\""`},
	} {
		if got := AsJSON([]byte(c.in)); string(got) != c.out || (c.out == "" && got != nil) {
			t.Errorf("AsJSON(%q) = %q, want %q", c.in, got, c.out)
		}
		if c.in != "" && !Valid(AsJSON([]byte(c.in))) {
			t.Errorf("AsJSON(%q) is not strict JSON", c.in)
		}
	}
}
