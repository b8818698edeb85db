package wal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/ticketq/ticketq/job"
	"github.com/ticketq/ticketq/wal/internal/boltfile"
)

// This file copies what can still be read from a damaged data file into a
// new one. It reads the old file's pages itself (boltfile), each once,
// from the header down; which pages it reads comes from the tree alone
// (the freelist is read, but only to report what is wrong with it), so a
// cycle or a page of garbage costs only the keys below it. It decodes each
// record with the record codec and writes it through the committer like
// any other operation, so the new file's indexes, counters and idempotency
// keys are built the way ticketq builds them, from the records alone.

// salvageBatch bounds the jobs, and salvageBatchBytes their bytes, that
// one transaction of a salvage writes.
const (
	salvageBatch      = 1000
	salvageBatchBytes = 8 << 20
)

// maxSalvageList bounds the unreadable records and pages that a
// SalvageResult lists one by one; the counts go on.
const maxSalvageList = 100

// SalvageProgress is how far a Salvage has come: Stage "reading" (Pages of
// Total pages in use read, Copied jobs written so far), "checking" the new
// file (Detail is the check's stage), then "done".
type SalvageProgress struct {
	Stage        string
	Detail       string
	Pages, Total uint64
	Copied       int
	Percent      int
}

// Unreadable is a record, or a page of them, that Salvage could not copy.
type Unreadable struct {
	Ticket uint64 // 0 for a page of keys that are not tickets
	Page   uint64
	Reason string
}

// LostPage is a page of the jobs bucket, and the pages below it, that
// Salvage could not read: the tickets from First to Last (as its parent
// page bounds them; 0 is unbounded) may have been there.
type LostPage struct {
	Page        uint64
	First, Last uint64
	Reason      string
}

// SalvageResult is what Salvage did.
type SalvageResult struct {
	From, To string // the data files read and written
	Pages    uint64 // the pages in use in the old file
	// Damage is what the walk of the old file's pages found, as Check
	// words it.
	Damage []string
	// Copied is the number of jobs written into the new file, in Queues
	// queues; Running of them were running (the new file's first start
	// requeues them, as after a crash).
	Copied, Queues, Running int
	// Duplicates counts tickets found in two records (a stale page): the
	// one updated last was kept. KeyConflicts counts jobs whose
	// idempotency key another job held already: they were copied without
	// it.
	Duplicates, KeyConflicts int
	// Counter is the new file's ticket counter: above every ticket the old
	// file's counter, records or indexes name, so that no ticket a client
	// holds is handed out again.
	Counter uint64
	// Unreadable lists the first records (and pages of keys that are not
	// tickets) that could not be copied; UnreadableCount counts them all.
	Unreadable      []Unreadable
	UnreadableCount int
	// LostPages lists the first pages of the jobs bucket that could not be
	// read; LostPageCount counts them all.
	LostPages     []LostPage
	LostPageCount int
	// Missing is every ticket that a queue's state index names and no
	// copied record holds: the jobs that were lost, as far as the indexes
	// tell.
	Missing []uint64
	// ResetQueues lists the queues of the new file whose settings could
	// not be read from the old one: they come back unpaused, with the
	// server's default limits.
	ResetQueues []QueueReset
	// LostQueuePages counts the pages of the queues bucket that could not
	// be read: the queues below them are known only from their jobs'
	// records (and are in ResetQueues).
	LostQueuePages int
	// Check is the check of the new file.
	Check Report
}

// QueueReset is a queue whose settings (paused flag and limits) salvage
// could not read, and why.
type QueueReset struct {
	Queue, Reason string
}

// MissingRanges formats Missing as ranges ("24742–27942"), the first max
// of them.
func (r *SalvageResult) MissingRanges(max int) string { return ticketRanges(r.Missing, max) }

// Complete reports whether everything the old file was known to hold was
// copied: no unreadable record or page, no ticket missing, no queue's
// settings lost.
func (r *SalvageResult) Complete() bool {
	return r.UnreadableCount == 0 && r.LostPageCount == 0 && len(r.Missing) == 0 &&
		len(r.ResetQueues) == 0 && r.LostQueuePages == 0
}

// Errors of Salvage.
var (
	// ErrTargetExists reports a salvage into a directory that holds a
	// database already: salvage writes only a new file.
	ErrTargetExists = errors.New("the target directory already holds a database")
)

