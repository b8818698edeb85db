package wal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
)

// This file copies a data file out: a hot backup of a running Log (bbolt
// lets a read transaction write a consistent copy of the file while
// commits go on), the same from a stopped server's directory, and CheckFile,
// which verifies such a copy wherever it lies.

var _ backend.Backuper = (*Log)(nil)

// OpenBackup implements backend.Backuper: it begins a read transaction, and
// the snapshot's WriteTo streams the file as that transaction sees it
// (bbolt's Tx.WriteTo), a valid bbolt file of exactly Size bytes that
// `ticketq serve` can open as it is.
//
// Two costs last while the snapshot is open: pages freed by later commits
// cannot be reused, so the file may grow; and if a commit must grow the
// file beyond its memory map (256 MiB at first, then doubling), that commit
// waits for the snapshot to close. Close waits for it too. So close it soon,
// and bound a slow reader.
func (l *Log) OpenBackup(ctx context.Context) (backend.Snapshot, error) {
	select {
	case <-l.closing:
		return nil, job.ErrClosed
	default:
	}
	if err := l.Err(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tx, err := l.db.Begin(false)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return nil, job.ErrClosed
	}
	if err != nil {
		return nil, fmt.Errorf("begin backup: %w", err)
	}
	return &snapshot{ctx: ctx, tx: tx}, nil
}

// OpenBackupOffline is OpenBackup for the data directory of a stopped
// server: it opens the file read-only, under the shared lock that a running
// server's exclusive one excludes, so a held directory is refused within
// half a second with ErrInUse. A file that Open would refuse (damaged, cut
// short, newer) is refused the same way, with a *FileError.
func OpenBackupOffline(dir string) (backend.Snapshot, error) {
	path, fi, db, err := openOffline(dir, "back up", "there is no database to back up")
	if err != nil {
		return nil, err
	}
	tx, err := db.Begin(false)
	if err == nil {
		err = guardRead(func() error {
			_, err := checkHeader(tx, fi.Size())
			return err
		})
		if err == nil {
			err = checkPages(path)
		}
		if err != nil {
			_ = tx.Rollback()
			err = fileError(path, err)
		}
	}
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &snapshot{ctx: context.Background(), tx: tx, db: db}, nil
}

// snapshot is a read transaction to be copied out.
type snapshot struct {
	ctx  context.Context
	tx   *bolt.Tx
	db   *bolt.DB // closed with the snapshot when it was opened for it
	once sync.Once
	err  error
}

func (s *snapshot) Size() int64 { return s.tx.Size() }

func (s *snapshot) WriteTo(w io.Writer) (int64, error) {
	n, err := s.tx.WriteTo(ctxWriter{s.ctx, w})
	// bbolt flattens some of its errors to text, so ctx's is looked up
	// again rather than found by errors.Is.
	if cerr := s.ctx.Err(); cerr != nil {
		return n, fmt.Errorf("backup stopped after %d of %d bytes: %w", n, s.tx.Size(), cerr)
	}
	if err != nil {
		return n, fmt.Errorf("backup stopped after %d of %d bytes: %w", n, s.tx.Size(), err)
	}
	return n, nil
}

func (s *snapshot) Close() error {
	s.once.Do(func() {
		s.err = s.tx.Rollback()
		if s.db != nil {
			s.err = errors.Join(s.err, s.db.Close())
		}
	})
	return s.err
}

// ctxWriter refuses to write once ctx has ended, so that an abandoned
// backup releases its transaction at the next chunk.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
