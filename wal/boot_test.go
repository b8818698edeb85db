//go:build linux

package wal

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/ticketq/ticketq/wal/waltest"
)

// startLine returns the "walk" field of Open's start-up check log line,
// and whether the line counted pages read.
func startLine(t *testing.T, logged *bytes.Buffer) (walk string, walked bool) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(logged.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["message"] == "data file checked before opening" {
			_, walked = m["pages_read"]
			walk, _ = m["walk"].(string)
			return walk, walked
		}
	}
	t.Fatalf("no start-up check line in the log:\n%s", logged.String())
	return "", false
}

// openLogged opens dir with a logger and closes it at once, returning the
// log and Open's error.
func openLogged(t *testing.T, dir string) (*bytes.Buffer, error) {
	t.Helper()
	var logged bytes.Buffer
	l, err := Open(dir, Options{Logger: zerolog.New(&logged)})
	if err == nil {
		err = l.Close()
	}
	return &logged, err
}

// withBootIDFile points the boot id at path for the test.
func withBootIDFile(t *testing.T, path string) {
	t.Helper()
	old := bootIDFile
	bootIDFile = path
	t.Cleanup(func() { bootIDFile = old })
}

// Ensure that Open walks the page tree exactly when writes may have been
// lost or the file is not the one last opened here, and skips it on a
// start in the same boot on the same file (a restart after SIGKILL, a
// deploy). Each case runs on a sound file (the log says whether and why
// it walked, and a walk that passes records the start, so the next Open
// skips) and on a file with a cycle (a walk refuses it; a skip opens it,
// which is the price of the skip: such damage takes a power loss).
func TestOpen_WalkPlan(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		why     string // "" expects a skip
	}{
		{"same boot, same file", func(t *testing.T, dir string) {}, ""},
		{"another boot", func(t *testing.T, dir string) { afterPowerCut(t, dir) }, "the machine restarted since the last start"},
		{"no record", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, BootName)); err != nil {
				t.Fatal(err)
			}
		}, "no record of an earlier start"},
		{"torn record", func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, BootName), 30); err != nil {
				t.Fatal(err)
			}
		}, "is unreadable"},
		{"file replaced", func(t *testing.T, dir string) {
			// What restore and compact do: a new file renamed over the name.
			path := filepath.Join(dir, FileName)
			b, err := os.ReadFile(path)
			if err == nil {
				err = os.WriteFile(path+".new", b, 0o600)
			}
			if err == nil {
				err = os.Rename(path+".new", path)
			}
			if err != nil {
				t.Fatal(err)
			}
		}, "not the one the last start opened"},
		{"no boot id", func(t *testing.T, dir string) {
			withBootIDFile(t, filepath.Join(t.TempDir(), "missing"))
		}, "no boot id to compare"},
	}
	for _, c := range cases {
		t.Run(c.name+"/sound", func(t *testing.T) {
			dir := healthyDir(t)
			c.prepare(t, dir)
			logged, err := openLogged(t, dir)
			if err != nil {
				t.Fatal(err)
			}
			walk, walked := startLine(t, logged)
			if c.why == "" {
				if walked || !strings.HasPrefix(walk, "skipped: same boot and same file") {
					t.Fatalf("walk %q (pages counted: %v), want a skip", walk, walked)
				}
				return
			}
			if !walked || !strings.Contains(walk, c.why) {
				t.Fatalf("walk %q (pages counted: %v), want a walk because %q", walk, walked, c.why)
			}
			// The walk recorded the start, where a boot id is known.
			logged, err = openLogged(t, dir)
			if err != nil {
				t.Fatal(err)
			}
			walk, walked = startLine(t, logged)
			if c.name == "no boot id" {
				if !walked {
					t.Fatalf("without a boot id, the next start skipped the walk: %q", walk)
				}
			} else if walked {
				t.Fatalf("the start after a walk walked again: %q", walk)
			}
		})
		t.Run(c.name+"/damaged", func(t *testing.T) {
			dir := healthyDir(t)
			path := filepath.Join(dir, FileName)
			if _, err := waltest.MakeCycle(path, "jobs"); err != nil {
				t.Fatal(err)
			}
			c.prepare(t, dir)
			_, err := openLogged(t, dir)
			var fe *FileError
			if c.why == "" {
				if err != nil {
					t.Fatalf("Open = %v; a start in the same boot on the same file does not walk", err)
				}
				return
			}
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), "reached a second time") {
				t.Fatalf("Open = %v, want the walk to refuse the cycle", err)
			}
		})
	}
}

// Ensure that a start that cannot record itself still opens the file,
// says so, and that the next start walks.
func TestOpen_RecordFails(t *testing.T) {
	dir := healthyDir(t)
	name := filepath.Join(dir, BootName)
	if err := os.Remove(name); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(name, 0o700); err != nil { // unwritable as a file
		t.Fatal(err)
	}
	logged, err := openLogged(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logged.String(), "could not record this start; the next one walks") {
		t.Fatalf("no warning:\n%s", logged)
	}
	logged, err = openLogged(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if walk, walked := startLine(t, logged); !walked || !strings.Contains(walk, "cannot be read") {
		t.Fatalf("walk %q (pages counted: %v), want a walk", walk, walked)
	}
}

// Ensure that a stamp reads back as written, and that anything else (a
// torn or foreign file) is refused, which means a walk.
func TestParseStamp(t *testing.T) {
	s := bootStamp{boot: "a289d8b2-e060-4994-9927-240fbd3c6eea", file: fileID{Dev: 2049, Ino: 1234567, Born: 1733328000123456789}}
	got, err := parseStamp(s.encode())
	if err != nil || got != s {
		t.Fatalf("parseStamp(encode) = %+v, %v; want %+v", got, err, s)
	}
	good := string(s.encode())
	for name, text := range map[string]string{
		"empty":        "",
		"header":       strings.Replace(good, "stamp 1", "stamp 2", 1),
		"torn":         good[:len(good)-10],
		"no newline":   strings.TrimSuffix(good, "\n"),
		"extra line":   good + "x\n",
		"no boot id":   strings.Replace(good, "boot_id a289", "boot a289", 1),
		"empty boot":   strings.Replace(good, "boot_id a289d8b2-e060-4994-9927-240fbd3c6eea", "boot_id ", 1),
		"bad device":   strings.Replace(good, "device 2049", "device x", 1),
		"bad inode":    strings.Replace(good, "inode 1234567", "inode -1", 1),
		"bad born":     strings.Replace(good, "born 1733", "born x1733", 1),
		"swapped line": strings.Replace(strings.Replace(good, "device", "DEV", 1), "inode", "device", 1),
	} {
		if _, err := parseStamp([]byte(text)); err == nil {
			t.Errorf("%s: parseStamp(%q) accepted it", name, text)
		}
	}
}

// Ensure that a boot id file that holds something else than an id is
// refused (and so means a walk).
func TestCurrentBoot(t *testing.T) {
	if _, err := currentBoot(); err != nil {
		t.Fatalf("the kernel's boot id: %v", err)
	}
	path := filepath.Join(t.TempDir(), "boot_id")
	withBootIDFile(t, path)
	for _, bad := range []string{"", "\n", "two words\n", strings.Repeat("x", 65)} {
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if id, err := currentBoot(); err == nil {
			t.Errorf("boot id file %q read as %q", bad, id)
		}
	}
}
