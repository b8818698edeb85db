package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ticketq/ticketq/client"
	"github.com/ticketq/ticketq/job"
	"github.com/ticketq/ticketq/wal"
	"github.com/ticketq/ticketq/wal/waltest"
)

// runTool runs the CLI in-process and returns its exit status, stdout and
// stderr, as a shell would see them.
func runTool(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := exitCode(run(context.Background(), args, env, &stdout, &stderr), &stderr)
	return code, stdout.String(), stderr.String()
}

// fileSum returns a digest of a file's bytes and its modification time, to
// show that a command did not write to it (snapshot, in check_test.go,
// spells the bytes out, which is slow for a 16 MiB data file).
func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	fi, err := os.Stat(path)
	must(t, err)
	return fmt.Sprintf("%x %s", sha256.Sum256(b), fi.ModTime())
}

// checkedJobs checks the data file at path offline and returns its job
// count, failing the test on any finding.
func checkedJobs(t *testing.T, path string) int {
	t.Helper()
	rep, err := wal.CheckFile(path, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("check of %s: %v, %+v", path, err, rep)
	}
	return rep.Jobs
}

// Ensure that a backup taken from the real server under a load of submits
// holds every job acked before it began, and that a server started on
// the restored copy serves each of them.
func TestBackup_ServerUnderLoad(t *testing.T) {
	ctx := context.Background()
	srv, _, err := readyServer(ctx, benchBinary, t.TempDir(), nil, nil)
	must(t, err)
	defer func() { must(t, srv.stop()) }()
	c, err := client.New(srv.url(), client.Options{})
	must(t, err)

	var mu sync.Mutex
	var acked []job.Ticket
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := c.Submit(ctx, "emails", client.Submission{Payload: []byte(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))})
				if err != nil {
					t.Errorf("submit: %v", err)
					return
				}
				mu.Lock()
				acked = append(acked, r.Ticket)
				mu.Unlock()
			}
		})
	}
	ackedBefore := func() []job.Ticket {
		mu.Lock()
		defer mu.Unlock()
		return append([]job.Ticket(nil), acked...)
	}
	deadline := time.Now().Add(time.Minute)
	for len(ackedBefore()) < 300 {
		if time.Now().After(deadline) {
			t.Fatal("fewer than 300 acks in a minute")
		}
		time.Sleep(5 * time.Millisecond) // paces the polling only
	}

	file := filepath.Join(t.TempDir(), "nightly.db")
	before := ackedBefore() // acked before the backup began: all must be in it
	code, _, errOut := runTool(t, nil, "backup", "--server", srv.url(), "-o", file)
	close(stop)
	wg.Wait()
	if code != 0 || !strings.Contains(errOut, "checked: ok") {
		t.Fatalf("backup: exit %d\n%s", code, errOut)
	}
	n := checkedJobs(t, file)
	t.Logf("%d acked before the backup, %d jobs in it, %d acked by the end", len(before), n, len(ackedBefore()))
	if n < len(before) {
		t.Fatalf("the backup holds %d jobs, fewer than the %d acked before it began", n, len(before))
	}
	if _, err := os.Stat(file + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("FILE.tmp is left: %v", err)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if code, out, errOut := runTool(t, nil, "restore", "--data", restored, file); code != 0 {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
	}
	second, _, err := readyServer(ctx, benchBinary, restored, nil, nil)
	must(t, err)
	defer func() { must(t, second.stop()) }()
	rc, err := client.New(second.url(), client.Options{})
	must(t, err)
	for _, tk := range before {
		if j, err := rc.Status(ctx, tk); err != nil || j.State != job.Queued {
			t.Fatalf("ticket %s on the restored server: %v, %+v", tk, err, j)
		}
	}
}

