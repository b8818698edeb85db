package executor

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// headBuffer keeps the first max bytes written to it and discards the rest.
// Every Write reports success, so that the goroutine copying a pipe into it
// keeps reading: a child whose output is ignored must not block on a full
// pipe.
type headBuffer struct {
	buf []byte
	max int
}

func (b *headBuffer) Write(p []byte) (int, error) {
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// tailBuffer keeps the last max bytes written to it in a ring, so that
// memory stays bounded however much is written. Every Write reports success.
type tailBuffer struct {
	buf   []byte // the ring; len(buf) == max once it has wrapped
	start int    // index of the oldest byte once full
	max   int
	total int64 // bytes ever written
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	b.total += int64(n)
	if b.max <= 0 || n == 0 {
		return n, nil
	}
	if b.buf == nil {
		b.buf = make([]byte, 0, b.max) // the ring never grows past this
	}
	if len(p) >= b.max {
		// Only the end of p survives; whatever the ring held is older.
		b.buf = append(b.buf[:0], p[len(p)-b.max:]...)
		b.start = 0
		return n, nil
	}
	if room := b.max - len(b.buf); room > 0 {
		k := min(room, len(p))
		b.buf = append(b.buf, p[:k]...)
		p = p[k:]
	}
	// The ring is full: overwrite the oldest bytes. len(p) < max, so this
	// wraps at most once.
	for len(p) > 0 {
		c := copy(b.buf[b.start:], p)
		p = p[c:]
		b.start = (b.start + c) % b.max
	}
	return n, nil
}

// Bytes returns the kept bytes, oldest first.
func (b *tailBuffer) Bytes() []byte {
	out := make([]byte, 0, len(b.buf))
	out = append(out, b.buf[b.start:]...)
	return append(out, b.buf[:b.start]...)
}

// Truncated reports whether bytes were dropped from the front.
func (b *tailBuffer) Truncated() bool { return b.total > int64(len(b.buf)) }

// dropPartialHead drops the continuation bytes of a rune cut off at the
// start of b, so that a tail does not begin with a replacement character.
func dropPartialHead(b []byte) []byte {
	for i := 0; i < utf8.UTFMax-1 && len(b) > 0 && !utf8.RuneStart(b[0]); i++ {
		b = b[1:]
	}
	return b
}

// dropPartialTail drops a rune cut off at the end of b.
func dropPartialTail(b []byte) []byte {
	for i := 1; i <= utf8.UTFMax-1 && i <= len(b); i++ {
		if utf8.RuneStart(b[len(b)-i]) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			break
		}
	}
	return b
}

// printable turns output we do not control (a command's stderr, a server's
// response body) into text that is safe in an error message, a log line and
// a terminal: valid UTF-8 without control characters, so it can neither
// forge log lines nor send escape sequences. With multiline, newlines are
// kept; otherwise they become spaces like tabs and carriage returns.
func printable(b []byte, multiline bool) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' && multiline:
			return r
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}
