package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// compactTxBytes bounds the keys and values that one transaction of the
// compaction copies: each commit leaves a few superseded branch pages
// behind in the new file, so larger is tighter, and its dirty pages stay in
// memory until it commits, so smaller is leaner.
const compactTxBytes = 8 << 20

// CompactProgress is how far a Compact has come. During "copying" it is an
// estimate: bbolt.Compact reports nothing, so a ticker compares the new
// file's high-water mark with the bytes that the old file's pages hold
// (bbolt's page statistics, read before the copy), which is about what the
// copy takes with its pages filled. It then follows the check of the new
// file ("checking", Percent from Check) and ends with "done".
type CompactProgress struct {
	Stage       string
	Detail      string // the check's own stage, while checking
	Done, Total int64  // bytes, while copying
	Percent     int
}

// CompactResult is what Compact did.
type CompactResult struct {
	Path          string
	Before, After int64 // the file's size on disk
	Jobs, Queues  int   // as the check of the new file counted them
}

// Compact rewrites the data file of a stopped server without its free
// pages: bbolt.Compact copies every bucket into ticketq.db.compact next to
// it, that file is synced, checked with Check and compared with the
// original bucket by bucket, and only then renamed over ticketq.db, and the
// directory synced. The original stays open read-only, and so locked
// against a server starting, until the rename is durable. On any failure
// the original is untouched and the new file removed.
//
// A directory that a running server holds is refused within half a second
// with ErrInUse, a file that Open would refuse with a *FileError. It needs
// free space for the live part of the file. progress, if not nil, is called
// from another goroutine while copying.
func Compact(dir string, progress func(CompactProgress)) (res CompactResult, err error) {
	path := filepath.Join(dir, FileName)
	res.Path = path
	report := func(p CompactProgress) {
		if progress != nil {
			progress(p)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return res, fmt.Errorf("compact %s: %w", dir, err)
	}
	if res.Before = fi.Size(); res.Before == 0 {
		return res, fmt.Errorf("compact %s: %s is empty (0 bytes): there is nothing to compact", dir, path)
	}

	// The header first, as Open does; then the freelist, read only to
	// refuse a damaged one as Open would (loading it from a file cut short
	// would fault): compact is no repair tool, a damaged file is restored
	// from a backup.
	open := func(preload bool) (*bolt.DB, error) {
		db, err := openReadOnly(path, offlineLockWait, preload)
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, fmt.Errorf("%s is %w; stop it first: compact rewrites the file", dir, ErrInUse)
		case errors.Is(err, ErrDamaged):
			return nil, fileError(path, err)
		case err != nil:
			return nil, fmt.Errorf("compact %s: %w", dir, err)
		}
		return db, nil
	}
	src, err := open(false)
	if err != nil {
		return res, err
	}
	err = guardRead(func() error {
		return src.View(func(tx *bolt.Tx) error {
			_, err := checkHeader(tx, fi.Size())
			return err
		})
	})
	if err == nil {
		// bbolt.Compact's cursors would go round a cycle for ever, and
		// copy what a page both free and in use holds now.
		err = checkPages(path)
	}
	_ = src.Close()
	if err != nil {
		return res, fileError(path, err)
	}
	if src, err = open(true); err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, src.Close()) }()
	var before map[string]bucketSummary
	var live int64
	if err := guardRead(func() (err error) {
		before, live, err = summarize(src)
		return err
	}); err != nil {
		return res, fileError(path, err)
	}

	// Copy into the new file. Its commits skip fsync: nothing reads it
	// before the one sync below, and a crash before the rename leaves only
	// a stray file that the next compact replaces.
	tmp := path + ".compact"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, fmt.Errorf("remove the leftover %s: %w", tmp, err)
	}
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: 500 * time.Millisecond, NoSync: true, NoGrowSync: true})
	if err != nil {
		return res, fmt.Errorf("create %s: %w", tmp, err)
	}
	keep := false
	defer func() {
		if !keep {
			_ = os.Remove(tmp)
		}
	}()
	stopWatch := watchCopy(dst, live, report)
	err = guardRead(func() error { return bolt.Compact(dst, src, compactTxBytes) })
	stopWatch()
	if err == nil {
		err = sameBuckets(before, dst)
	}
	if err == nil {
		err = dst.Sync()
	}
	var used int64
	if err == nil {
		err = dst.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil })
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, fmt.Errorf("compact %s into %s: %w", path, tmp, err)
	}
	// bbolt grows a file in steps of up to 16 MiB ahead of its use; the
	// tail beyond the high-water mark holds nothing.
	if err := truncateAndSync(tmp, used); err != nil {
		return res, err
	}

	rep, err := CheckFile(tmp, func(p Progress) {
		if p.Stage != "done" {
			report(CompactProgress{Stage: "checking", Detail: p.Stage, Percent: p.Percent})
		}
	})
	if err != nil {
		return res, err
	}
	if !rep.OK() {
		return res, fmt.Errorf("the compacted copy %s failed its check (%s was left as it was): %v", tmp, path, rep.Findings)
	}
	res.Jobs, res.Queues, res.After = rep.Jobs, rep.Queues, rep.Size

	// Install it: rename, then make the rename durable.
	if err := MatchOwner(tmp, path); err != nil {
		return res, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return res, fmt.Errorf("rename %s to %s: %w", tmp, path, err)
	}
	keep = true
	if err := SyncDir(dir); err != nil {
		return res, err
	}
	report(CompactProgress{Stage: "done", Percent: 100})
	return res, nil
}

// watchCopy reports the copy's progress every 200 ms until the returned
// function is called, which waits for the last report.
func watchCopy(dst *bolt.DB, total int64, report func(CompactProgress)) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			var n int64
			_ = dst.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
			pct := 99
			if total > 0 && n < total {
				pct = int(n * 100 / total)
			}
			report(CompactProgress{Stage: "copying", Done: min(n, total), Total: total, Percent: pct})
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// bucketSummary is what the copy of a top-level bucket must keep: its key
// count (bbolt's count includes nested buckets and their keys) and its
// sequence, the ticket counter among them.
type bucketSummary struct {
	keys int
	seq  uint64
}

// summarize reads the summary of every top-level bucket, and the bytes
// their pages hold (what a copy with full pages takes, the estimate that
// the progress of copying is measured against). It reads every page
// header, not the keys: a fraction of a second for 500 MB.
func summarize(db *bolt.DB) (map[string]bucketSummary, int64, error) {
	out := map[string]bucketSummary{}
	var inuse int64
	err := db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			st := b.Stats()
			out[string(name)] = bucketSummary{st.KeyN, b.Sequence()}
			inuse += int64(st.LeafInuse + st.BranchInuse)
			return nil
		})
	})
	return out, inuse, err
}

// sameBuckets compares the copy's top-level buckets with the original's
// summary. Check proves the copy is sound; this proves it is whole.
func sameBuckets(want map[string]bucketSummary, dst *bolt.DB) error {
	got, _, err := summarize(dst)
	if err != nil {
		return err
	}
	if len(got) != len(want) {
		return fmt.Errorf("the copy has %d top-level buckets, the original %d", len(got), len(want))
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			return fmt.Errorf("bucket %q: the copy has %d keys and sequence %d, the original %d and %d", name, g.keys, g.seq, w.keys, w.seq)
		}
	}
	return nil
}

// truncateAndSync cuts path to size bytes and fsyncs it.
func truncateAndSync(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	if err := f.Truncate(size); err != nil {
		_ = f.Close()
		return fmt.Errorf("truncate %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}
