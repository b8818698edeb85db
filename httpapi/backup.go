package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// backupWriteTimeout bounds each write of a backup to the client: the copy
// holds a read transaction, so a client that stops reading must not hold
// it for long. It replaces the server's WriteTimeout, which is sized for
// JSON answers, not for a whole database.
//
// backupMinRate bounds the whole copy as well: a client that reads a chunk
// just before each write's deadline would otherwise hold the read
// transaction for as long as it likes, and a commit that must grow the
// memory map waits for it. A backup gets backupWriteTimeout plus its size
// at backupMinRate, and is aborted after that. Variables for the tests.
var (
	backupWriteTimeout       = time.Minute
	backupMinRate      int64 = 1 << 20 // bytes per second
)

// backup streams a consistent copy of the data file: GET /v1/backup, for
// the admin role only (it holds every job's payload and result). The
// answer is the bbolt file itself, application/octet-stream with an exact
// Content-Length, which `ticketq serve` can open as it is. If the copy
// fails after the headers are out, the connection is aborted, so that a
// client sees a broken transfer rather than a short file that looks whole.
// Drain ends a backup in progress at once: the server's Close waits for it.
func (s *Server) backup(w http.ResponseWriter, r *http.Request) {
	q := s.attached()
	if q == nil {
		s.writeError(w, r, errNotReady)
		return
	}
	if _, err := query(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	snap, err := q.OpenBackup(ctx)
	if errors.Is(err, errors.ErrUnsupported) {
		s.writeJSON(w, http.StatusNotImplemented, errorBody{Error: errorDetail{Code: "not_implemented", Message: err.Error()}})
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer snap.Close()

	rc := http.NewResponseController(w)
	stopDrain := context.AfterFunc(s.drained, func() {
		cancel()
		_ = rc.SetWriteDeadline(time.Now()) // unblocks a write in progress
	})
	defer stopDrain()

	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(snap.Size(), 10))
	h.Set("Content-Disposition", `attachment; filename="ticketq.db"`)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return // the size of the copy, without reading the file
	}
	budget := backupWriteTimeout + time.Duration(snap.Size()/backupMinRate)*time.Second
	n, err := snap.WriteTo(&deadlineWriter{ctx: ctx, w: w, rc: rc, end: time.Now().Add(budget)})
	if err != nil {
		log := s.logger(w)
		log.Warn().Err(err).Int64("bytes", n).Int64("size", snap.Size()).Msg("backup aborted")
		panic(http.ErrAbortHandler)
	}
}

// deadlineWriter gives each write backupWriteTimeout, and refuses to write
// once ctx has ended. The check comes after the deadline is moved, so that a
// Drain between the two (which sets the deadline to now) is never undone.
type deadlineWriter struct {
	ctx context.Context
	w   io.Writer
	rc  *http.ResponseController
	end time.Time // the whole copy's deadline
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	now := time.Now()
	if now.After(d.end) {
		return 0, fmt.Errorf("the client reads the backup slower than %d KiB/s: aborted, so that the read transaction does not hold up commits", backupMinRate>>10)
	}
	// Writers without deadlines (an embedding program's middleware) are
	// left to the ctx check.
	deadline := now.Add(backupWriteTimeout)
	if deadline.After(d.end) {
		deadline = d.end
	}
	_ = d.rc.SetWriteDeadline(deadline)
	if err := d.ctx.Err(); err != nil {
		return 0, err
	}
	return d.w.Write(p)
}