// Salvage copies every job record that can still be read from the data
// file in dir into a new database in to, and reports what it could not
// read. The old file is opened read-only, under the shared lock (a
// directory a running server holds is refused with ErrInUse), and is not
// changed. to must not hold a database (ErrTargetExists); it is created if
// needed. Jobs keep their tickets and states; running jobs stay running,
// for the new file's first start to requeue (as recovery does after a
// crash). Queues keep their paused flag and limits where their meta can be
// read; the others are listed in ResetQueues. The new file is checked with
// Check before Salvage returns; a finding there is an error (a bug: it is
// built by ticketq's own writes).
//
// It reads every page of the old file at most once and keeps 16 bytes per
// job and index entry: O(file) in time and memory, whatever the damage.
// progress, if not nil, is called as pages are read and the new file is
// checked.
func Salvage(dir, to string, progress func(SalvageProgress)) (res SalvageResult, err error) {
	from := filepath.Join(dir, FileName)
	res.From, res.To = from, filepath.Join(to, FileName)
	report := func(p SalvageProgress) {
		if progress != nil {
			progress(p)
		}
	}
	if _, err := os.Lstat(res.To); err == nil {
		return res, fmt.Errorf("salvage into %s: %w (%s): give a new directory", to, ErrTargetExists, res.To)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return res, fmt.Errorf("salvage into %s: %w", to, err)
	}
	src, err := openLocked(from, dir)
	if err != nil {
		return res, err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return res, fmt.Errorf("salvage %s: %w", dir, err)
	}
	if fi.Size() == 0 {
		return res, fmt.Errorf("salvage %s: %s is empty (0 bytes): there is nothing to salvage", dir, from)
	}
	bf, err := boltfile.New(src, fi.Size())
	if err != nil {
		return res, fmt.Errorf("salvage %s: %w: without a header, nothing says where the tree starts", dir, err)
	}
	res.Pages = bf.Pages()

	l, err := Open(to, Options{})
	if err != nil {
		return res, fmt.Errorf("salvage into %s: %w", to, err)
	}
	s := &salvager{l: l, res: &res, metas: map[string]queueMeta{}, unread: map[string]string{}}
	rep := Report{}
	summary, werr := bf.Walk(boltfile.Visitor{
		Bucket: s.bucket,
		Value:  s.value,
		Lost:   s.lost,
		Progress: func(n int) {
			report(SalvageProgress{Stage: "reading", Pages: uint64(n), Total: res.Pages, Copied: res.Copied, Percent: pagePercent(uint64(n), res.Pages)})
		},
	})
	if werr == nil {
		werr = s.err
	}
	if werr == nil {
		werr = s.flush()
	}
	if werr == nil {
		werr = s.finish()
	}
	if cerr := l.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return res, fmt.Errorf("salvage %s into %s: %w (%s is incomplete: remove it before trying again)", dir, to, werr, res.To)
	}
	addPageFindings(&rep, summary)
	res.Damage = rep.Findings

	res.Check, err = checkSalvaged(to, func(p Progress) {
		if p.Stage != "done" {
			report(SalvageProgress{Stage: "checking", Detail: p.Stage, Total: res.Pages, Pages: res.Pages, Copied: res.Copied, Percent: 90 + p.Percent/10})
		}
	})
	if err != nil {
		return res, fmt.Errorf("check the salvaged %s: %w", res.To, err)
	}
	if !res.Check.OK() {
		return res, fmt.Errorf("the salvaged %s fails its check (%d finding(s), the first: %s): this is a bug in salvage; the old file was not changed", res.To, len(res.Check.Findings), res.Check.Findings[0])
	}
	report(SalvageProgress{Stage: "done", Pages: res.Pages, Total: res.Pages, Copied: res.Copied, Percent: 100})
	return res, nil
}

// checkSalvaged is the check of a salvaged file; a variable so that a
// test can make it fail, which only a bug in salvage does.
var checkSalvaged = Check

func pagePercent(n, total uint64) int {
	if total == 0 {
		return 0
	}
	return int(min(n, total) * 90 / total) // the check of the new file is the last tenth
}

// openLocked opens path read-only under a shared flock, the lock a running
// server's exclusive one excludes, waiting offlineLockWait for it like the
// other offline tools. They take it through bbolt's read-only open, which
// salvage cannot use: bbolt refuses, or dies on, the files salvage is
// for. So the lock is taken here, the way bbolt takes it.
func openLocked(path, dir string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("salvage %s: %w", dir, err)
	}
	deadline := time.Now().Add(offlineLockWait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			_ = f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("%s is %w; stop it first", dir, ErrInUse)
			}
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		time.Sleep(50 * time.Millisecond) // bbolt's own retry interval
	}
}

