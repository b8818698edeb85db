package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
)

// FileName is the name of the bbolt file inside the data directory.
const FileName = "ticketq.db"

// Format versions of the file (meta/format). A file with a version above
// formatVersion is refused with ErrNewerFormat rather than misread.
//
// Version 2 is version 1 whose records may hold a submitter (tagSubmitter)
// and a request digest (tagDigest), which a build that reads only version
// 1 takes for corrupt records. A new file is written as version 1, and
// raised to 2 in the transaction that first stores such a record
// (wtx.store), so that an older build refuses it as a whole, with "run the
// newer ticketq", instead of failing on those records; a file that never
// holds one stays readable by older builds.
const (
	formatBase    = 1 // a new file's version
	formatKeyed   = 2 // records may hold a submitter or a digest
	formatVersion = formatKeyed
)

// Options configure a Log. The zero value is usable.
type Options struct {
	// Clock tells the time. Defaults to the system clock.
	Clock job.Clock
	// Notify is called after each commit with the jobs that changed state.
	Notify func([]backend.Change)
	// Logger receives commit failures and slow-path events. Defaults to a no-op logger.
	Logger zerolog.Logger
	// LockTimeout bounds the wait for the data directory's file lock, held by
	// another process. Defaults to 500 ms, so that a second instance fails
	// within a second instead of hanging (bbolt waits forever on zero).
	LockTimeout time.Duration
	// MaxBatchOps caps how many waiting operations one transaction takes.
	// Defaults to 1024.
	MaxBatchOps int
	// MaxQueues caps how many queues the file may hold: an operation that
	// would create one more fails with job.ErrTooManyQueues and writes
	// nothing. Zero means no cap.
	MaxQueues int
	// OnCommit, if set, is called on the committer goroutine after each
	// successful commit with the number of operations it carried, the
	// commit's whole duration, and the part bbolt spent writing pages and
	// fsyncing them. It must return at once (a metrics observation).
	OnCommit func(ops int, commit, write time.Duration)

	// openFile lets tests get hold of bbolt's file to inject write failures.
	openFile func(string, int, os.FileMode) (*os.File, error)
}

// Log is the job log on bbolt. It implements backend.Backend. All writes go
// through one committer goroutine (see committer.go); reads use bbolt read
// transactions concurrently with it.
type Log struct {
	db     *bolt.DB
	path   string
	clock  job.Clock
	notify func([]backend.Change)
	// onCommit is Options.OnCommit (nil: none); lastWrite is bbolt's
	// cumulative write time at the previous commit (committer-owned).
	onCommit  func(ops int, commit, write time.Duration)
	lastWrite time.Duration
	log       zerolog.Logger
	maxOps    int
	maxQueues int
	// format is the file's format version as last committed
	// (committer-owned after Open).
	format uint32

	ops       chan *op
	closing   chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
	failure   atomic.Pointer[error]
	broken    atomic.Bool // stopped on an inconsistency: bbolt's state is unknown (failstop.go)
	readOnly  bool        // a Reader's: it has no committer and leaves no marker

	commits atomic.Uint64
	opsDone atomic.Uint64

	// full is set while commits are refused for lack of space (diskfull.go).
	full        atomic.Bool
	fullCommits atomic.Uint64
}

var _ backend.Backend = (*Log)(nil)

