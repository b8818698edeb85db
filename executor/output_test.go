package executor

import (
	"bytes"
	"fmt"
	"testing"
)

// Ensure that the ring keeps exactly the last max bytes, whatever the
// sizes of the writes, and reports whether anything was dropped.
func TestTailBuffer(t *testing.T) {
	for _, size := range []int{1, 7, 64} {
		for _, chunks := range [][]int{
			{3}, {7}, {100}, {1, 1, 1, 1, 1, 1, 1, 1, 1},
			{5, 5, 5}, {6, 0, 2, 63, 64, 65}, {3, 200, 4},
		} {
			t.Run(fmt.Sprintf("max=%d/chunks=%v", size, chunks), func(t *testing.T) {
				b := &tailBuffer{max: size}
				var all []byte
				for i, n := range chunks {
					p := bytes.Repeat([]byte{byte('a' + i)}, n)
					for k := range p {
						p[k] += byte(k % 3) // vary the bytes so that misordering shows
					}
					all = append(all, p...)
					if w, err := b.Write(p); w != n || err != nil {
						t.Fatalf("Write(%d bytes) = %d, %v", n, w, err)
					}
				}
				want := all[max(len(all)-size, 0):]
				if got := b.Bytes(); !bytes.Equal(got, want) {
					t.Errorf("Bytes() = %q, want %q", got, want)
				}
				if got := b.Truncated(); got != (len(all) > size) {
					t.Errorf("Truncated() = %v after %d bytes", got, len(all))
				}
				if cap(b.buf) > size {
					t.Errorf("ring grew to %d bytes for max %d", cap(b.buf), size)
				}
			})
		}
	}
}

// Ensure that the head buffer keeps the first max bytes and accepts the rest.
func TestHeadBuffer(t *testing.T) {
	b := &headBuffer{max: 5}
	for _, s := range []string{"ab", "cdef", "gh"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v; want the whole write accepted", s, n, err)
		}
	}
	if string(b.buf) != "abcde" {
		t.Errorf("kept %q, want %q", b.buf, "abcde")
	}
}

// Ensure that text from outside is made printable and that runes cut at
// either end are dropped rather than turned into replacement characters.
func TestPrintable(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in        []byte
		multiline bool
		want      string
	}{
		{"plain", []byte("  hello  "), false, "hello"},
		{"escape and bell", []byte("a\x1b[2Jb\x07c"), false, "a[2Jbc"},
		{"newlines flattened", []byte("one\r\ntwo\tthree"), false, "one  two three"},
		{"newlines kept", []byte("one\ntwo\r\n"), true, "one\ntwo"},
		{"invalid UTF-8", []byte("a\xffb"), false, "a\uFFFDb"},
		{"C1 control", []byte("a\u0085b"), false, "ab"},
		{"cut head", dropPartialHead([]byte("é!")[1:]), false, "!"},
		{"cut tail", dropPartialTail([]byte("!€")[:3]), false, "!"},
		{"whole tail", dropPartialTail([]byte("!€")), false, "!€"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := printable(tc.in, tc.multiline); got != tc.want {
				t.Errorf("printable(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
