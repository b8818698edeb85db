package httpapi

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// readAllChunked reads b through a utf8Reader whose source returns at most
// chunk bytes per Read, so that runes are cut at every possible place.
func readAllChunked(b []byte, chunk int) ([]byte, error) {
	var src io.Reader = bytes.NewReader(b)
	if chunk == 1 {
		src = iotest.OneByteReader(src)
	} else {
		src = &chunkReader{b: b, n: chunk}
	}
	return io.ReadAll(&utf8Reader{r: src})
}

type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[n:]
	return n, nil
}

// FuzzUTF8Reader checks the reader against utf8.Valid on the whole input,
// whatever the size of the reads: it must refuse exactly the invalid
// inputs, pass valid ones through unchanged, and name the first bad byte.
func FuzzUTF8Reader(f *testing.F) {
	for _, s := range []string{"", "a", "héllo", "日本語", "😀", "a\xffb", "\xe2\x82", "\xe2\x82\xac", "\xed\xa0\x80", "\xc0\xaf", "x\xf0\x9f\x98"} {
		f.Add([]byte(s), uint8(1))
		f.Add([]byte(s), uint8(2))
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, chunk uint8) {
		got, err := readAllChunked(b, int(chunk%7)+1)
		if utf8.Valid(b) {
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("valid %q: read %q, %v", b, got, err)
			}
			return
		}
		var bad invalidUTF8
		if !errors.As(err, &bad) {
			t.Fatalf("invalid %q passed: %v", b, err)
		}
		if want := int64(firstInvalid(b)); want < int64(len(b)) && bad.offset != want {
			t.Fatalf("invalid %q: offset %d, want %d", b, bad.offset, want)
		}
	})
}
