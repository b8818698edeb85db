package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ticketq/ticketq/wal"
)

// restore installs a backup file as the database of a stopped server's
// data directory: the file is checked first, copied next to the target,
// synced, and renamed over it, and the directory synced, so the directory
// holds either its old database or the whole backup, never a mix. A
// database already there is replaced only with --force, and kept.
func restore(args []string, env map[string]string, stdout, stderr io.Writer) error {
	flags := newCmdFlags("ticketq restore", "Usage: ticketq restore --data DIR [--force] FILE\n\n"+
		"Installs FILE, a backup from 'ticketq backup', as DIR's database. FILE is checked like\n"+
		"'ticketq check' first and refused if it has any finding. Stop the server first. Jobs that\n"+
		"were running when the backup was taken run again after the start (at-least-once).\n", stderr)
	data := dataFlag(flags, "data directory to restore into; the server must be stopped")
	force := flags.Bool("force", false, "replace the database already in the directory (it is kept as ticketq.db.before-restore-TIME)")
	flags.doc("force", "")
	pos, err := flags.parse(args, env)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{fmt.Errorf("want exactly one FILE, the backup to restore (got %d arguments)", len(pos))}
	}
	file, dir := pos[0], *data
	target := filepath.Join(dir, wal.FileName)

	fi, err := os.Stat(file)
	switch {
	case err != nil:
		return fmt.Errorf("restore: %w", err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("restore: %s is not a regular file", file)
	case fi.Size() == 0:
		return fmt.Errorf("restore: %s is empty (0 bytes), not a backup; nothing was changed", file)
	}
	if ti, err := os.Stat(target); err == nil && os.SameFile(fi, ti) {
		return usageError{fmt.Errorf("%s is the database of %s itself", file, dir)}
	}

	// The directory first: it is quick, and a refusal there spares the check.
	exists, created, release, err := holdTarget(dir, target)
	if err != nil {
		return err
	}
	restored := false
	defer func() { release(restored) }()
	if exists && !*force {
		return fmt.Errorf("%s already holds a database (%s); pass --force to replace it (it is kept as %s.before-restore-TIME); nothing was changed", dir, target, wal.FileName)
	}

	progress, d := showCheck(stderr)
	rep, err := wal.CheckFile(file, progress)
	d.end()
	if err != nil {
		return fmt.Errorf("restore: %w; nothing was changed", err)
	}
	if !rep.OK() {
		return fmt.Errorf("%s is not a sound backup, so it was not restored (nothing was changed); its findings:\n%s", file, numbered(rep.Findings))
	}

	// Copy next to the target, then rename over it.
	tmp := target + ".restore-tmp"
	p := showBytes(stderr, "restore", fi.Size())
	err = writeSynced(tmp, func(w io.Writer) error {
		in, err := os.Open(file)
		if err != nil {
			return err
		}
		defer in.Close()
		n, err := io.Copy(p.Writer(w), in)
		if err != nil {
			return fmt.Errorf("copy %s: %w", file, err)
		}
		// The file that was checked must be the file that was copied.
		if after, err := in.Stat(); err != nil || n != fi.Size() || !after.ModTime().Equal(fi.ModTime()) {
			return fmt.Errorf("%s changed while it was restored (it was being written?); run restore again once it is complete", file)
		}
		return nil
	})
	p.end(err == nil)
	if err == nil {
		// The directory's owner is the service's user (systemd's
		// StateDirectory): a restore run with sudo must not leave it a
		// root-owned file it cannot open.
		err = wal.MatchOwner(tmp, dir)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("restore: %w; nothing was changed", err)
	}

	kept := ""
	if exists {
		// A second name for the old file, so that the rename below replaces
		// the database in one step: there is never a moment without one.
		kept = target + ".before-restore-" + time.Now().UTC().Format("20060102T150405.000Z")
		if err := os.Link(target, kept); err != nil {
			_ = os.Remove(tmp)
			return fmt.Errorf("restore: keep the old database as %s: %w; nothing was changed", kept, err)
		}
	}
	if err := renameSynced(tmp, target); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("restore: %w", err)
	}
	restored = true
	if created {
		if err := wal.SyncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	fmt.Fprintf(stdout, "restored %s into %s: %s, %s, checked: ok\n", file, target, byteSize(fi.Size()), jobsInQueues(rep.Jobs, rep.Queues))
	if kept != "" {
		fmt.Fprintf(stdout, "the previous database is kept as %s\n", kept)
	}
	return nil
}

// holdTarget locks the directory's database for the whole restore, so
// that no server opens it meanwhile. Where there is none yet, it creates an
// empty one to lock: a server that starts during the restore must wait for
// that lock (and then open the restored file, which wal.Open checks for),
// not create a database of its own that the rename would orphan with
// every job it acked. release removes that placeholder unless the restore
// went through, then unlocks.
func holdTarget(dir, target string) (exists, createdDir bool, release func(restored bool), err error) {
	_, err = os.Stat(target)
	exists = err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, false, nil, fmt.Errorf("restore: %w", err)
	}
	placeholder := false
	if !exists {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return false, false, nil, fmt.Errorf("restore: %w", err)
			}
			createdDir = true
		}
		f, err := os.OpenFile(target, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return false, false, nil, fmt.Errorf("a database appeared in %s as restore started (a server starting?); nothing was changed", dir)
		}
		if err != nil {
			if createdDir {
				_ = os.Remove(dir)
			}
			return false, false, nil, fmt.Errorf("restore: %w", err)
		}
		_ = f.Close()
		placeholder = true
	}
	unlock, err := lockFile(target)
	if err != nil {
		if placeholder {
			_ = os.Remove(target)
		}
		if createdDir {
			_ = os.Remove(dir)
		}
		if errors.Is(err, errHeld) {
			return exists, createdDir, nil, fmt.Errorf("%s is held by a running ticketq: stop the server first; nothing was changed", dir)
		}
		return exists, createdDir, nil, fmt.Errorf("restore: %w", err)
	}
	return exists, createdDir, func(restored bool) {
		if placeholder && !restored {
			_ = os.Remove(target)
			if createdDir {
				_ = os.Remove(dir) // empty again: a refused restore leaves nothing
			}
		}
		unlock()
	}, nil
}

// numbered lists findings one a line, numbered, as check prints them.
func numbered(findings []string) string {
	var b strings.Builder
	for i, f := range findings {
		fmt.Fprintf(&b, "  %d. %s\n", i+1, f)
	}
	return strings.TrimRight(b.String(), "\n")
}

// jobsInQueues says "40 jobs in 2 queues", in the singular where it fits.
func jobsInQueues(jobs, queues int) string {
	plural := func(n int, word string) string {
		if n == 1 {
			return "1 " + word
		}
		return fmt.Sprintf("%d %ss", n, word)
	}
	return plural(jobs, "job") + " in " + plural(queues, "queue")
}
