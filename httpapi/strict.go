package httpapi

import (
	"encoding/json"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// strictReader passes a body through to encoding/json while holding it to
// three rules that the decoder does not enforce, so that what is stored is
// exactly what the client meant and every stored JSON value can be read
// back by any JSON tool:
//
//   - No object has a key twice, at any depth: encoding/json keeps the last
//     value of a request field ({"payload":1,"payload":2} stored 2), and a
//     payload with a key twice is valid but ambiguous JSON (RFC 8259 §4)
//     that another parser may read as the first value. Payloads and results
//     are refused too: a job would otherwise not round-trip.
//   - No string holds a lone surrogate escape ("\ud800"): it is no Unicode
//     text (RFC 8259 §8.2), and a stored payload with one could not be
//     parsed again by most JSON tools.
//   - A key of a request object (one that decodes into a struct) is exactly
//     the documented name: encoding/json would take "Payload" or "PAYLOAD"
//     for "payload", and so {"payload":1,"Payload":2} for one field twice.
//
// It runs ahead of the decoder, on the same bytes, and stops checking (the
// decoder then reports the syntax error) at the first byte that is not
// JSON structure it can follow. Each rule is enforced here, in one place,
// for every body of every route.
type strictReader struct {
	r      io.Reader
	root   *shape
	offset int64 // bytes checked
	stack  []frame
	inert  bool // the body is not JSON this reader can follow

	// The string being read.
	inString    bool
	isKey       bool
	escape      bool // after a backslash
	hexLeft     int  // hex digits of a \u escape still to come
	hex         rune
	pendingHigh bool // a high surrogate escape that a low one must follow
	key         []byte
}

// maxDepth is encoding/json's own limit; beyond it the decoder refuses the
// body, so the reader stops tracking instead of growing its stack.
const maxDepth = 10000

// frame is one open object or array.
type frame struct {
	object  bool
	shape   *shape // nil: user JSON (a payload or result) or a scalar field
	wantKey bool   // objects: the next string is a key
	key     string // objects: the key of the current value
	keys    keySet
	index   int // arrays: the index of the current element
}

// strictError is a body that breaks one of the rules.
type strictError struct {
	kind   strictKind
	offset int64
	path   string
	key    string
	want   string // caseMismatch: the documented name
}

type strictKind uint8

const (
	duplicateKey strictKind = iota + 1
	loneSurrogate
	caseMismatch
)

func (e *strictError) Error() string {
	switch e.kind {
	case duplicateKey:
		return "duplicate key " + strconv.Quote(e.key)
	case loneSurrogate:
		return "lone surrogate escape"
	}
	return "field name in the wrong case"
}

// where names the place of the fault for a message: the path of the
// object, when it is not the body itself, and the offset.
func (e *strictError) where() string {
	if e.path == "" {
		return "at offset " + strconv.FormatInt(e.offset, 10)
	}
	return "in " + e.path + " at offset " + strconv.FormatInt(e.offset, 10)
}

func newStrictReader(r io.Reader, v any) *strictReader {
	return &strictReader{r: r, root: shapeOf(reflect.TypeOf(v))}
}

// strictJSON reports whether b, which is valid JSON, keeps the rules of
// strictReader that apply to any JSON value (no key twice, no lone
// surrogate).
func strictJSON(b []byte) bool {
	s := &strictReader{}
	return s.check(b) == nil
}

func (s *strictReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if serr := s.check(p[:n]); serr != nil {
		return 0, serr
	}
	return n, err
}

// check follows b, the next bytes of the body.
func (s *strictReader) check(b []byte) error {
	for i := 0; i < len(b) && !s.inert; i++ {
		c := b[i]
		if s.inString {
			// A run of plain characters is skipped at once: payloads are
			// mostly long strings.
			if !s.isKey && !s.escape && s.hexLeft == 0 && !s.pendingHigh {
				j := i
				for j < len(b) && b[j] != '"' && b[j] != '\\' {
					j++
				}
				if j == len(b) {
					break
				}
				i, c = j, b[j]
			}
			if err := s.stringByte(c, s.offset+int64(i)); err != nil {
				return err
			}
			continue
		}
		if err := s.structural(c, s.offset+int64(i)); err != nil {
			return err
		}
	}
	s.offset += int64(len(b))
	return nil
}

// stringByte follows one byte inside a string.
func (s *strictReader) stringByte(c byte, at int64) error {
	switch {
	case s.hexLeft > 0:
		d := hexValue(c)
		if d < 0 {
			s.inert = true // a bad escape: the decoder will say so
			return nil
		}
		s.hex = s.hex<<4 | rune(d)
		s.hexLeft--
		if s.isKey {
			s.key = append(s.key, c)
		}
		if s.hexLeft > 0 {
			return nil
		}
		high, low := s.hex >= 0xd800 && s.hex <= 0xdbff, s.hex >= 0xdc00 && s.hex <= 0xdfff
		switch {
		case s.pendingHigh && !low, !s.pendingHigh && low:
			return s.fail(loneSurrogate, at, "")
		}
		s.pendingHigh = high
		return nil
	case s.escape:
		s.escape = false
		if s.isKey {
			s.key = append(s.key, c)
		}
		if c == 'u' {
			s.hexLeft, s.hex = 4, 0
			return nil
		}
		if s.pendingHigh {
			return s.fail(loneSurrogate, at, "")
		}
		return nil
	case s.pendingHigh && c != '\\':
		return s.fail(loneSurrogate, at, "")
	case c == '\\':
		s.escape = true
		if s.isKey {
			s.key = append(s.key, c)
		}
		return nil
	case c == '"':
		s.inString = false
		if s.isKey {
			return s.endKey(at)
		}
		return nil
	}
	if s.isKey {
		s.key = append(s.key, c)
	}
	return nil
}

// structural follows one byte outside strings.
func (s *strictReader) structural(c byte, at int64) error {
	var top *frame
	if len(s.stack) > 0 {
		top = &s.stack[len(s.stack)-1]
	}
	switch c {
	case '{', '[':
		if len(s.stack) >= maxDepth {
			s.inert = true
			return nil
		}
		s.stack = append(s.stack, frame{object: c == '{', shape: s.child(top), wantKey: c == '{'})
	case '}', ']':
		if top == nil || top.object != (c == '}') {
			s.inert = true
			return nil
		}
		s.stack = s.stack[:len(s.stack)-1]
	case ':':
		if top == nil || !top.object || !top.wantKey {
			s.inert = true
			return nil
		}
		top.wantKey = false
	case ',':
		switch {
		case top == nil:
			s.inert = true
		case top.object:
			top.wantKey = true
		default:
			top.index++
		}
	case '"':
		s.inString = true
		s.isKey = top != nil && top.object && top.wantKey
		s.key = s.key[:0]
	}
	return nil
}

// child returns the shape of a value that starts in top.
func (s *strictReader) child(top *frame) *shape {
	switch {
	case top == nil:
		return s.root
	case top.shape == nil:
		return nil
	case top.object:
		return top.shape.fields[top.key]
	}
	return top.shape.elem
}

// endKey checks a key that has just ended (at is its closing quote).
func (s *strictReader) endKey(at int64) error {
	top := &s.stack[len(s.stack)-1]
	key := string(s.key)
	if strings.IndexByte(key, '\\') >= 0 {
		// Escapes were checked above, so the key unquotes.
		if err := json.Unmarshal([]byte(`"`+key+`"`), &key); err != nil {
			s.inert = true
			return nil
		}
	}
	if top.shape != nil && top.shape.fields != nil {
		if _, ok := top.shape.fields[key]; !ok {
			for name := range top.shape.fields {
				if strings.EqualFold(name, key) {
					e := s.fail(caseMismatch, at-int64(len(s.key))-1, key).(*strictError)
					e.want = name
					return e
				}
			}
		}
	}
	if !top.keys.add(key) {
		return s.fail(duplicateKey, at-int64(len(s.key))-1, key)
	}
	top.key = key
	return nil
}

func (s *strictReader) fail(kind strictKind, at int64, key string) error {
	return &strictError{kind: kind, offset: at, path: s.path(!s.isKey), key: key}
}

// path names the value being read, as "jobs[2].payload": the innermost
// open object or array, with the key or index of the current value in it
// when inValue is set.
func (s *strictReader) path(inValue bool) string {
	open := s.stack
	if !inValue && len(open) > 0 {
		open = open[:len(open)-1]
	}
	var b strings.Builder
	for i, f := range open {
		if f.object {
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		} else {
			b.WriteString("[" + strconv.Itoa(f.index) + "]")
		}
	}
	return b.String()
}

func hexValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// keySet holds the keys of one object: a short list while the object is
// small, as request objects are, and a map once it is not.
type keySet struct {
	list []string
	m    map[string]struct{}
}

// add adds k and reports whether it was new.
func (ks *keySet) add(k string) bool {
	if ks.m != nil {
		if _, dup := ks.m[k]; dup {
			return false
		}
		ks.m[k] = struct{}{}
		return true
	}
	if slices.Contains(ks.list, k) {
		return false
	}
	ks.list = append(ks.list, k)
	if len(ks.list) > 16 {
		ks.m = make(map[string]struct{}, 2*len(ks.list))
		for _, k := range ks.list {
			ks.m[k] = struct{}{}
		}
		ks.list = nil
	}
	return true
}

// shape is what a request body's Go type says of a JSON value: a request
// object with its field names, an array of such objects, or nil for
// anything else (a payload, a result, a scalar).
type shape struct {
	fields map[string]*shape // a request object
	elem   *shape            // an array of request objects
}

var shapes sync.Map // reflect.Type → *shape

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// shapeOf returns the shape of values decoded into t, computed once per
// type.
func shapeOf(t reflect.Type) *shape {
	if v, ok := shapes.Load(t); ok {
		return v.(*shape)
	}
	sh := buildShape(t)
	shapes.Store(t, sh)
	return sh
}

func buildShape(t reflect.Type) *shape {
	if t == nil {
		return nil
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || t.Implements(unmarshalerType) {
		return nil // decodes itself: a payload, a number, a patch field
	}
	switch t.Kind() {
	case reflect.Pointer:
		return buildShape(t.Elem())
	case reflect.Slice, reflect.Array:
		if elem := buildShape(t.Elem()); elem != nil {
			return &shape{elem: elem}
		}
		return nil
	case reflect.Struct:
		sh := &shape{fields: map[string]*shape{}}
		addFields(sh, t)
		return sh
	}
	return nil
}

// addFields adds the JSON fields of struct t, those of embedded structs
// included, as encoding/json sees them.
func addFields(sh *shape, t reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			addFields(sh, f.Type)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		sh.fields[name] = buildShape(f.Type)
	}
}
