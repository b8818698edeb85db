package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/ticketq/ticketq/internal/logfield"
	"github.com/ticketq/ticketq/job"
	"github.com/ticketq/ticketq/wal/internal/boltfile"
)

// This file reads a data file without writing to it: the inspection that
// Open makes before it opens a file for writing, and Check, the offline
// verification behind `ticketq check`. Both open the file read-only, so
// neither bbolt nor ticketq can "repair" a damaged file into one that has
// lost more.
//
// bbolt v1.5 does not defend itself against damaged files. It returns
// ErrInvalid when both header (meta) pages are unreadable, but on a file
// cut short below its high-water mark it maps the missing pages and the
// first read of one (the freelist, at open) dies of SIGBUS, which Go
// cannot recover; on a page of garbage it panics; on a branch that points
// back at its ancestor its cursors never end. So every bbolt call here
// runs under guardRead, the file's size is compared with bbolt's
// high-water mark before any page other than the header is read, and the
// page tree is walked without bbolt (pages.go) before bbolt reads it.

// Errors of a data file that Open refuses or Check cannot read.
var (
	// ErrDamaged reports a data file that bbolt cannot read, that is cut
	// short, or that is not a ticketq database.
	ErrDamaged = errors.New("damaged or foreign data file")
	// ErrNewerFormat reports a data file written by a newer ticketq.
	ErrNewerFormat = errors.New("data file has a newer format")
	// ErrInUse reports a data directory that a running ticketq holds.
	ErrInUse = errors.New("in use by a running ticketq")
)

// FileError is a data file that Open refused. The file was left unchanged;
// Hint tells the operator what to do about it.
type FileError struct {
	Path string // the file
	Err  error  // wraps ErrDamaged or ErrNewerFormat
	Hint string
}

func (e *FileError) Error() string { return fmt.Sprintf("open %s: %v (%s)", e.Path, e.Err, e.Hint) }

// Unwrap returns the cause.
func (e *FileError) Unwrap() error { return e.Err }

func fileError(path string, err error) *FileError {
	dir := filepath.Dir(path)
	hint := fmt.Sprintf("the file was not changed; run 'ticketq check --data %s' for a full report, then restore it from a backup, or copy what can be read with 'ticketq salvage --data %s --to NEWDIR'", dir, dir)
	if errors.Is(err, ErrNewerFormat) {
		hint = fmt.Sprintf("the file was not changed; run the newer ticketq that wrote it, or see 'ticketq check --data %s'", dir)
	}
	return &FileError{Path: path, Err: err, Hint: hint}
}

// guardRead runs fn and turns any panic into an ErrDamaged error (see
// guard): the offline readers meet bbolt's panics on a file that nothing
// has written since its last check, so the file is what failed.
func guardRead(fn func() error) error { return guard(fn, damagedRead) }

func damagedRead(p any, _ string) error {
	if fault, ok := p.(interface{ Addr() uintptr }); ok {
		return fmt.Errorf("%w: memory fault reading the mapped file at %#x (a page past its end?): %v", ErrDamaged, fault.Addr(), p)
	}
	return fmt.Errorf("%w: bbolt could not read it: %v", ErrDamaged, p)
}

// boltOpen is bolt.Open under guardRead, with bbolt's refusals of the file's
// content wrapped in ErrDamaged. After a panic it closes the file that bbolt
// opened (bbolt cannot: it never returned). Its lock stays held until the
// process exits, though, because bbolt's memory map, which nothing can
// reach any more, keeps the open file alive; a process that cannot open its
// data file exits anyway.
func boltOpen(path string, o bolt.Options) (*bolt.DB, error) {
	var f *os.File
	open := o.OpenFile
	if open == nil {
		open = os.OpenFile
	}
	o.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		var err error
		f, err = open(name, flag, perm)
		return f, err
	}
	var db *bolt.DB
	err := guardRead(func() (err error) {
		db, err = bolt.Open(path, 0o600, &o)
		return err
	})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, ErrDamaged):
		if f != nil {
			_ = f.Close()
		}
		return nil, err
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return nil, fmt.Errorf("%w: not a bbolt database, or both of its header pages are damaged (bbolt: %w)", ErrDamaged, err)
	case errors.Is(err, berrors.ErrTimeout), isSystemError(err):
		return nil, err
	}
	// Such as "file size too small": bbolt's other refusals are about the
	// file's content, and unexported.
	return nil, fmt.Errorf("%w: bbolt cannot open it: %w", ErrDamaged, err)
}