// Open opens (creating if needed) the log in dir. It fails within
// LockTimeout if another process holds the directory.
//
// A file that is damaged, cut short, not a ticketq database or from a newer
// ticketq is refused unchanged with a *FileError that suggests `ticketq
// check`: Open inspects it read-only first (see inspect: its header, and,
// when the machine may have lost writes since the last start or the file
// is another one, its page tree walked once, O(pages in use); see
// boot.go), because bbolt's read-write open writes to the file, dies on
// pages it cannot read, and overwrites pages that its freelist and its
// tree both claim. After a run that stopped on an inconsistency
// (MarkerName), it runs the full Check first. A zero-length file is taken
// as new and initialized, with a warning: it holds no job, and it is what
// a first start leaves if it stops right after creating the file.
func Open(dir string, opts Options) (*Log, error) {
	if opts.Clock == nil {
		opts.Clock = job.SystemClock{}
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = 500 * time.Millisecond
	}
	if opts.MaxBatchOps <= 0 {
		opts.MaxBatchOps = 1024
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	refuse := func(err error) error {
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return fmt.Errorf("data directory %s is in use by another ticketq process (could not lock %s within %s)", dir, path, opts.LockTimeout)
		case errors.Is(err, ErrDamaged), errors.Is(err, ErrNewerFormat):
			return fileError(path, err)
		}
		return fmt.Errorf("open %s: %w", path, err)
	}
	if st, err := os.Stat(path); err == nil && st.Size() == 0 {
		opts.Logger.Warn().Str("component", "wal").Str("path", path).Msg("the data file is empty (0 bytes); starting a new database in it")
	}
	var (
		db     *bolt.DB
		fresh  bool
		plan   walkPlan
		locked *os.File
	)
	marker, err := readMarker(dir)
	if err != nil {
		return nil, refuse(err)
	}
	// The lock is on the open file, not on the name: if `ticketq restore`
	// or `compact` renamed a new file over the name while this process
	// waited for the lock, it now holds the replaced file, and jobs acked
	// into it would vanish with it. So after locking, the name must still
	// lead to the locked file, and that file must be the one inspected;
	// if not, open again.
	for attempt := 1; ; attempt++ {
		plan = planWalk(dir, path)
		why, skip := plan.why, "same boot and same file as the last start: nothing but a power loss or crash loses writes"
		checkAll := attempt == 1 && marker != ""
		if checkAll {
			// checkMarked's full check walks the pages first.
			why, skip = "", "the full check runs instead"
		}
		var err error
		if fresh, err = inspect(path, opts.LockTimeout, opts.Logger, why, skip); err != nil {
			return nil, refuse(err)
		}
		if checkAll {
			if err := checkMarked(dir, path, marker, fresh, opts.Logger); err != nil {
				return nil, refuse(err)
			}
			plan.why = "the last run stopped on an inconsistency"
		}
		open := opts.openFile
		if open == nil {
			open = os.OpenFile
		}
		db, err = boltOpen(path, bolt.Options{
			Timeout:      opts.LockTimeout,
			FreelistType: bolt.FreelistMapType,
			// A large initial map means read transactions rarely have to wait
			// for a remap while the file grows; it costs address space only.
			InitialMmapSize: 256 << 20,
			OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
				f, err := open(name, flag, perm)
				locked = f
				return f, err
			},
		})
		if err != nil {
			return nil, refuse(err)
		}
		same, err := namesFile(path, locked)
		if err == nil && same && plan.known {
			var id fileID
			id, err = identifyFile(locked)
			same = id == plan.file
		}
		if err != nil {
			_ = db.Close()
			return nil, refuse(err)
		}
		if same {
			break
		}
		_ = db.Close()
		if attempt == 3 {
			return nil, fmt.Errorf("open %s: the file was replaced 3 times while this process waited for its lock; is another program renaming files in %s?", path, dir)
		}
		opts.Logger.Warn().Str("component", "wal").Str("path", path).Msg("the data file was replaced while waiting for its lock (a restore or compact); opening the new one")
	}
	var format uint32
	if err := guardRead(func() (err error) { format, err = initLayout(db, path); return err }); err != nil {
		_ = db.Close()
		if errors.Is(err, ErrDamaged) {
			return nil, refuse(err)
		}
		return nil, err
	}
	if fresh {
		// bbolt fsyncs the file's contents, not the directory entries that
		// name it: without this, a power loss soon after the first start
		// could lose the file, and with it jobs already acked.
		if err := SyncDir(dir); err != nil {
			_ = db.Close()
			return nil, err
		}
		if err := SyncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	if plan.why != "" || fresh {
		// The file passed (or is new): the next start in this boot may
		// skip the walk. Without the record it walks, which is slower,
		// not wrong: a failure here stops nothing.
		if err := recordStart(dir, plan.boot, locked); err != nil {
			opts.Logger.Warn().Str("component", "wal").Err(err).Msg("could not record this start; the next one walks the data file's pages again")
		}
	}
	l := &Log{
		db:        db,
		path:      path,
		clock:     opts.Clock,
		notify:    opts.Notify,
		onCommit:  opts.OnCommit,
		log:       opts.Logger.With().Str("component", "wal").Logger(),
		maxOps:    opts.MaxBatchOps,
		maxQueues: opts.MaxQueues,
		format:    format,
		ops:       make(chan *op),
		closing:   make(chan struct{}),
		done:      make(chan struct{}),
	}
	st := db.Stats() // the writes of Open's own setup are not a commit's
	l.lastWrite = st.TxStats.GetWriteTime()
	go l.loop()
	go l.trimLoop()
	return l, nil
}

// Trimming of the memory map (see trimMapped): checked every trimEvery,
// done when the mapped file pages exceed trimAbove.
const (
	trimEvery = 2 * time.Second
	trimAbove = 48 << 20
)

