package wal

import (
	"testing"

	"github.com/ticketq/ticketq/backend"
)

// mustOpen opens a log in a fresh directory. When the test ends it closes
// the log, reopens the file and verifies every invariant on what is really
// on disk (bbolt's btesting does the same with its consistency check).
func mustOpen(t *testing.T, opts Options) (*Log, string) {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if l.Err() != nil {
			return // a failed log is not expected to be consistent
		}
		re, err := Open(dir, Options{})
		if err != nil {
			t.Errorf("reopen for verification: %v", err)
			return
		}
		defer re.Close()
		if err := re.Verify(); err != nil {
			t.Errorf("invariants broken on disk:\n%v", err)
		}
	})
	return l, dir
}

func configured(cfg backend.Config) Options {
	return Options{Clock: cfg.Clock, Notify: cfg.Notify}
}
