package httpapi

import (
	"compress/gzip"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
)

// bodyReader turns the request body into the bytes the JSON decoder reads:
// the transport's body (capped at MaxBodyBytes by serve), checked for
// truncation, decompressed when it came with Content-Encoding: gzip
// (capped again after decompression) and checked for UTF-8. The caller
// adds the strict JSON rules on top.
func bodyReader(r *http.Request, limit int64) (io.Reader, error) {
	var body io.Reader = &truncationReader{r: r.Body, want: r.ContentLength}
	gz, err := contentEncoding(r)
	if err != nil {
		return nil, err
	}
	if gz {
		z, err := gzip.NewReader(body)
		if err != nil {
			return nil, gzipError(err)
		}
		// The cap applies to what the decoder sees, so a small body that
		// inflates to gigabytes (a zip bomb) costs at most limit bytes of
		// inflating before it is refused.
		body = &capReader{r: &gzipReader{z: z}, left: limit, limit: limit}
	}
	return &utf8Reader{r: body}, nil
}

// contentEncoding reports whether the body is gzip-compressed, and refuses
// every other coding: a body the server cannot read must not reach the
// JSON decoder as garbage ("not valid UTF-8").
func contentEncoding(r *http.Request) (gzip bool, err error) {
	var codings []string
	for _, v := range r.Header.Values("Content-Encoding") {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.ToLower(strings.TrimSpace(c)); c != "" && c != "identity" {
				codings = append(codings, c)
			}
		}
	}
	switch {
	case len(codings) == 0:
		return false, nil
	case len(codings) == 1 && (codings[0] == "gzip" || codings[0] == "x-gzip"):
		return true, nil
	}
	return false, errorf(errEncoding, "Content-Encoding %q is not supported; send the body as it is, or compressed once with Content-Encoding: gzip", clip(strings.Join(codings, ", ")))
}

// truncationReader tells a body that ended before its Content-Length (or
// its last chunk) from a JSON value that ended early in a whole body: the
// transport reports both as io.ErrUnexpectedEOF.
type truncationReader struct {
	r    io.Reader
	read int64
	want int64 // the Content-Length; -1 when unknown (chunked)
}

// cutShort is the error of a body cut short on the way.
type cutShort struct{ read, want int64 }

func (e *cutShort) Error() string { return "the body was cut short" }

func (t *truncationReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.read += int64(n)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return n, &cutShort{read: t.read, want: t.want}
	}
	return n, err
}

// gzipReader reports a corrupt or incomplete gzip stream as such, instead
// of the io.ErrUnexpectedEOF that would read as an incomplete JSON value.
// Errors of the transport below it pass unchanged.
type gzipReader struct{ z *gzip.Reader }

func (g *gzipReader) Read(p []byte) (int, error) {
	n, err := g.z.Read(p)
	if err != nil && err != io.EOF {
		err = gzipError(err)
	}
	return n, err
}

// badEncoding is a body whose gzip stream cannot be decompressed.
type badEncoding struct{ err error }

func (e *badEncoding) Error() string { return "the body is not valid gzip: " + e.err.Error() }

func gzipError(err error) error {
	var tooLarge *http.MaxBytesError
	var truncated *cutShort
	var netErr net.Error
	if errors.As(err, &tooLarge) || errors.As(err, &truncated) || errors.As(err, &netErr) {
		return err
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF // an empty body: no gzip header at all
	}
	return &badEncoding{err: err}
}

// capReader refuses a decompressed body past the limit.
type capReader struct {
	r     io.Reader
	left  int64
	limit int64
}

// inflatedTooLarge is a compressed body that decompresses past the limit.
type inflatedTooLarge struct{ limit int64 }

func (e *inflatedTooLarge) Error() string { return "the decompressed body is too large" }

func (c *capReader) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, &inflatedTooLarge{limit: c.limit}
	}
	// One byte more than is left tells a body of exactly limit bytes from
	// a larger one.
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	if int64(n) <= c.left {
		c.left -= int64(n)
		return n, err
	}
	c.left = -1
	return 0, &inflatedTooLarge{limit: c.limit}
}
