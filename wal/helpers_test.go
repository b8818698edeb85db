package wal

import (
	"os"
	"path/filepath"
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

// afterPowerCut makes dir look as it does after a power cut and the reboot
// that follows, the only way a drive that acknowledged flushes early can
// lose writes: the record of the last start (BootName, which an Open must
// have written) names an earlier boot. A test that damages a file below
// ticketq calls it before Open, which then walks the file.
func afterPowerCut(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, BootName))
	if err != nil {
		t.Fatalf("no record of the last start: %v", err)
	}
	s, err := parseStamp(b)
	if err != nil {
		t.Fatal(err)
	}
	s.boot = "an-earlier-boot"
	if err := writeStamp(dir, s); err != nil {
		t.Fatal(err)
	}
}
