// Package strictjson holds JSON to the rules that encoding/json does not
// enforce, so that a stored payload or result reads back the same in any
// JSON tool, and so that every layer judges a value the same way: the HTTP
// API's request bodies (Reader) and the values it serves (AsJSON), the Go
// client before it sends a payload or a result (Check, AsJSON), and package
// job's rules for a payload submitted and a result checked off
// (CheckRules).
//
// The rules, beyond JSON's grammar:
//
//   - The text is UTF-8 (RFC 8259 §8.1).
//   - No object has a key twice, at any depth (keys compared decoded, so
//     "a" and "\u0061" are one key): RFC 8259 §4 leaves the meaning of such
//     an object to the parser, and encoding/json keeps the last value where
//     another parser keeps the first.
//   - No string holds a lone surrogate escape ("\ud800"): it is no Unicode
//     text (RFC 8259 §8.2), and most JSON tools refuse to parse it.
//
// A Reader adds one rule for request objects (those that decode into a Go
// struct): a key is exactly the field's name, case included.
//
// It uses the standard library only, so that every layer may import it.
package strictjson

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// ErrNotJSON is Check's answer for bytes that are not JSON at all.
var ErrNotJSON = errors.New("not JSON")

// Kind is the rule an Error breaks.
type Kind uint8

// The rules.
const (
	// DuplicateKey is an object with a key twice.
	DuplicateKey Kind = iota + 1
	// LoneSurrogate is a string with a surrogate escape without its pair.
	LoneSurrogate
	// CaseMismatch is a key of a request object that matches a field's
	// name only when case is ignored (Reader only).
	CaseMismatch
	// InvalidUTF8 is a text that is not UTF-8 (Check only: the HTTP API
	// checks the encoding of a body as it reads it, before the JSON).
	InvalidUTF8
)

// Error is JSON that breaks one of the rules.
type Error struct {
	Kind Kind
	// Offset is where the fault is, in bytes from the start of the text:
	// the key's opening quote, the escape's last byte, the invalid byte.
	Offset int64
	// Path names the value where the fault is, as "jobs[2].payload"; empty
	// for the top-level value.
	Path string
	// Key is the key given twice, or the key in the wrong case.
	Key string
	// Want is the field's name (CaseMismatch only).
	Want string
}

// Error implements error.
func (e *Error) Error() string {
	switch e.Kind {
	case DuplicateKey:
		return "key " + strconv.Quote(clip(e.Key)) + " is given twice " + e.Where()
	case LoneSurrogate:
		return "lone surrogate escape (\\ud800-\\udfff without its pair) " + e.Where()
	case CaseMismatch:
		return "field name " + strconv.Quote(clip(e.Key)) + " is in the wrong case (" + strconv.Quote(e.Want) + ") " + e.Where()
	}
	return "invalid UTF-8 " + e.Where()
}

// Where names the place of the fault for a message: the path of the
// value, when it is not the top-level one, and the offset.
func (e *Error) Where() string {
	if e.Path == "" {
		return "at offset " + strconv.FormatInt(e.Offset, 10)
	}
	return "in " + clip(e.Path) + " at offset " + strconv.FormatInt(e.Offset, 10)
}

// Check returns nil when b is JSON that keeps the rules, an error wrapping
// ErrNotJSON when b is not JSON at all, and an *Error naming the first
// broken rule otherwise.
func Check(b []byte) error {
	if !json.Valid(b) {
		return ErrNotJSON
	}
	return CheckRules(b)
}

// CheckRules is Check without the check that b is JSON, which costs more
// than the rest: for JSON, nil means that it keeps the rules; for bytes
// that are not JSON, the answer means nothing. A caller that takes both
// strict JSON and bytes that are not JSON asks json.Valid only when
// CheckRules finds a fault.
func CheckRules(b []byte) error {
	if !utf8.Valid(b) {
		return &Error{Kind: InvalidUTF8, Offset: int64(firstInvalid(b))}
	}
	var r Reader
	return r.check(b)
}

// Valid reports whether b is JSON that keeps the rules.
func Valid(b []byte) bool {
	return Check(b) == nil
}

// AsJSON returns b as a JSON value: nil when it is empty, b itself when it
// is JSON that keeps the rules, and otherwise b's text as a JSON string
// (invalid UTF-8 becomes U+FFFD, as encoding/json writes it), a value that
// every JSON tool reads back the same.
func AsJSON(b []byte) []byte {
	switch {
	case len(b) == 0:
		return nil
	case Valid(b):
		return b
	}
	s, _ := json.Marshal(string(b)) // a string always encodes
	return s
}

// firstInvalid returns the offset of the first byte of b that does not
// start a valid rune.
func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// clip keeps hostile input from flooding error messages and logs.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
