package wal

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	bolt "go.etcd.io/bbolt"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/backend/backendtest"
	"github.com/ticketq/ticketq/job"
)

// Ensure that the bbolt log satisfies the backend contract.
func TestLog_Conformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T, cfg backend.Config) backend.Backend {
		l, _ := mustOpen(t, configured(cfg))
		return l
	})
}

func submitN(ctx context.Context, l *Log, queue string, n int) ([]job.Receipt, error) {
	subs := make([]job.Submission, n)
	for i := range subs {
		subs[i] = job.Submission{Payload: []byte(`{}`), MaxAttempts: 1}
	}
	return l.Append(ctx, backend.AppendRequest{Queue: queue, Jobs: subs})
}

// Ensure that concurrent submitters are each acked once and share
// transactions: far fewer commits than operations.
func TestLog_GroupCommit(t *testing.T) {
	l, _ := mustOpen(t, Options{})
	const producers, each = 64, 20
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	start := make(chan struct{})
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := 0; i < each; i++ {
				if _, err := submitN(context.Background(), l, "q", 1); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	commits, ops := l.CommitStats()
	if ops != producers*each {
		t.Fatalf("committed %d ops, want %d", ops, producers*each)
	}
	// With 64 producers waiting on each fsync, batches must form. One op per
	// commit would mean group commit is broken.
	if commits*2 > ops {
		t.Fatalf("%d commits for %d ops: group commit did not batch", commits, ops)
	}
	t.Logf("%d ops in %d commits (%.1f per commit)", ops, commits, float64(ops)/float64(commits))
	st, err := l.Stats(context.Background(), "q")
	if err != nil || st.Counts[job.Queued] != producers*each {
		t.Fatalf("stats = %+v, %v", st, err)
	}
}

// Ensure that an op that fails inside a batch is answered alone and its
// neighbours commit.
func TestLog_FailureIsolation(t *testing.T) {
	var logged bytes.Buffer
	l, _ := mustOpen(t, Options{Logger: zerolog.New(&logged)})
	mk := func(fn func(w *wtx) error) *op { return &op{fn: fn, done: make(chan error, 1)} }
	var stored []job.Ticket
	good := func(w *wtx) error {
		q, err := w.queue("q", true)
		if err != nil {
			return err
		}
		seq, err := w.jobs.NextSequence()
		if err != nil {
			return err
		}
		j := &job.Job{Ticket: job.Ticket(seq), Queue: "q", State: job.Queued, MaxAttempts: 1, RunAt: w.now}
		stored = append(stored, j.Ticket)
		return w.index(q, j)
	}
	badRuns := 0
	bad := func(w *wtx) error {
		badRuns++
		if _, err := w.jobs.NextSequence(); err != nil {
			return err
		}
		panic("bad op")
	}
	batch := []*op{mk(good), mk(bad), mk(good)}
	// The committer goroutine is idle; running commit here is what it would
	// do with a batch of three.
	l.commit(batch)
	if err := <-batch[0].done; err != nil {
		t.Fatalf("first neighbour: %v", err)
	}
	if err := <-batch[2].done; err != nil {
		t.Fatalf("last neighbour: %v", err)
	}
	if err := <-batch[1].done; !errors.Is(err, errOpPanicked) || !strings.HasSuffix(err.Error(), ": bad op") ||
		strings.Contains(err.Error(), "goroutine ") || strings.Contains(err.Error(), ".go:") {
		t.Fatalf("failing op answered %q, want a plain error without a stack", err)
	}
	// The stack is in the log, once: the op is not run again alone.
	if n := strings.Count(logged.String(), `"stack":`); n != 1 || badRuns != 1 ||
		!strings.Contains(logged.String(), "goroutine ") || !strings.Contains(logged.String(), `"panic":"bad op"`) {
		t.Fatalf("the panicking op ran %d times; %d stacks logged, want 1:\n%s", badRuns, n, logged.String())
	}
	if l.Err() != nil {
		t.Fatalf("an op failure stopped the log: %v", l.Err())
	}
	commits, ops := l.CommitStats()
	if commits != 1 || ops != 2 {
		t.Fatalf("commits/ops = %d/%d, want the two neighbours in one commit", commits, ops)
	}
	st, _ := l.Stats(context.Background(), "q")
	if st.Counts[job.Queued] != 2 {
		t.Fatalf("queued = %d, want 2", st.Counts[job.Queued])
	}
}

// Ensure that a failed commit stops the log: the waiter learns the outcome
// is unknown and every later call is refused.
func TestLog_FailStop(t *testing.T) {
	dir := t.TempDir()
	var file *os.File
	l, err := Open(dir, Options{openFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, mode)
		file = f
		return f, err
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := submitN(ctx, l, "q", 1); err != nil {
		t.Fatal(err)
	}
	// Close bbolt's descriptor under it: the next commit's writes fail the
	// way a dying disk's would.
	if err := file.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = submitN(ctx, l, "q", 1)
	if !errors.Is(err, job.ErrUnknownOutcome) || !errors.Is(err, job.ErrStoreFailed) {
		t.Fatalf("submit during failed commit: %v", err)
	}
	if _, err = submitN(ctx, l, "q", 1); !errors.Is(err, job.ErrStoreFailed) {
		t.Fatalf("submit after failure: %v", err)
	}
	if _, err := l.Get(ctx, 1); !errors.Is(err, job.ErrStoreFailed) {
		t.Fatalf("read after failure: %v", err)
	}
	if l.Err() == nil || !strings.Contains(l.Err().Error(), l.Path()) {
		t.Fatalf("Err() = %v", l.Err())
	}
	_ = l.Close()
	// What was acked before the failure is still there after a restart.
	re, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	if j, err := re.Get(ctx, 1); err != nil || j.State != job.Queued {
		t.Fatalf("acked job after restart: %+v, %v", j, err)
	}
	if err := re.Verify(); err != nil {
		t.Fatal(err)
	}
}

// Ensure that a second opener of a held directory fails within a second,
// naming the directory.
func TestOpen_Locked(t *testing.T) {
	l, dir := mustOpen(t, Options{})
	start := time.Now()
	_, err := Open(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second open: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("second open took %s", d)
	}
	if _, err := submitN(context.Background(), l, "q", 1); err != nil {
		t.Fatalf("first log stopped working: %v", err)
	}
}

// Ensure that a file with a newer format version is refused and left alone.
func TestOpen_NewerFormat(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := l.Path()
	l.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyFormat, []byte{0, 0, 0, 9})
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(path)
	_, err = Open(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "format version 9") || !strings.Contains(err.Error(), path) {
		t.Fatalf("open of newer format: %v", err)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Fatal("refused file was modified")
	}
}

// Ensure that a file that is not a bbolt database is refused with a hint.
func TestOpen_NotADatabase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "ticketq check") {
		t.Fatalf("open of garbage: %v", err)
	}
}

