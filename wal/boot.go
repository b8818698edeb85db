package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// This file decides whether Open walks the page tree before it opens the
// file (inspect, pages.go). The walk guards against a disk that lost or
// tore writes it had acknowledged, and that takes a power loss or an
// operating system crash: a process that is killed (SIGKILL, the OOM
// killer, a deploy) leaves its writes in the kernel's page cache, and the
// next process reads them from there. The walk costs about a second per
// GiB, and DESIGN.md wants a start to cost O(unfinished jobs); so Open
// walks only when the machine may have lost writes since the file was
// last opened here, or when the file is not the one last opened here.
//
// BootName, next to the data file, records the kernel's boot id and the
// data file's identity (device, inode, birth time) as of the last Open
// that walked or created it. Open walks when
//
//   - there is no stamp, or it does not parse: a first start on a file
//     copied in, an interrupted rewrite of the stamp;
//   - its boot id is not the current one: the machine restarted since, so
//     a power loss or a crash may have cost writes;
//   - the file's identity differs: it was replaced (restore, compact, a
//     salvaged or copied file renamed in);
//   - no boot id or identity can be read (a system other than Linux);
//   - the marker of a run that stopped on an inconsistency exists (then
//     the full Check runs instead, which walks the pages as its first
//     stage);
//
// and rewrites the stamp once the file has passed. A power cut while the
// stamp is rewritten leaves the old stamp, a torn one, or none; each of
// them names a boot before the cut, or none, so the next start walks.
//
// A file overwritten in place by another program (cp onto the existing
// file, not a rename) keeps its identity and is not walked: restore with
// `ticketq restore`, which renames, or remove the stamp.

// BootName is the file next to the data file in which Open records the
// boot and the file it last checked (see the comment at the top of
// boot.go). Removing it makes the next Open walk the file.
const BootName = FileName + ".boot"

// fileID is what tells one data file from another that took its name.
type fileID struct {
	Dev, Ino uint64
	Born     int64 // birth time in ns; 0 where the filesystem keeps none
}

// bootStamp is the content of BootName.
type bootStamp struct {
	boot string
	file fileID
}

const stampHeader = "ticketq boot stamp 1"

func (s bootStamp) encode() []byte {
	return fmt.Appendf(nil, "%s\nboot_id %s\ndevice %d\ninode %d\nborn %d\n", stampHeader, s.boot, s.file.Dev, s.file.Ino, s.file.Born)
}

// parseStamp reads what encode wrote, and refuses anything else: a torn or
// foreign stamp means a walk, never a skip.
func parseStamp(b []byte) (bootStamp, error) {
	lines := strings.Split(string(b), "\n")
	if len(lines) != 6 || lines[0] != stampHeader || lines[5] != "" {
		return bootStamp{}, errors.New("not a stamp this ticketq wrote")
	}
	var s bootStamp
	field := func(line, name string) (string, error) {
		v, ok := strings.CutPrefix(line, name+" ")
		if !ok || v == "" {
			return "", fmt.Errorf("no %s line", name)
		}
		return v, nil
	}
	var err error
	if s.boot, err = field(lines[1], "boot_id"); err != nil {
		return bootStamp{}, err
	}
	nums := []*uint64{&s.file.Dev, &s.file.Ino}
	for i, name := range []string{"device", "inode"} {
		v, err := field(lines[2+i], name)
		if err != nil {
			return bootStamp{}, err
		}
		if *nums[i], err = strconv.ParseUint(v, 10, 64); err != nil {
			return bootStamp{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	v, err := field(lines[4], "born")
	if err != nil {
		return bootStamp{}, err
	}
	if s.file.Born, err = strconv.ParseInt(v, 10, 64); err != nil {
		return bootStamp{}, fmt.Errorf("born: %w", err)
	}
	return s, nil
}

// walkPlan is Open's decision about the start-up walk.
type walkPlan struct {
	// why says why the file must be walked; "" skips the walk.
	why string
	// boot is the current boot id, "" if none can be read; file is the
	// data file's identity, if known (the file exists, and can be
	// identified here).
	boot  string
	file  fileID
	known bool
}

// planWalk decides whether Open walks the file at path (see the comment at
// the top of boot.go). It never fails: whatever cannot be read is a
// reason to walk.
func planWalk(dir, path string) walkPlan {
	var p walkPlan
	boot, err := currentBoot()
	if err != nil {
		p.why = fmt.Sprintf("no boot id to compare (%v)", err)
		return p
	}
	p.boot = boot
	id, err := identify(path)
	if err != nil {
		p.why = fmt.Sprintf("the file's identity cannot be read (%v)", err)
		return p
	}
	p.file, p.known = id, true
	b, err := os.ReadFile(filepath.Join(dir, BootName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.why = "no record of an earlier start on this file (" + BootName + ")"
		return p
	case err != nil:
		p.why = fmt.Sprintf("the record of the last start cannot be read (%v)", err)
		return p
	}
	last, err := parseStamp(b)
	switch {
	case err != nil:
		p.why = fmt.Sprintf("the record of the last start (%s) is unreadable: %v", BootName, err)
	case last.boot != boot:
		p.why = "the machine restarted since the last start: a power loss or crash may have lost writes"
	case last.file != id:
		p.why = "the data file is not the one the last start opened (replaced or copied in)"
	}
	return p
}

// writeStamp records s in BootName next to path's file, durably: the
// record is rewritten in place, fsynced, and the directory synced. A torn
// record does not parse, and that means a walk.
func writeStamp(dir string, s bootStamp) error {
	name := filepath.Join(dir, BootName)
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := f.Write(s.encode()); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", name, err)
	}
	return SyncDir(dir)
}

// recordStart writes the stamp of the open data file f, if boot is known.
func recordStart(dir, boot string, f *os.File) error {
	if boot == "" {
		return nil
	}
	id, err := identifyFile(f)
	if err != nil {
		return err
	}
	return writeStamp(dir, bootStamp{boot: boot, file: id})
}

// forgetStamp removes BootName, so that the next Open walks the file.
func forgetStamp(dir string) error {
	err := os.Remove(filepath.Join(dir, BootName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", BootName, err)
	}
	return nil
}
