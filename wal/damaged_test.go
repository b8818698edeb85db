package wal

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ticketq/ticketq/wal/waltest"
)

// treeDamages break the page tree of a healthy file below bbolt, the ways
// a drive that acknowledges flushes early leaves it; want is in one of
// Check's findings, and in Open's refusal when refused is set.
var treeDamages = []struct {
	name    string
	apply   func(path string) error
	want    string
	refused bool
}{
	{"page pointed at a free page", func(path string) error {
		_, err := waltest.PointAtFreePage(path, "jobs")
		return err
	}, "in use are also in the freelist, so a commit would overwrite them", true},
	{"freelist lists a page in use", func(path string) error {
		_, err := waltest.ListAsFree(path, "jobs")
		return err
	}, "in use are also in the freelist, so a commit would overwrite them", true},
	{"cycle", func(path string) error {
		_, err := waltest.MakeCycle(path, "jobs")
		return err
	}, "reached a second time in the tree (a cycle", true},
	{"garbage in a leaf", func(path string) error {
		_, err := waltest.GarbleLeaf(path, 1, "jobs")
		return err
	}, "not what their parent says", true},
	{"wrong page type", func(path string) error {
		_, err := waltest.BreakPageType(path, "jobs")
		return err
	}, "not what their parent says", true},
	{"records that do not decode", func(path string) error {
		_, _, err := waltest.BreakValues(path, 3, "jobs")
		return err
	}, "job 2: corrupt record: version 255", false},
}

// Ensure that Check finishes on each damaged tree with a finding that says
// what is wrong, without changing the file; and that Open refuses a tree
// bbolt would loop on or overwrite, with the hint, before writing to it.
// Records that do not decode are Check's to find: the start-up check
// reads the pages, not the records.
func TestCheck_DamagedTree(t *testing.T) {
	for _, d := range treeDamages {
		t.Run(d.name, func(t *testing.T) {
			dir := healthyDir(t)
			path := filepath.Join(dir, FileName)
			if err := d.apply(path); err != nil {
				t.Fatal(err)
			}
			afterPowerCut(t, dir)
			before := stateOf(t, path)
			rep, err := Check(dir, nil)
			if err != nil || rep.OK() {
				t.Fatalf("Check = %+v, %v; want findings", rep, err)
			}
			if !slices.ContainsFunc(rep.Findings, func(f string) bool { return strings.Contains(f, d.want) }) {
				t.Fatalf("no finding mentions %q:\n%s", d.want, strings.Join(rep.Findings, "\n"))
			}
			t.Logf("findings:\n%s", strings.Join(rep.Findings, "\n"))
			before.assertSame(t, path)

			l, err := Open(dir, Options{})
			if !d.refused {
				if err != nil {
					t.Fatalf("Open = %v; the pages are sound", err)
				}
				_ = l.Close()
				return
			}
			var fe *FileError
			if !errors.As(err, &fe) || !errors.Is(err, ErrDamaged) {
				if err == nil {
					_ = l.Close()
				}
				t.Fatalf("Open = %v, want a *FileError", err)
			}
			for _, want := range []string{path, d.want, "ticketq check --data " + dir} {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("Open's error %q does not contain %q", err, want)
				}
			}
			before.assertSame(t, path)
		})
	}
}

// Ensure that on a tree bbolt cannot read, Check still reads every record
// it can reach (a walk of its own) and names the tickets that the indexes
// hold but no readable record does.
func TestCheck_UnreadableTreeAudit(t *testing.T) {
	dir := healthyDir(t)
	path := filepath.Join(dir, FileName)
	if _, err := waltest.GarbleLeaf(path, 2, "jobs"); err != nil {
		t.Fatal(err)
	}
	rep, err := Check(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(rep.Findings, "\n")
	// The first leaf held the first tickets: 1 was canceled, 2 and on
	// are queued "emails" jobs.
	for _, want := range []string{
		`queue "emails": 1 ticket(s) in the canceled index have no readable job record: 1`,
		`ticket(s) in the queued index have no readable job record: 2–`,
		"were not checked: bbolt cannot read this tree safely",
	} {
		if !strings.Contains(all, want) {
			t.Fatalf("findings lack %q:\n%s", want, all)
		}
	}
	if rep.Jobs <= 0 || rep.Jobs >= 350 || rep.Queues != 2 {
		t.Fatalf("counted %d jobs in %d queues; want some of the 350 in 2", rep.Jobs, rep.Queues)
	}
}

// Ensure that the offline tools that read through bbolt (compact, the
// reader behind inspect, an offline backup) refuse a tree with a cycle,
// which bbolt's cursors would go round for ever, and leave it unchanged.
func TestOfflineTools_Cycle(t *testing.T) {
	dir := healthyDir(t)
	path := filepath.Join(dir, FileName)
	if _, err := waltest.MakeCycle(path, "jobs"); err != nil {
		t.Fatal(err)
	}
	before := stateOf(t, path)
	tools := map[string]func() error{
		"compact": func() error { _, err := Compact(dir, nil); return err },
		"reader": func() error {
			r, err := OpenReader(dir)
			if err == nil {
				_ = r.Close()
			}
			return err
		},
		"backup": func() error {
			s, err := OpenBackupOffline(dir)
			if err == nil {
				_ = s.Close()
			}
			return err
		},
	}
	for name, tool := range tools {
		var fe *FileError
		if err := tool(); !errors.As(err, &fe) || !strings.Contains(err.Error(), "reached a second time") {
			t.Errorf("%s = %v, want a *FileError about the cycle", name, err)
		}
	}
	before.assertSame(t, path)
}