// Ensure that a stopped server's directory is backed up to a file, checked,
// and to stdout with its length checked, without changing the directory.
func TestBackup_Offline(t *testing.T) {
	dir := dataDir(t)
	path := filepath.Join(dir, wal.FileName)
	before := fileSum(t, path)
	file := filepath.Join(t.TempDir(), "b.db")
	code, out, errOut := runTool(t, nil, "backup", "--data", dir, "-o", file)
	if code != 0 || out != "" || !strings.Contains(errOut, "backup: wrote "+file) || !strings.Contains(errOut, "40 jobs in 2 queues), checked: ok") {
		t.Fatalf("backup -o: exit %d\nstdout %q\nstderr %s", code, out, errOut)
	}
	if n := checkedJobs(t, file); n != 40 {
		t.Fatalf("the backup holds %d jobs, want 40", n)
	}

	// To stdout, with the directory from the environment.
	code, out, errOut = runTool(t, map[string]string{"TICKETQ_DATA": dir}, "backup")
	if code != 0 || !strings.Contains(errOut, "as many as announced") || !strings.Contains(errOut, "ticketq check") {
		t.Fatalf("backup to stdout: exit %d\n%s", code, errOut)
	}
	copied := filepath.Join(t.TempDir(), "stdout.db")
	must(t, os.WriteFile(copied, []byte(out), 0o600))
	if n := checkedJobs(t, copied); n != 40 {
		t.Fatalf("the stdout backup holds %d jobs, want 40", n)
	}
	if fileSum(t, path) != before {
		t.Fatal("backup --data changed the data file")
	}
}

// Ensure that backup takes --server and --data from the same variables and
// defaults as every other command, that a flag only a server takes chooses
// the server even where a stopped server's directory would be found, that
// without any it reads the data directory when it exists and no server
// holds it, else the server, and that its first line says which and why.
func TestBackup_Defaults(t *testing.T) {
	stopped := dataDir(t)
	heldDir := t.TempDir()
	heldAddr, _ := startServe(t, nil, "--addr", "127.0.0.1:0", "--data", heldDir)
	heldURL := "http://" + heldAddr
	out := t.TempDir()
	cases := []struct {
		name, cwd string
		env       map[string]string
		args      []string
		from      string // the source, in the final message
		why       string // the first line's reason
	}{
		{"BothVariablesDirectoryFree", "", map[string]string{"TICKETQ_SERVER": "http://127.0.0.1:1", "TICKETQ_DATA": stopped}, nil,
			stopped, "a stopped server's directory (TICKETQ_DATA and TICKETQ_SERVER are both set, and it holds a database no server holds; give --server URL"},
		{"BothVariablesDirectoryHeld", "", map[string]string{"TICKETQ_SERVER": heldURL, "TICKETQ_DATA": heldDir}, nil,
			heldURL, "a running server (TICKETQ_DATA and TICKETQ_SERVER are both set, and " + heldDir + " is held by a running server)"},
		{"ServerVariableAlone", filepath.Dir(stopped), map[string]string{"TICKETQ_SERVER": heldURL}, nil,
			heldURL, "a running server (TICKETQ_SERVER is set)"},
		{"DataVariableAlone", "", map[string]string{"TICKETQ_DATA": stopped}, nil,
			stopped, "a stopped server's directory (TICKETQ_DATA is set)"},
		{"DefaultDirectory", filepath.Dir(stopped), nil, nil,
			"ticketq-data", "a stopped server's directory (neither --server nor --data was given, and it holds a database no server holds"},
		// ./ticketq-data is there and free, and the variables leave the
		// choice open: the token says the server is meant.
		{"TokenFlagChoosesServer", filepath.Dir(stopped), map[string]string{"TICKETQ_SERVER": heldURL, "TICKETQ_DATA": "ticketq-data"}, []string{"--token", "any"},
			heldURL, "a running server (--token was given)"},
	}
	// ./ticketq-data in the directory of the cases that run there.
	must(t, os.Symlink(stopped, filepath.Join(filepath.Dir(stopped), "ticketq-data")))
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.cwd != "" {
				t.Chdir(c.cwd)
			}
			file := filepath.Join(out, fmt.Sprint(i))
			code, _, errOut := runTool(t, c.env, append([]string{"backup", "-o", file}, c.args...)...)
			first, _, _ := strings.Cut(errOut, "\n")
			if code != 0 || !strings.HasPrefix(first, "backup: from "+c.from+", "+c.why) {
				t.Fatalf("exit %d, want 0 with the first line naming %s, %s:\n%s", code, c.from, c.why, errOut)
			}
			if !strings.Contains(errOut, "backup: wrote "+file+" from "+c.from+" (") || !strings.Contains(errOut, "checked: ok") {
				t.Fatalf("the backup of %s is not the one announced, or not checked:\n%s", file, errOut)
			}
		})
	}
}

