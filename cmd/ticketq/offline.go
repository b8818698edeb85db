package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ticketq/ticketq/wal"
)

// This file holds what the offline commands (backup --data, restore,
// compact, inspect) share: the --data flag, flag parsing, the data file's
// lock, and the steps of writing a file durably.

// dataFlag registers --data with serve's default, read from TICKETQ_DATA
// when absent.
func dataFlag(fs *cmdFlags, usage string) *string {
	p := fs.String("data", newConfig().Data, usage)
	fs.doc("data", "DIR", "TICKETQ_DATA")
	return p
}

// errHeld is a data file that another process has locked: a running
// server, or an offline command reading it.
var errHeld = errors.New("in use by a running ticketq")

// lockTimeout is how long lockFile waits, as long as serve's own lock
// timeout, so that a command that races a starting server loses
// within a second instead of hanging.
const lockTimeout = 500 * time.Millisecond

// lockFile takes an exclusive lock on path, the flock(2) that bbolt takes
// for `ticketq serve` (and a shared one for check, inspect and backup), so
// that no server starts on the file until unlock; errHeld if another
// process holds it. It locks the file, not the name: call it on a file
// that will be replaced only while the lock is held.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(lockTimeout)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = f.Close() }, nil // closing releases it
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			_ = f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("%s is %w", path, errHeld)
			}
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		time.Sleep(50 * time.Millisecond) // bbolt's own retry interval
	}
}

// writeSynced creates path (replacing an older one, such as the leftover
// of an interrupted run), lets fill write it, then fsyncs and closes it.
// On an error the file is removed.
func writeSynced(path string, fill func(w io.Writer) error) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(path)
		}
	}()
	if err := fill(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

// renameSynced renames from to to and makes the rename durable.
func renameSynced(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("rename %s to %s: %w", from, to, err)
	}
	return wal.SyncDir(filepath.Dir(to))
}