// Ensure that a caller who stops waiting after the committer took its op
// learns the outcome is unknown (the write still lands), and that a caller
// who gives up before that learns plainly that nothing was written.
func TestLog_CallerGivesUp(t *testing.T) {
	l, _ := mustOpen(t, Options{})
	running, proceed := make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- l.do(ctx, func(w *wtx) error {
			close(running)
			<-proceed
			return l.setPaused(w, "q", true)
		})
	}()
	<-running
	// The committer is inside the op: a caller whose context is already
	// over cannot hand its op over, so nothing of it is written.
	dead, stop := context.WithCancel(context.Background())
	stop()
	if _, err := submitN(dead, l, "never", 1); !errors.Is(err, context.Canceled) || errors.Is(err, job.ErrUnknownOutcome) {
		t.Fatalf("submit with a dead context: %v", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, job.ErrUnknownOutcome) {
		t.Fatalf("gave-up caller: %v", err)
	}
	close(proceed)
	// The committer is serial: once a later op is answered, the abandoned
	// one has committed.
	if _, err := submitN(context.Background(), l, "q", 1); err != nil {
		t.Fatal(err)
	}
	st, err := l.Stats(context.Background(), "q")
	if err != nil || !st.Paused {
		t.Fatalf("abandoned op did not land: %+v, %v", st, err)
	}
	if _, err := l.Stats(context.Background(), "never"); !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("refused op landed: %v", err)
	}
}

