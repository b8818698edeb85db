package backend

import (
	"context"
	"io"
)

// Backuper is an optional capability of a Backend: a consistent copy of the
// whole store, taken while it serves. It is not part of Backend because a
// store replicated by its own means (a PostgreSQL standby, say) has better
// tools for this than a byte stream through ticketq; the root package asks
// for it with a type assertion and answers errors.ErrUnsupported without it.
type Backuper interface {
	// OpenBackup freezes the store's committed state as it is now and
	// returns it, ready to be copied. Writes go on meanwhile and are not in
	// the copy. The caller must Close the snapshot, and soon: while it is
	// open the store may have to keep pages it would otherwise reuse.
	OpenBackup(ctx context.Context) (Snapshot, error)
}

// Snapshot is a frozen, consistent copy of a store, as OpenBackup returns it.
type Snapshot interface {
	// Size is the exact number of bytes WriteTo writes, known before the
	// first one (an HTTP answer's Content-Length).
	Size() int64
	// WriteTo writes the copy to w. It stops with an error when the
	// context given to OpenBackup ends. Call it at most once.
	WriteTo(w io.Writer) (int64, error)
	// Close releases the snapshot; it is safe to call more than once.
	Close() error
}
