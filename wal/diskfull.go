package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"github.com/ticketq/ticketq/job"
)

// isDiskFull reports whether a failed commit failed only because the
// filesystem had no room for its pages, which leaves the file as it was.
//
// bbolt never overwrites a committed page: a transaction writes its pages
// into free space, fsyncs them, and only then writes the meta page that
// makes them live. A pwrite refused with ENOSPC (or EDQUOT) therefore
// wrote nothing that any meta page points to, bbolt rolls its in-memory
// state back to the last committed meta, and the log can go on. Errors
// from fsync are different: after one, the kernel may have dropped pages
// it will never write, so what is on disk is unknown, and they stay
// fail-stop (see Log.fail). bbolt returns pwrite's error as the
// *fs.PathError of os.File.WriteAt and fdatasync's as a bare errno, which
// is what tells the two apart here.
func isDiskFull(err error) bool {
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Op != "write" {
		return false
	}
	return errors.Is(pe.Err, syscall.ENOSPC) || errors.Is(pe.Err, syscall.EDQUOT)
}

// diskFullError is the answer to an op whose commit found the disk full.
// Its outcome is known: nothing was written.
func (l *Log) diskFullError(err error) error {
	return fmt.Errorf("%w: no space left for %s, nothing was written; retry once space is freed: %v", job.ErrDiskFull, l.path, err)
}

// diskFull notes a commit refused for lack of space, logging only the first
// of a run of them: a full disk refuses every write until space is freed.
func (l *Log) diskFull(err error) {
	l.fullCommits.Add(1)
	if l.full.CompareAndSwap(false, true) {
		l.log.Error().Err(err).Str("path", l.path).Msg("disk full: writes are refused until space is freed; reads and the jobs already stored are unaffected")
	}
}

// spaceAgain notes a successful commit, logging the end of a full-disk spell.
func (l *Log) spaceAgain() {
	if l.full.Load() && l.full.CompareAndSwap(true, false) {
		l.log.Warn().Str("path", l.path).Uint64("refused_commits", l.fullCommits.Load()).Msg("disk has space again: writes resumed")
	}
}

// DiskFull reports whether the last commit was refused for lack of space.
func (l *Log) DiskFull() bool { return l.full.Load() }
