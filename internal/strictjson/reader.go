package strictjson

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strconv"
	"strings"
)

// Reader passes a body through to encoding/json while holding it to the
// rules, and to one more for request objects: a key of an object that
// decodes into a struct is exactly the field's name. encoding/json would
// take "Payload" or "PAYLOAD" for "payload", and so {"payload":1,
// "Payload":2} for one field twice.
//
// It runs ahead of the decoder, on the same bytes, and stops checking (the
// decoder then reports the syntax error) at the first byte that is not
// JSON structure it can follow. A read that meets a broken rule returns an
// *Error and no bytes. It does not check UTF-8 (the HTTP API does that as
// it reads the body, see Check for a whole value).
type Reader struct {
	r      io.Reader
	root   *shape
	offset int64 // bytes checked
	stack  []frame
	keys   keyStore
	inert  bool // the body is not JSON this reader can follow

	// The string being read.
	inString    bool
	isKey       bool
	escape      bool // after a backslash
	hexLeft     int  // hex digits of a \u escape still to come
	hex         rune
	pendingHigh bool   // a high surrogate escape that a low one must follow
	key         []byte // the key, as written (escapes included)
	unquote     []byte // scratch for decoding a key with escapes
}

// maxDepth is encoding/json's own limit; beyond it the decoder refuses the
// body, so the reader stops tracking instead of growing its stack.
const maxDepth = 10000

// frame is one open object or array.
type frame struct {
	object  bool
	shape   *shape // nil: user JSON (a payload or result) or a scalar field
	wantKey bool   // objects: the next string is a key
	key     keyRef // objects: the key of the current value
	keys    objectKeys
	index   int // arrays: the index of the current element
}

// NewReader returns a Reader of r that knows the field names of v, the
// value the body is decoded into (nil: any JSON, with no request objects).
func NewReader(r io.Reader, v any) *Reader {
	return &Reader{r: r, root: shapeOf(reflect.TypeOf(v))}
}

// Read implements io.Reader.
func (s *Reader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if serr := s.check(p[:n]); serr != nil {
		return 0, serr
	}
	return n, err
}

// check follows b, the next bytes of the text.
func (s *Reader) check(b []byte) error {
	// nextEscape is the index of the first backslash of b at or after i
	// (len(b): none), once known: remembered, so that neither a string of
	// many escapes nor many strings without one make each search go over
	// the rest of b again.
	nextEscape := -1
	for i := 0; i < len(b) && !s.inert; i++ {
		c := b[i]
		if s.inString {
			// A run of plain characters is skipped at once, with two
			// vectorized searches: payloads are mostly long strings.
			if !s.isKey && !s.escape && s.hexLeft == 0 && !s.pendingHigh {
				if nextEscape < i {
					nextEscape = len(b)
					if e := bytes.IndexByte(b[i:], '\\'); e >= 0 {
						nextEscape = i + e
					}
				}
				j := nextEscape
				if q := bytes.IndexByte(b[i:nextEscape], '"'); q >= 0 {
					j = i + q
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
func (s *Reader) stringByte(c byte, at int64) error {
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
			return s.fail(LoneSurrogate, at, "")
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
			return s.fail(LoneSurrogate, at, "")
		}
		return nil
	case s.pendingHigh && c != '\\':
		return s.fail(LoneSurrogate, at, "")
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
func (s *Reader) structural(c byte, at int64) error {
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
		f := frame{object: c == '{', shape: s.child(top), wantKey: c == '{'}
		if f.object {
			f.keys = s.keys.open()
		}
		s.stack = append(s.stack, f)
	case '}', ']':
		if top == nil || top.object != (c == '}') {
			s.inert = true
			return nil
		}
		if top.object {
			s.keys.close(&top.keys, len(s.stack)-1)
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
func (s *Reader) child(top *frame) *shape {
	switch {
	case top == nil:
		return s.root
	case top.shape == nil:
		return nil
	case top.object:
		return top.shape.fields[string(s.keys.bytes(top.key))]
	}
	return top.shape.elem
}

// endKey checks a key that has just ended (at is its closing quote).
func (s *Reader) endKey(at int64) error {
	top := &s.stack[len(s.stack)-1]
	start := at - int64(len(s.key)) - 1 // the opening quote
	key := s.key
	if bytes.IndexByte(key, '\\') >= 0 {
		// Escapes were checked above, so the key unquotes; it is stored
		// decoded, so that "a" and "\u0061" are one key.
		s.unquote = append(append(append(s.unquote[:0], '"'), key...), '"')
		var decoded string
		if err := json.Unmarshal(s.unquote, &decoded); err != nil {
			s.inert = true
			return nil
		}
		key = []byte(decoded)
	}
	if top.shape != nil && top.shape.fields != nil {
		if _, ok := top.shape.fields[string(key)]; !ok {
			for name := range top.shape.fields {
				if strings.EqualFold(name, string(key)) {
					e := s.fail(CaseMismatch, start, string(key))
					e.Want = name
					return e
				}
			}
		}
	}
	ref, ok := s.keys.add(&top.keys, len(s.stack)-1, key)
	if !ok {
		return s.fail(DuplicateKey, start, string(key))
	}
	top.key = ref
	return nil
}

func (s *Reader) fail(kind Kind, at int64, key string) *Error {
	return &Error{Kind: kind, Offset: at, Path: s.path(!s.isKey), Key: key}
}

// path names the value being read, as "jobs[2].payload": the innermost
// open object or array, with the key or index of the current value in it
// when inValue is set.
func (s *Reader) path(inValue bool) string {
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
			b.Write(s.keys.bytes(f.key))
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