// isSystemError reports an error from the operating system (permissions,
// I/O, memory), as opposed to one about the file's content.
func isSystemError(err error) bool {
	var pe *fs.PathError
	var se *os.SyscallError
	var errno syscall.Errno
	return errors.As(err, &pe) || errors.As(err, &se) || errors.As(err, &errno)
}

// offlineLockWait is how long the offline tools (check, compact, salvage,
// inspect, an offline backup) wait for a running server to let go of the
// data file before they answer ErrInUse.
const offlineLockWait = 500 * time.Millisecond

// openReadOnly opens path for reading only, with a shared lock that waits up
// to timeout for a writer to let go. With preload, bbolt reads the freelist
// page now, in this goroutine, instead of in tx.Check's.
func openReadOnly(path string, timeout time.Duration, preload bool) (*bolt.DB, error) {
	return boltOpen(path, bolt.Options{ReadOnly: true, Timeout: timeout, PreLoadFreelist: preload})
}

// inspect looks at the data file read-only before Open writes to it, so that
// a file ticketq must not touch is refused as it is. It reports whether the
// file is new: missing, zero bytes long, or a bbolt file with no buckets
// yet. The last two are what a first start leaves if it stops between
// creating the file, bbolt writing its header, and ticketq its buckets;
// none of them can hold a job, so starting afresh in them loses nothing.
//
// It always checks the header (O(1)); it walks the page tree, O(pages in
// use), only when why says why (see planWalk), and says why not (skip)
// otherwise. It logs what it did and the time it took at Info.
func inspect(path string, timeout time.Duration, log zerolog.Logger, why, skip string) (fresh bool, err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("inspect data file: %w", err)
	}
	if fi.Size() == 0 {
		return true, nil
	}
	start := time.Now()
	db, err := openReadOnly(path, timeout, false)
	if err != nil {
		return false, err
	}
	defer db.Close()
	var format uint32
	err = guardRead(func() error {
		return db.View(func(tx *bolt.Tx) (err error) {
			format, err = checkHeader(tx, fi.Size())
			return err
		})
	})
	if err != nil {
		return false, err
	}
	ev := log.Info().Str("component", "wal").Str("path", path).Int64("bytes", fi.Size())
	if why == "" {
		ev.Str("walk", "skipped: "+skip).Float64("took_ms", logfield.Millis(time.Since(start))).Msg("data file checked before opening")
		return format == 0, nil
	}
	// The header is sound; the tree may still not be (a drive that
	// acknowledged a flush it had not done leaves a header pointing at
	// pages that were never written). bbolt finds out only when a commit
	// overwrites a page in use, or a cursor loops: walk it first, under
	// the shared lock still held.
	pages, err := walkPages(path)
	if err != nil {
		return false, err
	}
	ev.Str("walk", why).Int("pages_read", pages).
		Float64("took_ms", logfield.Millis(time.Since(start))).Msg("data file checked before opening")
	return format == 0, nil
}

// checkHeader checks what must hold before anything else in the file is
// read: the file is as long as bbolt's header says (bbolt grows the file
// before it commits pages into the new part, so a shorter file lost pages),
// and its format version is the one this ticketq reads. It returns the
// format version, or 0 for a bbolt file that has no buckets yet.
func checkHeader(tx *bolt.Tx, size int64) (uint32, error) {
	if used := tx.Size(); used > size {
		return 0, fmt.Errorf("%w: the file is cut short: bbolt's header says %d bytes are in use, the file has %d", ErrDamaged, used, size)
	}
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		if k, _ := tx.Cursor().First(); k != nil {
			return 0, fmt.Errorf("%w: a bbolt database without ticketq's %q bucket (it has %q): not a ticketq database", ErrDamaged, bucketMeta, k)
		}
		return 0, nil
	}
	v := meta.Get(keyFormat)
	if len(v) != 4 {
		return 0, fmt.Errorf("%w: the format version is missing or unreadable (%d bytes)", ErrDamaged, len(v))
	}
	switch got := binary.BigEndian.Uint32(v); {
	case got > formatVersion:
		return got, fmt.Errorf("%w: format version %d; this ticketq reads versions %d to %d", ErrNewerFormat, got, formatBase, formatVersion)
	case got < formatBase:
		return got, fmt.Errorf("%w: unknown format version %d", ErrDamaged, got)
	default:
		return got, nil
	}
}