// salvager is the state of a Salvage's walk.
type salvager struct {
	l      *Log
	res    *SalvageResult
	seq    uint64               // the old jobs bucket's sequence
	metas  map[string]queueMeta // readable queue metas, by queue
	unread map[string]string    // queues whose meta could not be read: why
	batch  []*job.Job
	bytes  int
	copied []uint64 // tickets written
	named  []uint64 // tickets the state indexes name
	err    error    // the first write error: the walk goes on, writing nothing more
}

func (s *salvager) bucket(b *boltfile.Bucket) {
	if b.Is(string(bucketJobs)) {
		s.seq = b.Seq
	}
}

func (s *salvager) value(b *boltfile.Bucket, k, v []byte, page uint64) {
	switch {
	case b.Is(string(bucketJobs)):
		s.record(k, v, page)
	case b.Parent != nil && b.Parent.Is(string(bucketQueues)) && bytes.Equal(k, keyQueueMeta):
		if m, err := decodeQueueMeta(v); err == nil {
			s.metas[string(b.Name)] = m
		} else {
			s.unread[string(b.Name)] = fmt.Sprintf("its settings do not decode (page %d): %v", page, err)
		}
	case b.Parent != nil && b.Parent.Parent != nil && b.Parent.Parent.Is(string(bucketQueues)) && len(k) == 8:
		if _, ok := stateOfBucket(b.Name); ok {
			s.named = append(s.named, uint64(keyTicket(k)))
		}
	}
}

// record decodes one value of the jobs bucket and queues it for writing.
func (s *salvager) record(k, v []byte, page uint64) {
	if len(k) != 8 {
		s.unreadable(Unreadable{Page: page, Reason: fmt.Sprintf("a %d-byte key, not a ticket: another bucket's page where job records should be", len(k))})
		return
	}
	t := uint64(keyTicket(k))
	j, err := decodeRecord(v)
	switch {
	case err != nil:
		s.unreadable(Unreadable{Ticket: t, Page: page, Reason: err.Error()})
		return
	case uint64(j.Ticket) != t:
		s.unreadable(Unreadable{Ticket: t, Page: page, Reason: fmt.Sprintf("the record says ticket %s", j.Ticket)})
		return
	}
	if err := job.ValidateQueueName(j.Queue); err != nil {
		s.unreadable(Unreadable{Ticket: t, Page: page, Reason: err.Error()})
		return
	}
	s.batch = append(s.batch, j)
	s.bytes += len(v)
	if len(s.batch) >= salvageBatch || s.bytes >= salvageBatchBytes {
		if err := s.flush(); err != nil && s.err == nil {
			s.err = err
		}
	}
}

// unreadable records a loss; a page of keys that are not tickets is one
// entry, however many keys it holds.
func (s *salvager) unreadable(u Unreadable) {
	r := s.res
	if u.Ticket == 0 {
		if n := len(r.Unreadable); n > 0 && r.Unreadable[n-1].Ticket == 0 && r.Unreadable[n-1].Page == u.Page {
			return
		}
	}
	r.UnreadableCount++
	if len(r.Unreadable) < maxSalvageList {
		r.Unreadable = append(r.Unreadable, u)
	}
}

func (s *salvager) lost(b *boltfile.Bucket, page uint64, lo, hi []byte, why error) {
	switch {
	case b.Is(string(bucketQueues)):
		// The buckets of the queues below it, their settings with them.
		s.res.LostQueuePages++
		return
	case b.Parent != nil && b.Parent.Is(string(bucketQueues)):
		// A queue's own pages: its settings, if they were there, are
		// missed by finish; its indexes are rebuilt.
		if _, ok := s.unread[string(b.Name)]; !ok {
			s.unread[string(b.Name)] = fmt.Sprintf("a page of its bucket could not be read (page %d: %v)", page, why)
		}
		return
	case !b.Is(string(bucketJobs)) && b.Parent != nil:
		return // an index: rebuilt from the records. (The root's pages hold the jobs bucket.)
	}
	lp := LostPage{Page: page, Reason: why.Error()}
	if len(lo) == 8 {
		lp.First = uint64(keyTicket(lo))
	}
	if len(hi) == 8 && keyTicket(hi) > 0 {
		lp.Last = uint64(keyTicket(hi)) - 1
	}
	s.res.LostPageCount++
	if len(s.res.LostPages) < maxSalvageList {
		s.res.LostPages = append(s.res.LostPages, lp)
	}
}

