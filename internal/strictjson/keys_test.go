package strictjson

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// Ensure that keys whose hashes collide are still told apart by their
// bytes: distinct keys are accepted, a repeated one refused, both while
// the object is small and once it has an index.
func TestReader_HashCollisions(t *testing.T) {
	for _, c := range []struct {
		name string
		body string
		dup  string // "": accepted
	}{
		{"Small", `{"a": 1, "b": 2, "c": 3}`, ""},
		{"SmallRepeated", `{"a": 1, "b": 2, "a": 3}`, "a"},
		{"Indexed", `{` + manyKeys(40) + `}`, ""},
		{"IndexedRepeatedFirst", `{` + manyKeys(40) + `, "k0": 1}`, "k0"},
		{"IndexedRepeatedCollided", `{` + manyKeys(40) + `, "k39": 1}`, "k39"},
		{"IndexedRepeatedBeforeIndex", `{` + manyKeys(40) + `, "k5": 1}`, "k5"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &Reader{}
			r.keys.sum = func(b []byte) uint64 { return uint64(len(b)) } // "k0".."k9" collide, and so do "k10".."k39"
			err := r.check([]byte(c.body))
			var se *Error
			switch {
			case c.dup == "" && err != nil:
				t.Fatalf("%v, want the object accepted", err)
			case c.dup == "":
			case !errors.As(err, &se) || se.Kind != DuplicateKey || se.Key != c.dup:
				t.Fatalf("%v, want key %q refused as given twice", err, c.dup)
			}
		})
	}
}

// Ensure that an object's index is kept for the next object at its depth,
// emptied, and that a huge one is dropped rather than kept: clearing it
// would cost every later small object its size.
func TestReader_IndexReuse(t *testing.T) {
	r := &Reader{}
	if err := r.check([]byte(`[{` + manyKeys(40) + `},`)); err != nil {
		t.Fatal(err)
	}
	kept := r.keys.spare[1]
	if kept == nil || slices.ContainsFunc(kept, func(s uint64) bool { return s != 0 }) {
		t.Fatalf("after an object of 40 keys, depth 1 keeps %v, want an empty index", kept)
	}
	if err := r.check([]byte(`{` + manyKeys(30) + `, "k0": 1},`)); err == nil {
		t.Fatal("a key given twice in the second object was taken")
	}
	if &r.stack[1].keys.index[0] != &kept[0] {
		t.Fatal("the second object did not reuse the index")
	}
	r = &Reader{}
	if err := r.check([]byte(`[{` + manyKeys(keepIndex) + `}, {` + manyKeys(20) + `}, `)); err != nil {
		t.Fatal(err)
	}
	if len(r.keys.spare[1]) != 4*smallObject {
		t.Fatalf("an index of %d slots was kept for reuse", len(r.keys.spare[1]))
	}
	if len(r.keys.arena) != 0 {
		t.Fatalf("the arena holds %d bytes with no object open", len(r.keys.arena))
	}
}

// Ensure that an escaped key is compared decoded wherever it is stored:
// in the arena of a small object and in an index.
func TestReader_EscapedKeys(t *testing.T) {
	for _, body := range []string{
		`{"k1": 0, "\u006b1": 1}`,
		`{` + manyKeys(40) + `, "\u006b33": 1}`,
		`{"\u006b33": 1, ` + manyKeys(40) + `}`,
	} {
		r := &Reader{}
		var se *Error
		if err := r.check([]byte(body)); !errors.As(err, &se) || se.Kind != DuplicateKey {
			t.Errorf("%s: %v, want a duplicate key", strings.ReplaceAll(body, manyKeys(40), "k0…k39"), err)
		}
	}
}
