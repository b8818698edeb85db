package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"unicode/utf8"
)

// hasDuplicateKey is a reference for the duplicate-key rule, built on
// encoding/json's tokenizer: whether any object of the JSON value b has a
// key twice (keys compared decoded). b must be valid JSON.
func hasDuplicateKey(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	type level struct {
		object bool
		keys   map[string]bool
		atKey  bool
	}
	var stack []*level
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		// A string where an object expects a key is a key.
		if key, ok := tok.(string); ok && top != nil && top.object && top.atKey {
			if top.keys[key] {
				return true
			}
			top.keys[key] = true
			top.atKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &level{object: true, keys: map[string]bool{}, atKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, &level{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: the object it was in expects a key next.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].atKey = true
		}
	}
}

// FuzzReader checks the reader against encoding/json on valid JSON: it
// refuses a duplicate key exactly when the reference finds one, never
// refuses what has neither a duplicate nor an escape of a surrogate, and
// judges a body the same however it is split into reads or however its
// keys' hashes collide. Check must agree with it, and AsJSON must make
// strict JSON of anything.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"a":2}`, `{"a":{"b":1},"c":{"b":2}}`, `[{"x":1},{"x":1}]`, `{"a":1,"\u0061":2}`,
		`{"\"":1,"\\":2}`, `"\ud800"`, `"\ud83d\ude00"`, `{"k":"\udc00"}`, `[[[{"a":[{"a":1,"b":2,"a":3}]}]]]`,
		`{"a":"x\"y","b":"{\"a\":1}"}`, `{"Payload":1}`, `{` + manyKeys(20) + `,"k3":1}`, "\"\xff\"",
	} {
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, b []byte, split uint8) {
		if n := AsJSON(b); len(b) > 0 && !Valid(n) {
			t.Fatalf("AsJSON(%q) = %q, not strict JSON", b, n)
		}
		if !json.Valid(b) {
			if !errors.Is(Check(b), ErrNotJSON) {
				t.Fatalf("%q is not JSON; Check says %v", b, Check(b))
			}
			return
		}
		judge := func(n int) error {
			_, err := io.ReadAll(NewReader(&splitReader{b: b, n: n}, nil))
			return err
		}
		err := judge(len(b) + 1)
		if err2 := judge(max(int(split%16), 1)); (err == nil) != (err2 == nil) || err != nil && err.(*Error).Kind != err2.(*Error).Kind {
			t.Fatalf("%q: at once %v, in reads of %d %v", b, err, split%16, err2)
		}
		// Keys whose hashes collide all the time must be judged alike.
		weak := &Reader{}
		weak.keys.sum = func(k []byte) uint64 { return uint64(len(k) % 3) }
		if werr := weak.check(b); (err == nil) != (werr == nil) || err != nil && err.(*Error).Kind != werr.(*Error).Kind {
			t.Fatalf("%q: %v, with colliding hashes %v", b, err, werr)
		}
		var se *Error
		dup := hasDuplicateKey(b)
		switch {
		case dup && !errors.As(err, &se):
			t.Fatalf("%q has a key twice; the reader took it (%v)", b, err)
		case !dup && errors.As(err, &se) && se.Kind == DuplicateKey:
			t.Fatalf("%q has no key twice; the reader says %q is", b, se.Key)
		case err != nil && se.Kind == LoneSurrogate && !bytes.Contains(bytes.ToLower(b), []byte(`\ud`)):
			t.Fatalf("%q has no surrogate escape; the reader refused it as one", b)
		}
		if utf8.Valid(b) && (Check(b) == nil) != (err == nil) {
			t.Fatalf("%q: Check says %v, the reader %v", b, Check(b), err)
		}
	})
}