// trimLoop keeps the file pages mapped into the process bounded, so that
// RSS does not grow with the jobs read since the start.
func (l *Log) trimLoop() {
	t := time.NewTicker(trimEvery)
	defer t.Stop()
	for {
		select {
		case <-l.closing:
			return
		case <-t.C:
		}
		if n, err := mappedFileBytes(); err != nil || n < trimAbove {
			continue
		}
		if err := l.trimMapped(); err != nil && l.Err() == nil {
			l.log.Warn().Err(err).Msg("could not trim the database's memory map")
		}
	}
}

// initLayout creates the top-level buckets of a new file and checks the
// format version of an existing one. It returns the file's version.
func initLayout(db *bolt.DB, path string) (format uint32, err error) {
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return fmt.Errorf("init %s: %w", path, err)
		}
		if v := meta.Get(keyFormat); v != nil {
			if len(v) != 4 {
				return fmt.Errorf("%s: format version is unreadable (inspect it with 'ticketq check')", path)
			}
			format = binary.BigEndian.Uint32(v)
			if format < formatBase || format > formatVersion {
				return fmt.Errorf("%s has format version %d; this ticketq reads versions %d to %d (was it written by a newer ticketq?)", path, format, formatBase, formatVersion)
			}
		} else if err := meta.Put(keyFormat, binary.BigEndian.AppendUint32(nil, formatBase)); err != nil {
			return fmt.Errorf("init %s: %w", path, err)
		} else {
			format = formatBase
		}
		for _, name := range [][]byte{bucketJobs, bucketQueues, bucketFinished, bucketLeases} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("init %s: %w", path, err)
			}
		}
		return nil
	})
	return format, err
}

// SyncDir fsyncs a directory, making the entries created, renamed or
// removed in it durable: a file's own fsync does not cover its name.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s to sync it: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// Path returns the bbolt file's path.
func (l *Log) Path() string { return l.path }

// Close stops the committer after it has answered every operation already
// handed to it, then closes the file. Other calls return job.ErrClosed
// afterwards; a second Close returns what the first returned.
//
// After the log stopped on an inconsistency (ErrInconsistent), the
// transaction that panicked may still hold bbolt's locks, and bbolt's
// close would wait for ever: Close waits at most 5 seconds (closeAbandon),
// then returns an error and leaves a goroutine blocked in bbolt's close,
// which keeps the file open and its lock held until the process exits. A
// program that embeds the log should exit then; opening the directory
// again in the same process fails as if another process held it.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		close(l.closing)
		<-l.done
		l.closeErr = l.closeDB()
	})
	return l.closeErr
}

// Err returns the failure that stopped the log (a failed commit, an
// inconsistency), or nil while it serves. It implements backend.Backend.
func (l *Log) Err() error {
	if p := l.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// CommitStats reports how many transactions were committed and how many
// operations they carried; their ratio is the group-commit batch size.
func (l *Log) CommitStats() (commits, ops uint64) {
	return l.commits.Load(), l.opsDone.Load()
}

// view runs fn in a read transaction, refusing once the log is closed or
// failed. A panic inside bbolt (a page it cannot read) stops the log as a
// failed commit does.
func (l *Log) view(fn func(tx *bolt.Tx) error) error {
	select {
	case <-l.closing:
		return job.ErrClosed
	default:
	}
	if err := l.Err(); err != nil {
		return err
	}
	err := guardEngine(func() error { return l.db.View(fn) })
	switch {
	case errors.Is(err, ErrInconsistent):
		return l.failInconsistent(err)
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return job.ErrClosed
	}
	return err
}

// namesFile reports whether path still leads to the open file f.
func namesFile(path string, f *os.File) (bool, error) {
	if f == nil {
		return false, fmt.Errorf("bbolt opened no file")
	}
	byName, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // renamed away: open whatever is there now
	}
	if err != nil {
		return false, err
	}
	held, err := f.Stat()
	if err != nil {
		return false, err
	}
	return os.SameFile(byName, held), nil
}

// MatchOwner gives path the owner and group of like, when they differ and
// this process may change them (it runs as root). A tool run with sudo on
// a service's data directory (restore, compact) must not leave behind a
// file that the service's own user cannot open.
func MatchOwner(path, like string) error {
	want, err := os.Stat(like)
	if err != nil {
		return err
	}
	have, err := os.Stat(path)
	if err != nil {
		return err
	}
	w, ok1 := want.Sys().(*syscall.Stat_t)
	h, ok2 := have.Sys().(*syscall.Stat_t)
	if !ok1 || !ok2 || (w.Uid == h.Uid && w.Gid == h.Gid) || os.Geteuid() != 0 {
		return nil
	}
	if err := os.Chown(path, int(w.Uid), int(w.Gid)); err != nil {
		return fmt.Errorf("give %s the owner of %s: %w", path, like, err)
	}
	return nil
}
