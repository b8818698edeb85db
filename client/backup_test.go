package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ticketq/ticketq/client"
	"github.com/ticketq/ticketq/httpapi"
	"github.com/ticketq/ticketq/wal"
)

// Ensure that Backup downloads the server's data file whole: as many bytes
// as announced, a file that passes the offline check with every job.
func TestClient_Backup(t *testing.T) {
	tb := setup(t, nil)
	for i := range 20 {
		tb.submit(t, "emails", fmt.Sprint(i))
	}
	var buf bytes.Buffer
	n, err := tb.c.Backup(context.Background(), &buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("Backup = %d, %v (%d bytes written)", n, err, buf.Len())
	}
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, wal.FileName), buf.Bytes(), 0o600))
	if rep, err := wal.Check(dir, nil); err != nil || !rep.OK() || rep.Jobs != 20 {
		t.Fatalf("check of the download: %v, %+v", err, rep)
	}

	r, err := tb.c.OpenBackup(context.Background())
	must(t, err)
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || int64(len(got)) != r.Size {
		t.Fatalf("OpenBackup: read %d bytes of %d, %v", len(got), r.Size, err)
	}
}

// Ensure that a 503 before the transfer is retried, as for any read.
func TestClient_BackupRetried(t *testing.T) {
	tb := setup(t, nil)
	tb.front.failFirst("GET /v1/backup", 1, http.StatusServiceUnavailable, "not_ready")
	if _, err := tb.c.Backup(context.Background(), io.Discard); err != nil {
		t.Fatal(err)
	}
	if n := tb.front.count("GET /v1/backup"); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

// Ensure that a token without the admin role is refused with the server's
// 401 or 403, once, and that an admin token is served.
func TestClient_BackupRefused(t *testing.T) {
	url, hits := authServer(t,
		httpapi.Token{Name: "ci", Role: httpapi.RoleSubmit, Secret: "submit-secret-0123456789"},
		httpapi.Token{Name: "ops", Role: httpapi.RoleAdmin, Secret: "admin-secret-0123456789a"})
	for _, c := range []struct {
		token  string
		status int
	}{{"", 401}, {"submit-secret-0123456789", 403}, {"wrong-secret-0123456789", 401}} {
		before := hits.Load()
		_, err := newClient(t, url, client.Options{Token: c.token}).Backup(context.Background(), io.Discard)
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.Status != c.status {
			t.Fatalf("backup with token %q: %v, want %d", c.token, err, c.status)
		}
		if n := hits.Load() - before; n != 1 {
			t.Fatalf("%d requests, want 1", n)
		}
	}
	if _, err := newClient(t, url, client.Options{Token: "admin-secret-0123456789a"}).Backup(context.Background(), io.Discard); err != nil {
		t.Fatalf("admin: %v", err)
	}
}

// Ensure that a transfer cut short and an answer without a length are
// errors, so that a short file is never taken for a whole one.
func TestClient_BackupIncomplete(t *testing.T) {
	for _, c := range []struct {
		name  string
		serve func(w http.ResponseWriter)
		want  string
	}{
		{"CutShort", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(make([]byte, 500))
			w.(http.Flusher).Flush() // the headers and 500 bytes are out
			panic(http.ErrAbortHandler)
		}, "ended after 500 of 1000 bytes"},
		{"NoLength", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(make([]byte, 500))
			w.(http.Flusher).Flush() // chunked: no Content-Length
			_, _ = w.Write(make([]byte, 500))
		}, "no Content-Length"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var hits atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1); c.serve(w) }))
			defer srv.Close()
			var buf bytes.Buffer
			_, err := newClient(t, srv.URL, client.Options{}).Backup(context.Background(), &buf)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Backup = %v, want an error about %q", err, c.want)
			}
			if n := hits.Load(); n != 1 {
				t.Fatalf("%d requests, want 1 (the transfer is not retried)", n)
			}
		})
	}
}
