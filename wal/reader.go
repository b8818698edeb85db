package wal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rs/zerolog"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
)

// Reader reads the data directory of a stopped server without writing to
// it, for `ticketq inspect`: the read side of a Log, with nothing that
// could write. bbolt's read-only open takes a shared lock, which the
// running server's exclusive lock excludes, so a Reader and a server never
// share a directory; and while a Reader is open, a server cannot start on
// it.
type Reader struct {
	l     *Log
	empty bool // a bbolt file without ticketq's buckets yet: no jobs
}

// OpenReader opens dir read-only. It refuses a directory that a running
// server holds with ErrInUse within half a second, and a file that Open
// would refuse (damaged, cut short, newer) with a *FileError.
func OpenReader(dir string) (*Reader, error) {
	path, fi, db, err := openOffline(dir, "read", "no database was written in it yet")
	if err != nil {
		return nil, err
	}
	var format uint32
	if err := guardRead(func() error {
		return db.View(func(tx *bolt.Tx) (err error) {
			format, err = checkHeader(tx, fi.Size())
			return err
		})
	}); err != nil {
		_ = db.Close()
		return nil, fileError(path, err)
	}
	// bbolt's cursors would go round a cycle for ever: walk the tree first.
	if err := checkPages(path); err != nil {
		_ = db.Close()
		return nil, fileError(path, err)
	}
	// A Log without its committer: the read methods only use db, clock
	// and closing, and Reader exposes nothing else.
	l := &Log{db: db, path: path, clock: job.SystemClock{}, log: zerolog.Nop(), closing: make(chan struct{}), readOnly: true}
	return &Reader{l: l, empty: format == 0}, nil
}

// Path returns the bbolt file's path.
func (r *Reader) Path() string { return r.l.path }

// Queues lists the queues in name order.
func (r *Reader) Queues() ([]string, error) {
	if r.empty {
		return nil, nil
	}
	var out []string
	err := guardRead(func() (err error) {
		out, err = r.l.Queues(context.Background())
		return err
	})
	return out, err
}

// List is Log.List: a queue's jobs in ticket order, after req.After,
// optionally in one state.
func (r *Reader) List(req backend.ListRequest) (backend.ListResult, error) {
	if r.empty {
		return backend.ListResult{}, fmt.Errorf("%w: queue %q", job.ErrNotFound, req.Queue)
	}
	var out backend.ListResult
	err := guardRead(func() (err error) {
		out, err = r.l.List(context.Background(), req)
		return err
	})
	return out, err
}

// Stats is Log.Stats: one queue's counters.
func (r *Reader) Stats(queue string) (job.QueueStats, error) {
	if r.empty {
		return job.QueueStats{}, fmt.Errorf("%w: queue %q", job.ErrNotFound, queue)
	}
	var out job.QueueStats
	err := guardRead(func() (err error) {
		out, err = r.l.Stats(context.Background(), queue)
		return err
	})
	return out, err
}

// Close releases the file and its lock.
func (r *Reader) Close() error { return r.l.db.Close() }

// openOffline opens the data file of a stopped server's directory
// read-only, for verb (in errors), refusing an empty file with why. A
// directory a running server holds is refused with ErrInUse after half a
// second; a file bbolt cannot open with a *FileError.
func openOffline(dir, verb, why string) (string, os.FileInfo, *bolt.DB, error) {
	path := filepath.Join(dir, FileName)
	fi, err := os.Stat(path)
	if err != nil {
		return "", nil, nil, fmt.Errorf("%s %s: %w", verb, dir, err)
	}
	if fi.Size() == 0 {
		return "", nil, nil, fmt.Errorf("%s %s: %s is empty (0 bytes): %s", verb, dir, path, why)
	}
	db, err := openReadOnly(path, offlineLockWait, false)
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return "", nil, nil, fmt.Errorf("%s is %w", dir, ErrInUse)
	case errors.Is(err, ErrDamaged):
		return "", nil, nil, fileError(path, err)
	case err != nil:
		return "", nil, nil, fmt.Errorf("%s %s: %w", verb, dir, err)
	}
	return path, fi, db, nil
}
