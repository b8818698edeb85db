package wal

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// filled makes a data directory holding n jobs of queue and returns it.
func filled(t *testing.T, queue string, n int) string {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := submitN(context.Background(), l, queue, n); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Ensure that a data file renamed over the name while Open waits for the
// lock of the old one (what restore and compact do) is the one Open ends up
// holding, not the replaced file.
func TestOpen_FileReplacedWhileWaitingForLock(t *testing.T) {
	dir := filled(t, "old", 1)
	path := filepath.Join(dir, FileName)
	replacement := filepath.Join(filled(t, "new", 2), FileName)

	// A shared lock lets Open's read-only inspection pass and holds its
	// exclusive lock until the file has been replaced.
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := syscall.Flock(int(old.Fd()), syscall.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	opened := make(chan struct{})
	var once sync.Once
	done := make(chan struct{})
	var l *Log
	go func() {
		defer close(done)
		l, err = Open(dir, Options{LockTimeout: 10 * time.Second, openFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			once.Do(func() { close(opened) })
			return f, err
		}})
	}()
	<-opened // bbolt holds the old file and is about to wait for its lock
	if err := os.Rename(replacement, path); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(old.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	<-done
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	queues, err := l.Queues(context.Background())
	if err != nil || len(queues) != 1 || queues[0] != "new" {
		t.Fatalf("Open holds the file with queues %v (%v), want the replacement's [new]", queues, err)
	}
}

// Ensure that MatchOwner gives a file the owner and group of another (the
// tests run as root, which may; elsewhere it is a no-op, and the test says
// so rather than passing on nothing).
func TestMatchOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("MatchOwner changes owners only as root; this test needs root (CI runs as root)")
	}
	dir := t.TempDir()
	like, path := filepath.Join(dir, "like"), filepath.Join(dir, "file")
	for _, p := range []string{like, path} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(like, 4321, 4322); err != nil {
		t.Fatal(err)
	}
	if err := MatchOwner(path, like); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 4321 || st.Gid != 4322 {
		t.Fatalf("owner %d:%d, want 4321:4322", st.Uid, st.Gid)
	}
}
