package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ticketq/ticketq/httpapi"
)

// Ensure that a gzipped body is read as the JSON it holds, and that the
// body cap applies to the decompressed bytes: a body of exactly the cap is
// taken, one byte more is 413 and stores nothing.
func TestServer_Gzip(t *testing.T) {
	const limit = 4096
	q := openQueue(t, nil)
	tb := serve(t, q, httpapi.New(q, httpapi.Options{MaxBodyBytes: limit}))
	gzipped := map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}

	// A body of exactly limit bytes: a payload string padded to fit.
	exact := func(n int) string {
		prefix, suffix := `{"payload": "`, `"}`
		return prefix + strings.Repeat("x", n-len(prefix)-len(suffix)) + suffix
	}
	r := tb.request(t, t.Context(), http.MethodPost, "/v1/queues/q/jobs", gz(t, exact(limit)), gzipped)
	tk := r.expect(t, http.StatusAccepted)["ticket"].(string)
	j := tb.do(t, http.MethodGet, "/v1/jobs/"+tk, "").expect(t, http.StatusOK)
	if p, _ := j["payload"].(string); len(p) != limit-len(`{"payload": ""}`) {
		t.Fatalf("stored payload has %d bytes", len(p))
	}

	before := tb.snapshot(t)
	r = tb.request(t, t.Context(), http.MethodPost, "/v1/queues/q/jobs", gz(t, exact(limit+1)), gzipped)
	if msg := r.expectError(t, http.StatusRequestEntityTooLarge, "body_too_large"); !strings.Contains(msg, "decompresses") {
		t.Fatalf("message %q does not say the limit applies after decompression", msg)
	}
	if after := tb.snapshot(t); after != before {
		t.Fatalf("the refused body changed the state:\nbefore %s\nafter  %s", before, after)
	}

	// A batch, and the encoding's name in any case, with identity beside it.
	r = tb.request(t, t.Context(), http.MethodPost, "/v1/queues/q/jobs", gz(t, `{"jobs": [{"payload": 1}, {"payload": 2}]}`),
		map[string]string{"Content-Type": "application/json", "Content-Encoding": "identity, GZIP"})
	if m := r.expect(t, http.StatusAccepted); len(m["tickets"].([]any)) != 2 {
		t.Fatalf("batch answer = %v", m)
	}
}

// Ensure that a body that ends before its Content-Length, or before its
// last chunk, is answered 400 body_truncated, saying so, and stores
// nothing, though the JSON that did arrive is a whole job.
func TestServer_BodyTruncated(t *testing.T) {
	tb := setup(t, nil)
	tb.submit(t, "q", `{"payload": 0}`)
	body := `{"payload": 1}`
	cases := []struct {
		name, head, body, message string
	}{
		{"ContentLength", fmt.Sprintf("Content-Length: %d\r\n", len(body)+1), body, "after 14 of the 15 bytes its Content-Length announced"},
		{"Chunked", "Transfer-Encoding: chunked\r\n", fmt.Sprintf("%x\r\n%s\r\n", len(body), body), "before its last chunk"},
	}
	for _, c := range cases {
		// Ensure that this cut body is refused as cut, and changes nothing.
		t.Run(c.name, func(t *testing.T) {
			before := tb.snapshot(t)
			res := rawRequest(t, tb, "POST /v1/queues/q/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+c.head+"\r\n"+c.body)
			b, err := io.ReadAll(res.Body)
			must(t, err)
			msg := response{status: res.StatusCode, header: res.Header, body: b}.expectError(t, http.StatusBadRequest, "body_truncated")
			if !strings.Contains(msg, c.message) {
				t.Fatalf("message %q does not say %q", msg, c.message)
			}
			if after := tb.snapshot(t); after != before {
				t.Fatalf("the cut body changed the state:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// rawRequest writes req on a new connection, closes the sending side (so
// that the server sees the body end there) and reads the answer.
func rawRequest(t *testing.T, tb *testBundle, req string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", tb.srv.Listener.Addr().String())
	must(t, err)
	t.Cleanup(func() { conn.Close() })
	// A bound on the whole exchange, so that a server that waits for the
	// missing bytes fails the test instead of hanging it.
	must(t, conn.SetDeadline(time.Now().Add(time.Minute)))
	_, err = io.WriteString(conn, req)
	must(t, err)
	must(t, conn.(*net.TCPConn).CloseWrite())
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	must(t, err)
	t.Cleanup(func() { res.Body.Close() })
	return res
}