// Ensure that run-time overrides survive a reopen, and that queue metadata
// written before overrides existed (version 1) still decodes.
func TestLog_OverridesPersist(t *testing.T) {
	l, dir := mustOpen(t, Options{})
	w, rate := 7, 12.5
	if err := l.SetOverrides(context.Background(), "q", job.QueueOverrides{Workers: &w, Rate: &rate}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	re, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	st, err := re.Stats(context.Background(), "q")
	if err != nil || *st.Overrides.Workers != 7 || *st.Overrides.Rate != 12.5 || st.Overrides.Burst != nil {
		t.Fatalf("after reopen: %+v, %v", st.Overrides, err)
	}

	v1 := []byte{1, 1, 2, 4, 0, 0, 0} // paused; queued 1, running 2
	m, err := decodeQueueMeta(v1)
	if err != nil || !m.paused || m.counts[job.Queued] != 1 || m.counts[job.Running] != 2 || m.overrides.Workers != nil {
		t.Fatalf("v1 meta = %+v, %v", m, err)
	}
	if _, err := decodeQueueMeta(append(bytes.Clone(m.encode()), 0)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing byte accepted: %v", err)
	}
}

// Ensure that a max_queue override survives a reopen, that metadata
// without one is still written as version 2 (which older versions read),
// and that version 2 cannot carry one.
func TestLog_MaxQueuedOverride(t *testing.T) {
	l, dir := mustOpen(t, Options{})
	mq, w := 500, 3
	if err := l.SetOverrides(context.Background(), "q", job.QueueOverrides{MaxQueued: &mq, Workers: &w}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	re, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	st, err := re.Stats(context.Background(), "q")
	if err != nil || st.Overrides.MaxQueued == nil || *st.Overrides.MaxQueued != 500 || *st.Overrides.Workers != 3 {
		t.Fatalf("after reopen: %+v, %v", st.Overrides, err)
	}

	with := queueMeta{overrides: job.QueueOverrides{MaxQueued: &mq}}
	b := with.encode()
	if b[0] != 3 {
		t.Fatalf("meta with max_queue written as version %d, want 3", b[0])
	}
	without := queueMeta{overrides: job.QueueOverrides{Workers: &w}}
	if v := without.encode()[0]; v != 2 {
		t.Fatalf("meta without max_queue written as version %d, want 2", v)
	}
	b[0] = 2 // the same bytes claiming version 2
	if _, err := decodeQueueMeta(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a version 2 meta with a max_queue override decoded: %v", err)
	}
	b[0] = 4
	if _, err := decodeQueueMeta(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a version 4 meta decoded: %v", err)
	}
}

// Ensure that trimming the memory map drops the file pages a read mapped
// into the process, and that reads work afterwards.
func TestLog_TrimMapped(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the memory map is trimmed on Linux only; elsewhere trimMapped does nothing")
	}
	l, _ := mustOpen(t, Options{})
	ctx := context.Background()
	subs := make([]job.Submission, 2000)
	for i := range subs {
		subs[i] = job.Submission{Payload: bytes.Repeat([]byte("x"), 2000), MaxAttempts: 1}
	}
	if _, err := l.Append(ctx, backend.AppendRequest{Queue: "q", Jobs: subs}); err != nil {
		t.Fatal(err)
	}
	read := func() {
		res, err := l.List(ctx, backend.ListRequest{Queue: "q", Limit: 1000})
		if err != nil || len(res.Jobs) != 1000 {
			t.Fatalf("list: %d, %v", len(res.Jobs), err)
		}
	}
	read() // maps the pages of a thousand 2 KB records
	before, err := mappedFileBytes()
	if err != nil {
		t.Fatal(err)
	}
	start, end, err := findMapping(l.Path())
	if err != nil || start == 0 || end <= start {
		t.Fatalf("mapping of %s: %x-%x, %v", l.Path(), start, end, err)
	}
	if err := l.trimMapped(); err != nil {
		t.Fatal(err)
	}
	after, err := mappedFileBytes()
	if err != nil {
		t.Fatal(err)
	}
	if after >= before || before-after < 1<<20 {
		t.Fatalf("mapped file pages %d before the trim, %d after: the trim dropped too little", before, after)
	}
	read() // the pages come back on demand
}
