package ticketq

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/ticketq/ticketq/backend"
)

// plainBackend hides every capability of the backend it wraps but the
// contract itself, as a backend without backups would be.
type plainBackend struct{ backend.Backend }

// Ensure that a backend without the optional Backuper answers backups with
// errors.ErrUnsupported rather than failing in some other way.
func TestQueue_BackupUnsupported(t *testing.T) {
	q := openQueue(t, Options{wrap: func(b backend.Backend) backend.Backend { return plainBackend{b} }})
	if _, err := q.OpenBackup(context.Background()); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("OpenBackup on a backend without backups: %v", err)
	}
	if _, err := q.Backup(context.Background(), io.Discard); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Backup on a backend without backups: %v", err)
	}
}