// Report is what Check found in a data file.
type Report struct {
	Path   string
	Size   int64  // bytes on disk
	Used   int64  // bytes bbolt uses, its high-water mark; 0 if unreadable
	Format uint32 // format version; 0 if unreadable or not yet written
	Jobs   int    // job records; -1 if the check stopped before counting
	Queues int    // queues; -1 if the check stopped before counting
	// Findings lists what is wrong. Capped says the check stopped at 100
	// findings and there may be more.
	Findings []string
	Capped   bool
	// Notes lists what is not wrong but worth knowing, each with what to
	// do about it: pages leaked by an interrupted commit, which waste
	// space and harm no data (`ticketq compact` gives them back).
	Notes []string
}

// OK reports whether the check found nothing wrong. Notes do not count.
func (r *Report) OK() bool { return len(r.Findings) == 0 }

// add records a finding and reports whether there is room for more, like
// the add that verifyJobs and verifyQueues expect.
func (r *Report) add(format string, args ...any) bool {
	if len(r.Findings) >= maxFindings {
		return false
	}
	r.Findings = append(r.Findings, fmt.Sprintf(format, args...))
	r.Capped = len(r.Findings) == maxFindings
	return !r.Capped
}

// Check verifies the data file in dir offline, reading only: bbolt's header,
// its page tree (walked without bbolt, each page once: no page reached
// twice, none both free and in use, keys in order; leaked pages are a
// note, harmless), then
// ticketq's invariants (Verify's, plus the ticket counter and the sum of
// the queues' counters). On a tree that bbolt cannot read safely, the
// records and state indexes are read by a second walk instead. It reads
// the whole file, in time and memory O(file), whatever the damage. A
// damaged file is a Report with findings, not an error; the error is for a
// file it could not look at: missing, unreadable, or
// held by a running ticketq (ErrInUse, after waiting half a second).
// progress, if not nil, is told as each stage starts (see Progress).
func Check(dir string, progress func(Progress)) (Report, error) {
	return checkFile(filepath.Join(dir, FileName), dir, progress)
}

// CheckFile is Check for a data file at any path, such as a backup. The
// file is opened read-only, so it is neither renamed nor written.
func CheckFile(path string, progress func(Progress)) (Report, error) {
	return checkFile(path, path, progress)
}

// checkFile checks the file at path; errors name it as name (the data
// directory for Check, the file for CheckFile).
func checkFile(path, name string, progress func(Progress)) (Report, error) {
	rep := Report{Path: path, Jobs: -1, Queues: -1}
	fi, err := os.Stat(path)
	if err != nil {
		return rep, fmt.Errorf("check %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return rep, fmt.Errorf("check %s: %s is not a regular file", name, path)
	}
	if rep.Size = fi.Size(); rep.Size == 0 {
		rep.Jobs, rep.Queues = 0, 0 // as Open sees it: a new database
		return rep, nil
	}
	stage := stageReporter(progress)
	defer stage(len(checkStages))

	stage(0)
	db, err := openReadOnly(path, offlineLockWait, false)
	if errors.Is(err, berrors.ErrTimeout) {
		return rep, fmt.Errorf("%s is %w; stop it first or check a backup", name, ErrInUse)
	}
	if err != nil && !errors.Is(err, ErrDamaged) {
		return rep, fmt.Errorf("check %s: %w", name, err)
	}
	if err == nil {
		// Kept open to the end: its shared lock keeps a server from
		// starting on the file while it is read.
		defer db.Close()
		err = guardRead(func() error {
			return db.View(func(tx *bolt.Tx) (err error) {
				rep.Used = tx.Size()
				rep.Format, err = checkHeader(tx, rep.Size)
				return err
			})
		})
	}
	if err != nil {
		rep.add("%v", err)
		return rep, nil
	}

	stage(1)
	// The page tree first, without bbolt: on a tree with a cycle bbolt's
	// cursors never end, and its own tx.Check walks the same way.
	s, _, err := walkFile(path, boltfile.Visitor{})
	if err != nil {
		return rep, fmt.Errorf("check %s: %w", name, err)
	}
	addPageFindings(&rep, s)
	if !s.Readable() {
		// bbolt cannot read this tree: the records and state indexes are
		// read by a second walk, which visits each page once.
		stage(2)
		a := newAudit(&rep)
		if _, _, err := walkFile(path, a.visitor()); err != nil {
			return rep, fmt.Errorf("check %s: %w", name, err)
		}
		stage(3)
		a.finish()
		return rep, nil
	}

	err = db.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketJobs, bucketQueues, bucketFinished, bucketLeases} {
			if tx.Bucket(name) == nil {
				rep.add("the %q bucket is missing", name)
				return nil
			}
		}
		stage(2)
		if err := guardRead(func() error { checkRecords(tx, &rep); return nil }); err != nil {
			rep.add("job records: %v", err)
		}
		stage(3)
		if err := guardRead(func() error { checkIndexes(tx, &rep); return nil }); err != nil {
			rep.add("indexes: %v", err)
		}
		return nil
	})
	return rep, err
}