// flush writes the queued jobs in one transaction.
func (s *salvager) flush() error {
	if len(s.batch) == 0 || s.err != nil {
		return s.err
	}
	batch := s.batch
	s.batch, s.bytes = nil, 0
	var dups, conflicts, running int
	err := s.l.do(context.Background(), func(w *wtx) error {
		dups, conflicts, running = 0, 0, 0
		for _, j := range batch {
			d, c, err := w.putSalvaged(j)
			if err != nil {
				return err
			}
			dups, conflicts = dups+d, conflicts+c
			if j.State == job.Running {
				running++
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, j := range batch {
		s.copied = append(s.copied, uint64(j.Ticket))
	}
	s.res.Copied += len(batch) - dups
	s.res.Duplicates += dups
	s.res.KeyConflicts += conflicts
	s.res.Running += running
	return nil
}

// putSalvaged stores j, with its ticket, and its index entries. A ticket
// stored already (a stale copy of its page) keeps the record updated last;
// an idempotency key held by another job is dropped from j.
func (w *wtx) putSalvaged(j *job.Job) (dup, conflict int, err error) {
	q, err := w.queue(j.Queue, true)
	if err != nil {
		return 0, 0, err
	}
	k := ticketKey(j.Ticket)
	if v := w.jobs.Get(k); v != nil {
		old, err := decodeRecord(v)
		if err != nil {
			return 0, 0, fmt.Errorf("re-read salvaged ticket %s: %w", j.Ticket, err)
		}
		if !j.UpdatedAt.After(old.UpdatedAt) {
			return 1, 0, nil
		}
		oq, err := w.queue(old.Queue, false)
		if err != nil || oq == nil {
			return 0, 0, fmt.Errorf("re-read the queue of salvaged ticket %s: %v", j.Ticket, err)
		}
		if err := w.unindex(oq, old); err != nil {
			return 0, 0, err
		}
		if old.IdempotencyKey != "" {
			if err := oq.idem.Delete(idemKey(nil, old.Submitter, old.IdempotencyKey)); err != nil {
				return 0, 0, err
			}
		}
		dup = 1
	}
	if j.IdempotencyKey != "" {
		ik := idemKey(w.bytes(len(j.Submitter)+1+len(j.IdempotencyKey)), j.Submitter, j.IdempotencyKey)
		if q.idem.Get(ik) != nil {
			j.IdempotencyKey, conflict = "", 1
		} else if err := q.idem.Put(ik, appendTicketKey(w.bytes(8), j.Ticket)); err != nil {
			return 0, 0, fmt.Errorf("put idempotency key: %w", err)
		}
	}
	return dup, conflict, w.index(q, j)
}

// finish sets the ticket counter, restores the queues' paused flags and
// limits, and works out the tickets that were lost.
func (s *salvager) finish() error {
	r := s.res
	s.copied = sortedUnique(s.copied)
	s.named = sortedUnique(s.named)
	r.Counter = s.seq
	if n := len(s.copied); n > 0 {
		r.Counter = max(r.Counter, s.copied[n-1])
	}
	if n := len(s.named); n > 0 {
		r.Counter = max(r.Counter, s.named[n-1])
	}
	for _, t := range s.named {
		if _, found := slices.BinarySearch(s.copied, t); !found {
			r.Missing = append(r.Missing, t)
		}
	}
	names := make([]string, 0, len(s.metas))
	for name := range s.metas {
		names = append(names, name)
	}
	slices.Sort(names)
	err := s.l.do(context.Background(), func(w *wtx) error {
		if err := w.jobs.SetSequence(r.Counter); err != nil {
			return fmt.Errorf("set the ticket counter: %w", err)
		}
		for _, name := range names {
			if job.ValidateQueueName(name) != nil {
				continue
			}
			q, err := w.queue(name, true)
			if err != nil {
				return err
			}
			m := s.metas[name]
			q.meta.paused, q.meta.overrides, q.dirty = m.paused, m.overrides, true
		}
		return nil
	})
	if err != nil {
		return err
	}
	qs, err := s.l.Queues(context.Background())
	if err != nil {
		return err
	}
	r.Queues = len(qs)
	for _, name := range qs {
		if _, ok := s.metas[name]; ok {
			continue
		}
		why, ok := s.unread[name]
		if !ok {
			why = "its settings were not found (the page that held its bucket could not be read)"
		}
		r.ResetQueues = append(r.ResetQueues, QueueReset{Queue: name, Reason: why})
	}
	return nil
}
