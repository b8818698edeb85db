package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/ticketq/ticketq/job"
)

// This file is what a running Log does when bbolt finds its own file
// inconsistent. bbolt does not return an error then: it panics, in the
// middle of a commit ("page 2153 already freed", when the freelist and the
// tree disagree) or of a read ("invalid page type"), or the process faults
// reading a page past the end of its map. Such a panic is a fail-stop, as
// a failed fsync is: the log answers the operations in flight with an
// unknown outcome, refuses everything after, and leaves a marker next to
// the file so that the next Open runs the full Check before it serves.

// ErrInconsistent reports that bbolt found the data file inconsistent while
// the log was running. The log has stopped; the error also wraps
// job.ErrStoreFailed.
var ErrInconsistent = errors.New("the data file is inconsistent")

// MarkerName is the file that a Log leaves next to its data file when it
// stops on an inconsistency. While it exists, Open runs the full Check
// before it serves and refuses a file with findings; when the check passes
// (the inconsistency was in bbolt's memory only, or the file was restored),
// Open removes it.
const MarkerName = FileName + ".inconsistent"

// closeAbandon bounds the wait for bbolt to close after an inconsistency:
// the transaction that panicked may still hold its write lock (its
// rollback can panic too), and then Close would wait for ever.
const closeAbandon = 5 * time.Second

// guardEngine runs fn, turning a panic that comes from the storage engine
// (see fromEngine) into an ErrInconsistent error. Any other panic is a bug
// of ours and is raised again. A memory fault panics instead of killing
// the process while fn runs, on this goroutine.
func guardEngine(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			site := panicSite()
			if !fromEngine(p, site) {
				panic(p)
			}
			err = engineFault(p, site)
		}
	}()
	return fn()
}

// engineFault is the error of a recovered panic p raised at site.
func engineFault(p any, site string) error {
	return fmt.Errorf("%w: bbolt panicked in %s: %v", ErrInconsistent, site, p)
}

// fromEngine reports whether the panic p, raised at site, comes from the
// storage engine: from bbolt's own code, or a memory fault (reading a page
// of bbolt's map that the file no longer holds).
func fromEngine(p any, site string) bool {
	if _, ok := p.(interface{ Addr() uintptr }); ok {
		return true
	}
	return strings.HasPrefix(site, "go.etcd.io/bbolt")
}

// panicSite returns the function that raised the panic being recovered,
// past the runtime's own frames (gopanic, the index and fault helpers). It
// must be called from the deferred function that recovers: only then is
// the panicking stack below it.
func panicSite() string {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	panicking := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			panicking = true
		case panicking && !strings.HasPrefix(f.Function, "runtime."):
			return f.Function
		}
		if !more {
			return "an unknown function"
		}
	}
}

// failInconsistent is fail for an inconsistency: the error names the file
// and the command to run, and a marker is left for the next Open.
func (l *Log) failInconsistent(cause error) error {
	dir := filepath.Dir(l.path)
	err := fmt.Errorf("%w: %w (file %s); stopped: run `ticketq check --data %s` before starting it again (the next start checks the file and refuses it if it is damaged)",
		job.ErrStoreFailed, cause, l.path, dir)
	if !l.failure.CompareAndSwap(nil, &err) {
		return *l.failure.Load()
	}
	l.broken.Store(true)
	ev := l.log.Error().Str("path", l.path).Str("check", "ticketq check --data "+dir)
	// An offline reader (inspect) writes nothing, not even a marker.
	if !l.readOnly {
		if merr := writeMarker(l.path, l.clock.Now(), cause); merr != nil {
			ev = ev.AnErr("marker", merr)
		}
	}
	ev.Err(cause).Msg("the data file is inconsistent: stopping; the log refuses every further read and write until restart")
	return err
}

// writeMarker leaves MarkerName next to the data file at path, saying
// when and why the log stopped, and makes it durable. The disk may be
// failing too: the caller logs an error and goes on stopping.
func writeMarker(path string, now time.Time, cause error) error {
	marker := filepath.Join(filepath.Dir(path), MarkerName)
	text := fmt.Sprintf("%s %v\n", now.UTC().Format(time.RFC3339), cause)
	f, err := os.OpenFile(marker, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", marker, err)
	}
	if _, err := f.WriteString(text); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", marker, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync %s: %w", marker, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", marker, err)
	}
	return SyncDir(filepath.Dir(path))
}

// readMarker returns the marker's text, or "" if there is none.
func readMarker(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, MarkerName))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the marker of a failed run: %w", err)
	}
	if s := strings.TrimSpace(string(b)); s != "" {
		return s, nil
	}
	return "(empty marker)", nil
}

// checkMarked runs the full Check before Open serves a file that a log
// stopped on (MarkerName, whose text is marker): the start-up inspection
// reads only the header then. A file with findings is refused
// (ErrDamaged); a sound one is served, and the marker removed. A new file
// (fresh) has nothing to check.
func checkMarked(dir, path, marker string, fresh bool, log zerolog.Logger) error {
	if !fresh {
		log.Warn().Str("component", "wal").Str("path", path).Str("marker", marker).Msg("the last run stopped on an inconsistency: checking the whole file before serving")
		rep, err := checkFile(path, dir, nil)
		if err != nil {
			return err
		}
		if !rep.OK() {
			return fmt.Errorf("%w: the last run stopped on an inconsistency (%s), and a full check has %d finding(s), the first: %s",
				ErrDamaged, marker, len(rep.Findings), rep.Findings[0])
		}
	}
	if err := removeMarker(dir); err != nil {
		return err
	}
	log.Warn().Str("component", "wal").Str("path", path).Msg("the full check found nothing wrong; marker removed, serving")
	return nil
}

// removeMarker removes MarkerName from dir, durably. A marker that is
// already gone (another process, started on the same directory, checked
// the file first and removed it) is no error.
func removeMarker(dir string) error {
	err := os.Remove(filepath.Join(dir, MarkerName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove the marker of a failed run: %w", err)
	}
	return SyncDir(dir)
}

// closeDB closes bbolt; after an inconsistency it waits at most
// closeAbandon, then leaves bbolt open (its file and lock go with the
// process, which is about to exit).
func (l *Log) closeDB() error {
	if !l.broken.Load() {
		return l.db.Close()
	}
	done := make(chan error, 1)
	go func() { done <- l.db.Close() }()
	t := time.NewTimer(closeAbandon)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("close %s: bbolt did not close within %s after the inconsistency; it stays open until the process exits", l.path, closeAbandon)
	}
}
