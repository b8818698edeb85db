package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/ticketq/ticketq/client"
	"github.com/ticketq/ticketq/wal"
)

// backupSource is where a backup comes from: a running server's answer,
// or a stopped server's file.
type backupSource struct {
	name  string // for messages: the server's URL or the directory
	size  int64
	copy  func(w io.Writer) (int64, error)
	close func() error
}

// sourceKind is where a backup comes from, as backupFrom chooses it.
type sourceKind int

const (
	fromEither sourceKind = iota // the directory if it exists and is free, else the server
	fromServer
	fromData
)

// sourceChoice is backupFrom's choice and the reason for it, which the
// backup states before it starts.
type sourceChoice struct {
	from sourceKind
	why  string
}

// backup writes a consistent copy of the database to -o FILE or stdout,
// from a running server (--server, GET /v1/backup) or from a stopped
// server's directory (--data). A FILE is written as FILE.tmp, synced and
// checked before it is renamed to FILE, so FILE is always a whole, sound
// backup or the one it was before.
func backup(ctx context.Context, args []string, env map[string]string, stdout, stderr io.Writer) error {
	flags := newCmdFlags("ticketq backup", "Usage: ticketq backup [--server URL [--token T] | --data DIR] [-o FILE]\n\n"+
		"Writes a consistent copy of the database, a file that 'ticketq serve' opens as it is\n"+
		"(see 'ticketq restore'). --server copies from a running server without stopping it\n"+
		"(an admin token on a server with tokens); --data reads the directory of a stopped\n"+
		"server (a running one holds it: use --server). --token and --ca, which only a server\n"+
		"takes, mean --server. With none of them, backup reads the data directory if it\n"+
		"exists and no server holds it, and asks the server otherwise; both have the defaults\n"+
		"of every other command. The first line on stderr names the source and why. With -o\n"+
		"the copy is checked like 'ticketq check' before it replaces FILE.\n", stderr)
	server := serverFlag(flags)
	access := addAccessFlags(flags)
	data := dataFlag(flags, "data directory of a stopped server")
	out := flags.String("o", "", "write the backup to this file (as FILE.tmp, synced and checked, then renamed); default stdout")
	flags.doc("o", "FILE")
	pos, err := flags.parse(args, env)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (give the file with -o)", pos[0])}
	}
	from, err := backupFrom(flags, env)
	if err != nil {
		return err
	}
	if *out == "" && isTerminal(stdout) {
		return usageError{errors.New("stdout is a terminal; give -o FILE or redirect the output to a file")}
	}
	if *out != "" {
		if err := checkBackupTarget(*out); err != nil {
			return err
		}
	}

	// A Ctrl-C during the copy stops it and removes FILE.tmp; once the
	// copy is done, it kills the process as usual (the check only reads).
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	src, err := openBackupSource(ctx, from, *server, *data, access, stderr)
	if err != nil {
		return err
	}
	defer src.close()
	if *out == "" {
		return backupToStdout(src, stdout, stderr)
	}
	return backupToFile(src, *out, stop, stderr)
}

// serverOnly are the flags that only a server takes, with their
// variables: giving one says the backup is a server's.
var serverOnly = []struct{ flag, env string }{{"token", "TICKETQ_TOKEN"}, {"ca", "TICKETQ_CA"}}

// backupFrom chooses the source. The command line decides first: --server,
// or a flag only a server takes (--token, --ca), means the server, and
// --data the directory. Else the variables do, the same way
// (TICKETQ_SERVER, TICKETQ_TOKEN, TICKETQ_CA against TICKETQ_DATA). When
// nothing names a source, or the variables name both, it is either: a
// directory that exists and no server holds, else the server.
func backupFrom(flags *cmdFlags, env map[string]string) (sourceChoice, error) {
	var serverFlag, serverVar string // the first thing that names the server
	if flags.onCommandLine("server") {
		serverFlag = "--server"
	}
	if env["TICKETQ_SERVER"] != "" {
		serverVar = "TICKETQ_SERVER"
	}
	for _, o := range serverOnly {
		if serverFlag == "" && flags.onCommandLine(o.flag) {
			serverFlag = "--" + o.flag
		}
		if serverVar == "" && env[o.env] != "" {
			serverVar = o.env
		}
	}
	data := flags.onCommandLine("data")
	switch {
	case serverFlag == "--server" && data:
		return sourceChoice{}, usageError{errors.New("give --server (a running server) or --data (a stopped server's directory), not both")}
	case serverFlag != "" && data:
		return sourceChoice{}, usageError{fmt.Errorf("%s is for a server, but --data reads a stopped server's directory: give --server URL or leave %s out", serverFlag, serverFlag)}
	case serverFlag != "":
		return sourceChoice{fromServer, serverFlag + " was given"}, nil
	case data:
		return sourceChoice{fromData, "--data was given"}, nil
	}
	switch data := env["TICKETQ_DATA"] != ""; {
	case serverVar != "" && data:
		return sourceChoice{fromEither, "TICKETQ_DATA and " + serverVar + " are both set"}, nil
	case serverVar != "":
		return sourceChoice{fromServer, serverVar + " is set"}, nil
	case data:
		return sourceChoice{fromData, "TICKETQ_DATA is set"}, nil
	}
	return sourceChoice{fromEither, "neither --server nor --data was given"}, nil
}

