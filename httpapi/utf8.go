package httpapi

import (
	"io"
	"unicode/utf8"
)

// utf8Reader passes a body through while checking that it is UTF-8, as
// JSON must be (RFC 8259). encoding/json would otherwise turn invalid
// bytes in a string into U+FFFD, so that a key such as "a\xffb" would be
// stored as another key than the client sent, and would copy them
// verbatim into a json.RawMessage payload, which every later answer
// would then carry as invalid JSON.
type utf8Reader struct {
	r       io.Reader
	pending [utf8.UTFMax]byte // the start of a rune cut by a Read
	n       int               // bytes in pending
	offset  int64             // bytes checked before pending
}

// invalidUTF8 is the error of a body that is not UTF-8.
type invalidUTF8 struct{ offset int64 }

func (e invalidUTF8) Error() string {
	return "the body is not valid UTF-8"
}

func (u *utf8Reader) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	if verr := u.check(p[:n]); verr != nil {
		return 0, verr
	}
	if err == io.EOF && u.n > 0 {
		return 0, invalidUTF8{u.offset}
	}
	return n, err
}

// check validates b, the next bytes of the body, keeping an incomplete
// rune at its end for the next call.
func (u *utf8Reader) check(b []byte) error {
	// First finish the rune the previous read cut.
	for u.n > 0 && len(b) > 0 {
		u.pending[u.n] = b[0]
		u.n++
		b = b[1:]
		if utf8.FullRune(u.pending[:u.n]) {
			if r, size := utf8.DecodeRune(u.pending[:u.n]); r == utf8.RuneError && size <= 1 || size != u.n {
				return invalidUTF8{u.offset}
			}
			u.offset += int64(u.n)
			u.n = 0
		}
	}
	if len(b) == 0 {
		return nil
	}
	// Hold back a rune cut at the end: at most UTFMax-1 bytes, starting
	// at the last byte that is not a continuation byte.
	end := len(b)
	for i := len(b) - 1; i >= 0 && i >= len(b)-(utf8.UTFMax-1); i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				end = i
			}
			break
		}
	}
	if !utf8.Valid(b[:end]) {
		return invalidUTF8{u.offset + int64(firstInvalid(b[:end]))}
	}
	u.offset += int64(end)
	u.n = copy(u.pending[:], b[end:])
	return nil
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
