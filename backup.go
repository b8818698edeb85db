package ticketq

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ticketq/ticketq/backend"
)

// Snapshot is a frozen, consistent copy of the whole store, as OpenBackup
// returns it: Size bytes that WriteTo streams, a file that `ticketq serve`
// can open as it is. Close it soon (see OpenBackup).
type Snapshot = backend.Snapshot

// OpenBackup freezes the store's committed state while the queue keeps
// running, and returns it to be copied: every job acknowledged before the
// call is in it, none submitted after. Close the snapshot when done; while
// it is open the store cannot reuse the pages that later commits free (the
// file may grow), a commit that must grow the file past its memory map
// waits for it, and Close of the Queue waits for it. Bound a slow reader
// with ctx, which stops WriteTo.
//
// A backend that cannot stream a copy answers an error matching
// errors.ErrUnsupported.
func (q *Queue) OpenBackup(ctx context.Context) (Snapshot, error) {
	if q.isClosed() {
		return nil, ErrClosed
	}
	b, ok := q.b.(backend.Backuper)
	if !ok {
		return nil, fmt.Errorf("backup: %w: the storage backend (%T) cannot stream a copy of itself", errors.ErrUnsupported, q.b)
	}
	s, err := b.OpenBackup(ctx)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return s, nil
}

// Backup writes a consistent copy of the store to w while the queue keeps
// running (see OpenBackup) and returns the bytes written. Write it to a
// file, sync it, and check it (`ticketq check`) before relying on it.
func (q *Queue) Backup(ctx context.Context, w io.Writer) (int64, error) {
	s, err := q.OpenBackup(ctx)
	if err != nil {
		return 0, err
	}
	n, err := s.WriteTo(w)
	if cerr := s.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("backup: %w", cerr)
	}
	return n, err
}