// openBackupSource starts the download, or opens the stopped server's
// file, after it says on stderr which and why. Either source means the
// directory if it exists and no server holds it, else the server.
func openBackupSource(ctx context.Context, choice sourceChoice, server, data string, access *accessFlags, stderr io.Writer) (*backupSource, error) {
	announce := func(name, what, why string) {
		fmt.Fprintf(stderr, "backup: from %s, %s (%s)\n", name, what, why)
	}
	const (
		running = "a running server"
		stopped = "a stopped server's directory"
	)
	switch choice.from {
	case fromServer:
		announce(server, running, choice.why)
		return openServerBackup(ctx, server, access)
	case fromData:
		announce(data, stopped, choice.why)
	}
	snap, err := wal.OpenBackupOffline(data)
	if choice.from == fromEither && err != nil {
		var found string
		switch {
		case errors.Is(err, wal.ErrInUse):
			found = data + " is held by a running server"
		case errors.Is(err, fs.ErrNotExist):
			found = data + " holds no database"
		default:
			return nil, err
		}
		announce(server, running, choice.why+", and "+found)
		src, err := openServerBackup(ctx, server, access)
		if err != nil {
			return nil, fmt.Errorf("%w (%s, and %s, so the backup was asked of %s; give --server URL or --data DIR)", err, choice.why, found, server)
		}
		return src, nil
	}
	switch {
	case errors.Is(err, wal.ErrInUse):
		return nil, fmt.Errorf("%s is held by a running server: back it up with --server URL instead", data)
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w (is --data the directory 'ticketq serve' was given?)", err)
	case err != nil:
		return nil, err
	}
	if choice.from == fromEither {
		// The choice that can surprise: a stale directory where a server
		// was meant.
		announce(data, stopped, choice.why+", and it holds a database no server holds; give --server URL for a running server")
	}
	copyTo := func(w io.Writer) (int64, error) { return snap.WriteTo(ctxWriter{ctx: ctx, w: w}) }
	return &backupSource{name: data, size: snap.Size(), copy: copyTo, close: snap.Close}, nil
}

// openServerBackup starts the download of a running server's backup.
func openServerBackup(ctx context.Context, server string, access *accessFlags) (*backupSource, error) {
	acc, err := access.resolve()
	if err != nil {
		return nil, usageError{err}
	}
	c, err := client.New(server, acc.options())
	if err != nil {
		return nil, usageError{err}
	}
	r, err := c.OpenBackup(ctx)
	if err != nil {
		return nil, err
	}
	return &backupSource{name: server, size: r.Size, copy: func(w io.Writer) (int64, error) { return io.Copy(w, r) }, close: r.Close}, nil
}

// checkBackupTarget refuses an -o that cannot be a backup file: a
// directory, or a data file that a running server holds (renaming over it
// would leave the server writing to a file without a name).
func checkBackupTarget(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(filepath.Dir(path)); err != nil {
			return fmt.Errorf("-o %s: %w", path, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("-o %s: %w", path, err)
	case !fi.Mode().IsRegular():
		return usageError{fmt.Errorf("-o %s is not a regular file", path)}
	}
	unlock, err := lockFile(path)
	if errors.Is(err, errHeld) {
		return fmt.Errorf("-o %s: the file is a data file in use by a running ticketq; write the backup elsewhere", path)
	}
	if err != nil {
		return fmt.Errorf("-o %s: %w", path, err)
	}
	unlock()
	return nil
}

// backupToStdout streams the backup and checks that every announced byte
// went out. It cannot check the content, which is not kept.
func backupToStdout(src *backupSource, stdout, stderr io.Writer) error {
	p := showBytes(stderr, "backup", src.size)
	n, err := src.copy(p.Writer(stdout))
	p.end(err == nil)
	if err != nil {
		return fmt.Errorf("backup to stdout failed after %d of %d bytes (discard what was written): %w", n, src.size, err)
	}
	if n != src.size {
		return fmt.Errorf("backup to stdout: wrote %d bytes, but the backup has %d (discard what was written)", n, src.size)
	}
	fmt.Fprintf(stderr, "backup: wrote %s (%d bytes) of %s to stdout, as many as announced.\n"+
		"Verify the content before relying on it: 'ticketq restore --data DIR FILE' checks it first,\n"+
		"or save it as DIR/ticketq.db and run 'ticketq check --data DIR'.\n", byteSize(n), n, src.name)
	return nil
}

// backupToFile writes FILE.tmp, syncs and checks it, and renames it to
// FILE, syncing the directory.
func backupToFile(src *backupSource, path string, copied func(), stderr io.Writer) error {
	tmp := path + ".tmp"
	p := showBytes(stderr, "backup", src.size)
	var n int64
	err := writeSynced(tmp, func(w io.Writer) (err error) {
		n, err = src.copy(p.Writer(w))
		if err == nil && n != src.size {
			err = fmt.Errorf("wrote %d bytes, but the backup has %d", n, src.size)
		}
		return err
	})
	p.end(err == nil)
	if err != nil {
		return fmt.Errorf("backup to %s failed after %d of %d bytes (%s was left as it was): %w", tmp, n, src.size, path, err)
	}
	_ = src.close() // the server's snapshot or the data file's lock is not needed for the check
	copied()

	progress, d := showCheck(stderr)
	rep, err := wal.CheckFile(tmp, progress)
	d.end()
	if err == nil && !rep.OK() {
		err = fmt.Errorf("the copy has %d finding(s): %v", len(rep.Findings), rep.Findings)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("backup: %w (%s was left as it was)", err, path)
	}
	if err := renameSynced(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	fmt.Fprintf(stderr, "backup: wrote %s from %s (%s, %s), checked: ok\n", path, src.name, byteSize(n), jobsInQueues(rep.Jobs, rep.Queues))
	return nil
}

// ctxWriter refuses to write once ctx has ended, so that a Ctrl-C stops a
// copy that has no context of its own.
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
