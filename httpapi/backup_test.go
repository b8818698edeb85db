package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/httpapi"
	"github.com/ticketq/ticketq/wal"
)

// OpenBackup completes fakeQueue (helpers_test.go) for the Queue interface.
func (f fakeQueue) OpenBackup(context.Context) (ticketq.Snapshot, error) { return nil, f.fail() }

// snapshotQueue answers OpenBackup with snap; it serves nothing else.
type snapshotQueue struct {
	fakeQueue
	snap ticketq.Snapshot
}

func (q snapshotQueue) OpenBackup(context.Context) (ticketq.Snapshot, error) { return q.snap, nil }

// streamSnapshot writes 4 KiB chunks until it has written failAfter bytes
// (then it fails, as a disk read error would) or until a write fails. It
// reports its first write on started and its end on done.
type streamSnapshot struct {
	size, failAfter int64
	started         chan struct{}
	done            chan error
	closed          atomic.Bool
}

var errReadFailed = errors.New("read of the data file failed")

func newStreamSnapshot(size, failAfter int64) *streamSnapshot {
	return &streamSnapshot{size: size, failAfter: failAfter, started: make(chan struct{}), done: make(chan error, 1)}
}

func (s *streamSnapshot) Size() int64 { return s.size }

func (s *streamSnapshot) WriteTo(w io.Writer) (n int64, err error) {
	defer func() { s.done <- err }()
	chunk := make([]byte, 4096)
	for {
		if n >= s.failAfter {
			return n, errReadFailed
		}
		m, err := w.Write(chunk)
		n += int64(m)
		if n == int64(m) {
			close(s.started)
		}
		if err != nil {
			return n, err
		}
	}
}

func (s *streamSnapshot) Close() error { s.closed.Store(true); return nil }

// Ensure that GET /v1/backup answers the data file with its exact length,
// that the copy passes the offline check with every job, and that it opens
// as a queue.
func TestBackup_Streams(t *testing.T) {
	tb := setup(t, nil)
	for i := range 30 {
		tb.submit(t, "emails", fmt.Sprintf(`{"payload":%d}`, i))
	}
	r := tb.do(t, http.MethodGet, "/v1/backup", "")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("status %d, Content-Type %q: %.200s", r.status, r.header.Get("Content-Type"), r.body)
	}
	if cl := r.header.Get("Content-Length"); cl != strconv.Itoa(len(r.body)) {
		t.Fatalf("Content-Length %s, body %d bytes", cl, len(r.body))
	}
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, wal.FileName), r.body, 0o600))
	rep, err := wal.Check(dir, nil)
	if err != nil || !rep.OK() || rep.Jobs != 30 || rep.Queues != 1 {
		t.Fatalf("check of the backup: %v, %+v", err, rep)
	}
	q, err := ticketq.Open(dir, ticketq.Options{})
	must(t, err)
	defer q.Close()
	if j, err := q.Status(context.Background(), 30); err != nil || string(j.Payload) != "29" {
		t.Fatalf("job 30 of the backup: %v, %+v", err, j)
	}
}

// Ensure that only an admin token may download a backup: it holds every
// job's payload.
func TestBackup_AdminOnly(t *testing.T) {
	tb := setupAuth(t, httpapi.Options{})
	for _, c := range []struct {
		secret string
		status int
	}{{"", 401}, {submitSecret, 403}, {workSecret, 403}, {adminSecret, 200}} {
		r := tb.request(t, context.Background(), http.MethodGet, "/v1/backup", "", bearer(c.secret, false))
		if r.status != c.status {
			t.Fatalf("backup with secret %q: %d, want %d (%.200s)", c.secret, r.status, c.status, r.body)
		}
	}
}