// checkRecords counts the jobs and queues, checks that no ticket is above
// the jobs bucket's sequence (new tickets come from it, so such a ticket
// would be handed out again), then runs Verify's record checks.
func checkRecords(tx *bolt.Tx, rep *Report) {
	jobs, n := tx.Bucket(bucketJobs), 0
	c := jobs.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	if k, _ := c.Last(); len(k) == 8 && uint64(keyTicket(k)) > jobs.Sequence() {
		rep.add("jobs: ticket %s is above the ticket counter %d; new submits would reuse it", keyTicket(k), jobs.Sequence())
	}
	queues, m := tx.Bucket(bucketQueues).Cursor(), 0
	for k, v := queues.First(); k != nil; k, v = queues.Next() {
		if v == nil {
			m++
		}
	}
	rep.Jobs, rep.Queues = n, m
	verifyJobs(tx, rep.add)
}

// checkIndexes runs Verify's index and counter checks, then compares the
// sum of the queues' counters with the number of records.
func checkIndexes(tx *bolt.Tx, rep *Report) {
	verifyQueues(tx, rep.add)
	var sum int64
	root := tx.Bucket(bucketQueues)
	c := root.Cursor()
	for name, v := c.First(); name != nil; name, v = c.Next() {
		if q, err := openQueue(root, string(name)); v == nil && err == nil && q != nil {
			for _, s := range job.States {
				sum += q.meta.counts[s]
			}
		}
	}
	if rep.Jobs >= 0 && sum != int64(rep.Jobs) {
		rep.add("counters: the queues' counters add up to %d jobs, but %d job records are stored", sum, rep.Jobs)
	}
}

// Progress is how far a Check has come: Check reports it as each stage
// starts and once at the end (Stage "done", Percent 100). A display that
// wants to show life during a long stage keeps its own clock.
type Progress struct {
	Stage   string // what is being checked, e.g. "job records"
	Step    int    // the stage's number, from 1
	Steps   int    // how many stages there are
	Percent int    // estimated share of the work done, 0 to 100
}

// checkStages are Check's stages and their estimated share of its time
// (measured on 500,000 jobs: pages 0.1 s, records 2 s, indexes 1 s).
var checkStages = []struct {
	name   string
	weight int
}{{"header", 0}, {"pages", 5}, {"job records", 60}, {"indexes and counters", 35}}

// stageReporter returns a function that reports the start of stage i, or
// the end for i == len(checkStages), to fn if it is not nil.
func stageReporter(fn func(Progress)) func(i int) {
	return func(i int) {
		if fn == nil {
			return
		}
		p := Progress{Stage: "done", Step: len(checkStages), Steps: len(checkStages)}
		if i < len(checkStages) {
			p.Stage, p.Step = checkStages[i].name, i+1
		}
		for _, s := range checkStages[:i] {
			p.Percent += s.weight
		}
		fn(p)
	}
}
