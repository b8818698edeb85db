package wal

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
)

// committedFormat reads the format version that l's last commit left.
func committedFormat(t *testing.T, l *Log) uint32 {
	t.Helper()
	var v uint32
	if err := l.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta).Get(keyFormat)
		if len(b) != 4 {
			return errors.New("no format version")
		}
		v = binary.BigEndian.Uint32(b)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// Ensure that a file stays at format 1, which older builds read, while no
// record holds a submitter or a digest; that the commit storing the first
// such record raises it to 2, which an older build refuses as a whole
// ("run the newer ticketq") instead of failing on those records; that a
// refused submit raises nothing; and that this build reopens and checks
// a raised file.
func TestFormat_RaisedByKeyedRecords(t *testing.T) {
	ctx := context.Background()
	for name, sub := range map[string]struct {
		s      job.Submission
		digest job.Digest
	}{
		"digest":    {job.Submission{IdempotencyKey: "k"}, job.Digest{1, 2, 3}},
		"submitter": {job.Submission{Submitter: "alice"}, job.Digest{}},
		// A key without a digest (an embedding program's Append) writes
		// neither tag.
	} {
		t.Run(name, func(t *testing.T) {
			l, dir := mustOpen(t, Options{})
			if _, err := submitN(ctx, l, "q", 3); err != nil {
				t.Fatal(err)
			}
			keyed := sub.s
			keyed.Payload, keyed.MaxAttempts = []byte(`{}`), 1
			plainKey := job.Submission{Payload: []byte(`{}`), MaxAttempts: 1, IdempotencyKey: "plain"}
			if _, err := l.Append(ctx, backend.AppendRequest{Queue: "q", Jobs: []job.Submission{plainKey}}); err != nil {
				t.Fatal(err)
			}
			if got := committedFormat(t, l); got != formatBase {
				t.Fatalf("format %d after plain jobs, want %d", got, formatBase)
			}
			req := backend.AppendRequest{Queue: "q", Jobs: []job.Submission{keyed}, Digests: []job.Digest{sub.digest}, MaxQueued: 4}
			if _, err := l.Append(ctx, req); !errors.Is(err, job.ErrQueueFull) {
				t.Fatalf("append over MaxQueued = %v, want ErrQueueFull", err)
			}
			if got := committedFormat(t, l); got != formatBase {
				t.Fatalf("format %d after a refused submit, want %d", got, formatBase)
			}
			req.MaxQueued = 0
			if _, err := l.Append(ctx, req); err != nil {
				t.Fatal(err)
			}
			if got := committedFormat(t, l); got != formatKeyed {
				t.Fatalf("format %d after a job with a %s, want %d", got, name, formatKeyed)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			rep, err := Check(dir, nil)
			if err != nil || !rep.OK() || rep.Format != formatKeyed || rep.Jobs != 5 {
				t.Fatalf("Check = %+v, %v; want a sound file of format %d with 5 jobs", rep, err, formatKeyed)
			}
			re, err := Open(dir, Options{})
			if err != nil {
				t.Fatalf("reopen a raised file: %v", err)
			}
			if err := re.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