// Ensure that backupFrom decides from the command line first, then from
// the variables, that a flag or variable only a server takes counts as the
// server's, and that contradictions are usage errors.
func TestBackupFrom(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		from sourceKind
		why  string // or the error
	}{
		{"Nothing", nil, nil, fromEither, "neither --server nor --data was given"},
		{"Server", []string{"--server", "http://h:1"}, nil, fromServer, "--server was given"},
		{"Data", []string{"--data", "d"}, nil, fromData, "--data was given"},
		{"Token", []string{"--token", "t"}, nil, fromServer, "--token was given"},
		{"CA", []string{"--ca", "ca.pem"}, nil, fromServer, "--ca was given"},
		{"TokenBeatsDataVariable", []string{"--token", "t"}, map[string]string{"TICKETQ_DATA": "d"}, fromServer, "--token was given"},
		{"DataBeatsTokenVariable", []string{"--data", "d"}, map[string]string{"TICKETQ_TOKEN": "t"}, fromData, "--data was given"},
		{"ServerVariable", nil, map[string]string{"TICKETQ_SERVER": "http://h:1"}, fromServer, "TICKETQ_SERVER is set"},
		{"TokenVariable", nil, map[string]string{"TICKETQ_TOKEN": "t"}, fromServer, "TICKETQ_TOKEN is set"},
		{"CAVariable", nil, map[string]string{"TICKETQ_CA": "ca.pem"}, fromServer, "TICKETQ_CA is set"},
		{"DataVariable", nil, map[string]string{"TICKETQ_DATA": "d"}, fromData, "TICKETQ_DATA is set"},
		{"BothVariables", nil, map[string]string{"TICKETQ_TOKEN": "t", "TICKETQ_DATA": "d"}, fromEither, "TICKETQ_DATA and TICKETQ_TOKEN are both set"},
		{"ServerAndData", []string{"--server", "http://h:1", "--data", "d"}, nil, -1, "not both"},
		{"TokenAndData", []string{"--token", "t", "--data", "d"}, nil, -1, "--token is for a server, but --data reads a stopped server's directory"},
		{"CAAndData", []string{"--data", "d", "--ca", "ca.pem"}, nil, -1, "--ca is for a server"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			flags := newCmdFlags("ticketq backup", "", io.Discard)
			serverFlag(flags)
			addAccessFlags(flags)
			dataFlag(flags, "")
			if _, err := flags.parse(c.args, c.env); err != nil {
				t.Fatal(err)
			}
			got, err := backupFrom(flags, c.env)
			var ue usageError
			switch {
			case c.from < 0 && (!errors.As(err, &ue) || !strings.Contains(err.Error(), c.why)):
				t.Fatalf("%v, want a usage error with %q", err, c.why)
			case c.from >= 0 && (err != nil || got.from != c.from || got.why != c.why):
				t.Fatalf("%+v, %v; want %d, %q", got, err, c.from, c.why)
			}
		})
	}
}

