package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketq/ticketq/wal"
)

// backupFile backs up a fresh data directory of 40 jobs and returns the
// backup's path.
func backupFile(t *testing.T) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "backup.db")
	if code, _, errOut := runTool(t, nil, "backup", "--data", dataDir(t), "-o", file); code != 0 {
		t.Fatalf("backup: exit %d\n%s", code, errOut)
	}
	return file
}

// Ensure that restore installs a checked backup byte for byte into a new
// directory, and with --force over an existing database, which it keeps.
func TestRestore(t *testing.T) {
	file := backupFile(t)
	want, err := os.ReadFile(file)
	must(t, err)

	dir := filepath.Join(t.TempDir(), "new")
	code, out, errOut := runTool(t, nil, "restore", "--data", dir, file)
	if code != 0 || !strings.Contains(out, "restored "+file+" into "+filepath.Join(dir, wal.FileName)) || !strings.Contains(out, "40 jobs in 2 queues, checked: ok") {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
	}
	got, err := os.ReadFile(filepath.Join(dir, wal.FileName))
	must(t, err)
	if !bytes.Equal(got, want) {
		t.Fatal("the restored database differs from the backup")
	}

	// --force over a database: the old one is kept under a second name.
	existing := dataDir(t)
	target := filepath.Join(existing, wal.FileName)
	old, err := os.ReadFile(target)
	must(t, err)
	code, out, errOut = runTool(t, map[string]string{"TICKETQ_DATA": existing}, "restore", file, "--force")
	kept := regexp.MustCompile(`kept as (\S+ticketq\.db\.before-restore-\d{8}T\d{6}\.\d{3}Z)\n`).FindStringSubmatch(out)
	if code != 0 || kept == nil {
		t.Fatalf("restore --force: exit %d\n%s%s", code, out, errOut)
	}
	if got, _ := os.ReadFile(target); !bytes.Equal(got, want) {
		t.Fatal("restore --force did not install the backup")
	}
	if got, _ := os.ReadFile(kept[1]); !bytes.Equal(got, old) {
		t.Fatalf("%s is not the previous database", kept[1])
	}
	if left, _ := filepath.Glob(filepath.Join(existing, "*.restore-tmp")); len(left) > 0 {
		t.Fatalf("temporary file left: %v", left)
	}
}

// Ensure that restore refuses, changing nothing, a damaged or empty or
// missing backup, a directory that holds a database without --force, a
// directory a server holds, and bad arguments.
func TestRestore_Refused(t *testing.T) {
	file := backupFile(t)
	damaged := filepath.Join(t.TempDir(), "damaged.db")
	must(t, os.WriteFile(damaged, mustRead(t, file), 0o600))
	breakFreelist(t, damaged)
	empty := filepath.Join(t.TempDir(), "empty.db")
	must(t, os.WriteFile(empty, nil, 0o600))
	existing := dataDir(t)
	held := t.TempDir()
	startServe(t, nil, "--addr", "127.0.0.1:0", "--data", held)
	fresh := filepath.Join(t.TempDir(), "fresh") // must not be created

	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"Damaged", []string{"--data", fresh, damaged}, 1, "is not a sound backup, so it was not restored (nothing was changed); its findings:\n  1. pages: the freelist is damaged"},
		{"Empty", []string{"--data", fresh, empty}, 1, "is empty (0 bytes), not a backup"},
		{"Missing", []string{"--data", fresh, filepath.Join(t.TempDir(), "none.db")}, 1, "no such file or directory"},
		{"Directory", []string{"--data", fresh, t.TempDir()}, 1, "is not a regular file"},
		{"ExistingWithoutForce", []string{"--data", existing, file}, 1, "already holds a database"},
		{"Held", []string{"--data", held, "--force", file}, 1, "is held by a running ticketq: stop the server first; nothing was changed"},
		{"Itself", []string{"--data", existing, "--force", filepath.Join(existing, wal.FileName)}, 2, "is the database of"},
		{"NoFile", []string{"--data", existing}, 2, "want exactly one FILE"},
		{"TwoFiles", []string{"--data", existing, file, file}, 2, "want exactly one FILE"},
		{"UnknownFlag", []string{"--frce", file}, 2, "flag provided but not defined: -frce"},
		{"Help", []string{"--help"}, 0, "Usage: ticketq restore --data DIR [--force] FILE"},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The held directory's server writes to its file on its own, so
			// only the other one can be compared.
			before := fileSum(t, filepath.Join(existing, wal.FileName))
			code, _, errOut := runTool(t, nil, append([]string{"restore"}, c.args...)...)
			if code != c.code || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s", code, c.code, c.want, errOut)
			}
			if fileSum(t, filepath.Join(existing, wal.FileName)) != before {
				t.Fatalf("a refused restore changed %s", existing)
			}
			for _, d := range []string{existing, held} {
				if left := leftovers(d); len(left) > 0 {
					t.Fatalf("a refused restore left %v", left)
				}
			}
			if _, err := os.Stat(fresh); !os.IsNotExist(err) {
				t.Fatalf("a refused restore created %s (%v)", fresh, err)
			}
		})
	}
}

// leftovers lists the files named after the data file in dir that a tool
// may have left, leaving out the record of the last start (wal.BootName),
// which the server writes.
func leftovers(dir string) []string {
	left, _ := filepath.Glob(filepath.Join(dir, wal.FileName+".*"))
	return slices.DeleteFunc(left, func(p string) bool { return filepath.Base(p) == wal.BootName })
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	return b
}

// Ensure that a restore into a directory without a database holds the
// place: a server starting meanwhile cannot create a database of its own
// (the rename would orphan it with every job it acked), and a refused
// restore leaves the directory as it found it.
func TestRestore_HoldsAnEmptyDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	target := filepath.Join(dir, wal.FileName)
	exists, created, release, err := holdTarget(dir, target)
	if err != nil || exists || !created {
		t.Fatalf("holdTarget = %v, %v, %v", exists, created, err)
	}
	if l, err := wal.Open(dir, wal.Options{LockTimeout: 100 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "in use by another ticketq process") {
		if l != nil {
			_ = l.Close()
		}
		t.Fatalf("a server opened the directory during the restore: %v", err)
	}
	release(false)
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused restore left %s behind (%v)", dir, err)
	}

	// A restore that goes through: the server that waited opens the
	// restored file, not the placeholder it found.
	file := backupFile(t)
	_, _, release, err = holdTarget(dir, target)
	must(t, err)
	opened := make(chan *wal.Log, 1)
	go func() {
		l, err := wal.Open(dir, wal.Options{LockTimeout: 10 * time.Second})
		if err != nil {
			t.Error(err)
		}
		opened <- l
	}()
	b, err := os.ReadFile(file)
	must(t, err)
	must(t, os.WriteFile(target+".restore-tmp", b, 0o600))
	must(t, os.Rename(target+".restore-tmp", target))
	release(true)
	l := <-opened
	if l == nil {
		t.FailNow()
	}
	defer l.Close()
	if queues, err := l.Queues(context.Background()); err != nil || len(queues) != 2 {
		t.Fatalf("the waiting server holds queues %v (%v), want the backup's 2", queues, err)
	}
}
