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

// guard runs fn and turns a panic into the error that classify returns
// for it (p is the panic's value, site the function that raised it; see
// panicSite); a panic it returns nil for is raised again. While fn runs, a
// memory fault (reading a mapped page past the end of a file cut short)
// panics instead of killing the process. This covers the calling
// goroutine only.
func guard(fn func() error, classify func(p any, site string) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			if err = classify(p, panicSite()); err == nil {
				panic(p)
			}
		}
	}()
	return fn()
}

// guardEngine runs fn, turning a panic that comes from the storage engine
// into an ErrInconsistent error (see engineFault). Any other panic is a
// bug of ours and is raised again.
func guardEngine(fn func() error) error { return guard(fn, engineFault) }

// engineFault is the error of a panic p, raised at site, that comes from
// the storage engine: a memory fault (reading a page of bbolt's map that
// the file no longer holds), or a panic of bbolt's own code. It returns
// nil for any other panic.
//
// bbolt panics on what it reads in a damaged file (dataPanics); it also
// asserts its own state, which a bug of ours (a transaction used after it
// ended) could trip. Such a panic still stops the log, as bbolt's state
// is unknown after it, but the error does not blame the file alone.
func engineFault(p any, site string) error {
	if fault, ok := p.(interface{ Addr() uintptr }); ok {
		return fmt.Errorf("%w: memory fault reading the mapped file at %#x (a page past its end?): %v", ErrInconsistent, fault.Addr(), p)
	}
	if !strings.HasPrefix(site, "go.etcd.io/bbolt") {
		return nil
	}
	msg := fmt.Sprint(p)
	for _, d := range dataPanics {
		if strings.Contains(msg, d) {
			return fmt.Errorf("%w: bbolt panicked in %s: %s", ErrInconsistent, site, msg)
		}
	}
	return fmt.Errorf("%w (or ticketq has a bug): bbolt panicked in %s: %s", ErrInconsistent, site, msg)
}

// dataPanics are parts of the messages of bbolt v1.5's panics that come
// from what it read in the file: a page of the wrong type or id, a page id
// past the high-water mark, a freelist that disagrees with the tree or
// with itself, a bucket header of garbage. (grep panic and Assert in
// bbolt's source.)
var dataPanics = []string{
	"already freed",               // freelist: a page in use is also free
	"invalid page type",           // cursor: neither branch nor leaf
	"invalid freelist page",       // the freelist's page is something else
	"above high water mark",       // a page id past the pages in use
	"Page expected to be",         // a page that names another id
	"has unexpected type/flags",   // a page of the wrong type
	"non-freelist page",           // the freelist's page is something else
	"overflows int",               // a freelist count of garbage
	"duplicated free",             // the freelist lists a page twice
	"overlapped free",             // the freelist lists a page twice
	"cannot free page 0 or 1",     // a header page in the tree
	"misplaced bucket header",     // a bucket that is not where its key says
	"unexpected bucket header",    // a bucket value of garbage
	"inline bucket non-zero page", // an inline bucket that names a page
	"isn't 0 for an inline bucket",
	"circular dependency", // a branch that points at itself
	"zero-length",         // an empty key read from a page
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
	err := fmt.Errorf("%w: %w (file %s); stopped: run 'ticketq check --data %s' before starting it again (the next start checks the file and refuses it if it is damaged)",
		job.ErrStoreFailed, cause, l.path, dir)
	if !l.failure.CompareAndSwap(nil, &err) {
		return *l.failure.Load()
	}
	l.broken.Store(true)
	ev := l.log.Error().Str("path", l.path).Str("check", "ticketq check --data "+dir)
	// An offline reader (inspect) writes nothing, not even a marker.
	if !l.readOnly {
		// The record of this start goes first: without it the next start
		// walks the pages, even if the marker, which makes it run the
		// full check, cannot be written (the disk may be failing too).
		if serr := forgetStamp(dir); serr != nil {
			ev = ev.AnErr("boot_record", serr)
		}
		if merr := writeMarker(l.path, l.clock.Now(), cause); merr != nil {
			ev = ev.AnErr("marker", merr).Str("next_start", "without the marker, the next start walks the pages but does not run the full check: run 'ticketq check --data "+dir+"' before starting again")
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