// Ensure that the errors of the route are the API's JSON errors: unknown
// query parameters, another method, a queue not yet attached or draining,
// and a queue without backups (501).
func TestBackup_Errors(t *testing.T) {
	tb := setup(t, nil)
	tb.do(t, http.MethodGet, "/v1/backup?gzip=1", "").expectError(t, http.StatusBadRequest, "unknown_field")
	r := tb.do(t, http.MethodPost, "/v1/backup", "")
	r.expectError(t, http.StatusMethodNotAllowed, "method_not_allowed")
	if allow := r.header.Get("Allow"); allow != "GET, HEAD" {
		t.Fatalf("Allow = %q", allow)
	}

	for _, c := range []struct {
		name   string
		api    *httpapi.Server
		status int
		code   string
	}{
		{"NotReady", httpapi.New(nil, httpapi.Options{}), http.StatusServiceUnavailable, "not_ready"},
		{"Unsupported", httpapi.New(fakeQueue{err: fmt.Errorf("backup: %w", errors.ErrUnsupported)}, httpapi.Options{}), http.StatusNotImplemented, "not_implemented"},
		{"Closed", httpapi.New(fakeQueue{err: ticketq.ErrClosed}, httpapi.Options{}), http.StatusServiceUnavailable, "shutting_down"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(c.api)
			defer srv.Close()
			tb := &testBundle{srv: srv}
			tb.do(t, http.MethodGet, "/v1/backup", "").expectError(t, c.status, c.code)
		})
	}
}

// Ensure that a copy that fails after the headers are out aborts the
// connection: the client gets an error, never a short body that looks
// whole, and the snapshot is closed.
func TestBackup_FailureMidway(t *testing.T) {
	snap := newStreamSnapshot(1<<20, 64<<10)
	srv := httptest.NewServer(httpapi.New(snapshotQueue{snap: snap}, httpapi.Options{}))
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL + "/v1/backup")
	must(t, err)
	defer res.Body.Close()
	n, err := io.Copy(io.Discard, res.Body)
	if err == nil || res.StatusCode != http.StatusOK {
		t.Fatalf("read %d of %d bytes with no error (status %d)", n, snap.size, res.StatusCode)
	}
	if werr := <-snap.done; !errors.Is(werr, errReadFailed) {
		t.Fatalf("WriteTo ended with %v", werr)
	}
	waitFor(t, "the snapshot to be closed", snap.closed.Load)
}

// Ensure that Drain ends a backup in progress at once, even one whose
// client has stopped reading: the server's shutdown and the store's Close
// wait for it otherwise.
func TestBackup_DrainEndsIt(t *testing.T) {
	snap := newStreamSnapshot(1<<40, 1<<40)
	api := httpapi.New(snapshotQueue{snap: snap}, httpapi.Options{})
	srv := httptest.NewServer(api)
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL + "/v1/backup")
	must(t, err)
	defer res.Body.Close()
	<-snap.started
	// The client reads nothing more, so the server's writes block once
	// the socket buffers are full.
	api.Drain()
	select {
	case err := <-snap.done:
		if err == nil {
			t.Fatal("WriteTo ended without an error")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the backup still runs 30s after Drain")
	}
	if _, err := io.Copy(io.Discard, res.Body); err == nil {
		t.Fatal("the client read a whole backup after Drain")
	}
}

// waitFor polls cond until it holds, failing after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Ensure that a client that keeps reading, but too slowly, is cut off once
// the backup's whole budget is spent: per-write deadlines alone would let
// it hold the read transaction for ever.
func TestBackup_SlowReaderIsCutOff(t *testing.T) {
	defer httpapi.SetBackupLimits(200*time.Millisecond, 1<<40)()
	snap := newStreamSnapshot(1<<30, 1<<30)
	api := httpapi.New(snapshotQueue{snap: snap}, httpapi.Options{})
	srv := httptest.NewServer(api)
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL + "/v1/backup")
	must(t, err)
	defer res.Body.Close()
	<-snap.started
	// A trickle: a small read well within each write's deadline, until
	// the server gives up.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		buf := make([]byte, 1024)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond): // the slow client's pace
			}
			if _, err := res.Body.Read(buf); err != nil {
				return
			}
		}
	}()
	select {
	case werr := <-snap.done:
		// Cut off by the budget: either at a write's start or by the
		// write deadline, set to the budget's end, while it waited.
		var netErr net.Error
		if werr == nil || !strings.Contains(werr.Error(), "slower than") && !(errors.As(werr, &netErr) && netErr.Timeout()) {
			t.Fatalf("WriteTo ended with %v, want the budget's cut-off", werr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a slow reader still held the backup after 30s (budget 200ms)")
	}
	waitFor(t, "the snapshot to be closed", snap.closed.Load)
}