// Ensure that each way a backup can fail exits non-zero with a clear
// message, leaves no FILE.tmp, and leaves an earlier FILE as it was.
func TestBackup_Errors(t *testing.T) {
	authAddr, _ := startServe(t, authEnv(), "--addr", "127.0.0.1:0")
	authURL := "http://" + authAddr
	heldDir := t.TempDir()
	heldAddr, _ := startServe(t, nil, "--addr", "127.0.0.1:0", "--data", heldDir)
	damaged := dataDir(t)
	for _, d := range damages {
		if d.name == "newer format" {
			d.apply(t, filepath.Join(damaged, wal.FileName))
		}
	}
	freelist := dataDir(t) // a sound header over a broken freelist: refused, as serve refuses it, before any copy
	breakFreelist(t, filepath.Join(freelist, wal.FileName))
	records := dataDir(t) // sound pages holding records that do not decode: only the copy's check sees them
	if _, _, err := waltest.BreakValues(filepath.Join(records, wal.FileName), 2, "jobs"); err != nil {
		t.Fatal(err)
	}

	out := t.TempDir()
	cases := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"UnknownFlag", nil, []string{"--bogus"}, 2, "flag provided but not defined: -bogus"},
		{"ExtraArgument", nil, []string{"--data", damaged, "x.db"}, 2, `unexpected argument "x.db"`},
		{"NeitherSourceAnswers", map[string]string{"TICKETQ_SERVER": "http://127.0.0.1:1", "TICKETQ_DATA": t.TempDir()}, []string{"-o", filepath.Join(out, "x")}, 1,
			"connection refused (TICKETQ_DATA and TICKETQ_SERVER are both set, and " + os.TempDir()},
		{"EitherSourceDamaged", map[string]string{"TICKETQ_SERVER": "http://127.0.0.1:1", "TICKETQ_DATA": damaged}, []string{"-o", filepath.Join(out, "y")}, 1, "format version 9"},
		{"BothSources", nil, []string{"--server", authURL, "--data", damaged}, 2, "not both"},
		{"DataWithToken", nil, []string{"--data", damaged, "--token", adminSecret, "-o", filepath.Join(out, "y2")}, 2, "--token is for a server, but --data reads"},
		{"BadServerFromEnv", map[string]string{"TICKETQ_SERVER": "ftp://x"}, []string{"-o", filepath.Join(out, "z")}, 2, "ftp"},
		{"Help", nil, []string{"--help"}, 0, "Usage: ticketq backup [--server URL"},
		{"MissingDir", nil, []string{"--data", t.TempDir(), "-o", filepath.Join(out, "a")}, 1, "is --data the directory 'ticketq serve' was given?"},
		{"HeldDir", nil, []string{"--data", heldDir, "-o", filepath.Join(out, "b")}, 1, "held by a running server: back it up with --server URL instead"},
		{"DamagedDir", nil, []string{"--data", damaged, "-o", filepath.Join(out, "c")}, 1, "format version 9"},
		{"BrokenFreelist", nil, []string{"--data", freelist, "-o", filepath.Join(out, "d")}, 1, "the freelist is damaged"},
		{"CopyFailsCheck", nil, []string{"--data", records, "-o", filepath.Join(out, "d2")}, 1, "the copy has 8 finding(s): [job 1: corrupt record"},
		{"Unreachable", nil, []string{"--server", "http://127.0.0.1:1", "-o", filepath.Join(out, "e")}, 1, "connection refused"},
		{"NoToken", nil, []string{"--server", authURL, "-o", filepath.Join(out, "f")}, 1, "401 unauthorized"},
		{"SubmitToken", nil, []string{"--server", authURL, "--token", submitSecret, "-o", filepath.Join(out, "g")}, 1, "403 forbidden"},
		{"OutputIsDir", nil, []string{"--data", damaged, "-o", out}, 2, "is not a regular file"},
		{"OutputInMissingDir", nil, []string{"--data", damaged, "-o", filepath.Join(out, "none", "h")}, 1, "no such file or directory"},
		{"OutputIsLiveDatabase", nil, []string{"--server", "http://" + heldAddr, "-o", filepath.Join(heldDir, wal.FileName)}, 1, "a data file in use by a running ticketq"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := runTool(t, c.env, append([]string{"backup"}, c.args...)...)
			if code != c.code || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s", code, c.code, c.want, errOut)
			}
		})
	}
	if left, _ := filepath.Glob(filepath.Join(out, "*")); len(left) > 0 {
		t.Fatalf("failed backups left files: %v", left)
	}

	// A failed backup leaves the earlier one alone.
	earlier := filepath.Join(out, "nightly.db")
	code, _, errOut := runTool(t, nil, "backup", "--data", dataDir(t), "-o", earlier)
	if code != 0 {
		t.Fatalf("backup: exit %d\n%s", code, errOut)
	}
	before := fileSum(t, earlier)
	if code, _, errOut := runTool(t, nil, "backup", "--data", records, "-o", earlier); code != 1 || !strings.Contains(errOut, earlier+" was left as it was") {
		t.Fatalf("a failing backup over an earlier one: exit %d\n%s", code, errOut)
	}
	if fileSum(t, earlier) != before {
		t.Fatal("a failed backup changed the earlier one")
	}
}

// breakFreelist zeroes the freelist page of a closed data file, leaving
// its header sound.
func breakFreelist(t *testing.T, path string) {
	t.Helper()
	var pageSize, at int64
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	must(t, err)
	pageSize = int64(db.Info().PageSize)
	_ = db.View(func(tx *bolt.Tx) error {
		for id := 2; ; id++ {
			p, err := tx.Page(id)
			if err != nil || p == nil {
				t.Fatalf("no freelist page (%v)", err)
			}
			if p.Type == "freelist" {
				at = int64(id) * pageSize
				return nil
			}
		}
	})
	must(t, db.Close())
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteAt(make([]byte, pageSize), at)
	must(t, errors.Join(err, f.Close()))
}
