package wal

import (
	"context"
	"encoding/hex"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
)

// recordBeforeSubmitter is sampleJob as the encoder wrote it before tag 25
// (tagSubmitter) existed: every field but Submitter. Files hold such
// records; they must keep decoding.
const recordBeforeSubmitter = "01015402046d61696c030804077b2261223a317d05016b060d07060802090a0a80e0ba84bf030b" +
	"94e8a994c28ef4ac310c949080cec98ef4ac310d94e8a994c28ef4ac310e94b8d687d18ef4ac310f94e0acc1d88ef4ac3110" +
	"04626f6f6d1103227222120f0194e8a994c28ef4ac316669727374120a0394e8ee9f88e0f5ac311303746f6b1494c8e4988192" +
	"f4ac3115501608726573697a696e6717948883fbdf8ef4ac31188090d8c69e05"

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Ensure that a record written before submitters existed decodes with
// every field it has and an empty Submitter, and that a record with a
// submitter is that record plus one field.
func TestRecord_Submitter(t *testing.T) {
	old := mustHex(t, recordBeforeSubmitter)
	got, err := decodeRecord(old)
	if err != nil {
		t.Fatalf("old record: %v", err)
	}
	want := sampleJob()
	want.Submitter = ""
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("old record:\n got %+v\nwant %+v", got, want)
	}
	// Without a submitter the encoding is byte for byte the old one, so a
	// file keeps one format whether or not tokens are in use.
	if enc := encodeRecord(nil, want); string(enc) != string(old) {
		t.Fatalf("a job without a submitter encodes as %x, not as before", enc)
	}
	withSubmitter := encodeRecord(nil, sampleJob())
	if !strings.HasSuffix(string(withSubmitter), string([]byte{tagSubmitter, 2, 'c', 'i'})) {
		t.Fatalf("record with a submitter ends %x", withSubmitter[len(withSubmitter)-4:])
	}
	got, err = decodeRecord(withSubmitter)
	if err != nil || got.Submitter != "ci" {
		t.Fatalf("record with a submitter: %+v, %v", got, err)
	}
}

// Ensure that Verify checks idempotency entries in their submitter's scope:
// a clean file passes, and an entry moved out of its scope (to the bare
// key, or to another submitter's) is reported from both sides.
func TestVerify_ScopedIdempotencyKeys(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Append(context.Background(), backend.AppendRequest{Queue: "q", Jobs: []job.Submission{
		{Payload: []byte(`1`), MaxAttempts: 1, IdempotencyKey: "k", Submitter: "alice"},
		{Payload: []byte(`2`), MaxAttempts: 1, IdempotencyKey: "k"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Verify(); err != nil {
		t.Fatalf("clean file: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Move alice's entry under bob's scope.
	rawUpdate(t, filepath.Join(dir, FileName), func(tx *bolt.Tx) error {
		idem := tx.Bucket(bucketQueues).Bucket([]byte("q")).Bucket(bucketIdem)
		v := idem.Get([]byte("alice\x00k"))
		if v == nil {
			t.Fatalf("no entry under alice's scoped key")
		}
		v = append([]byte(nil), v...)
		if err := idem.Delete([]byte("alice\x00k")); err != nil {
			return err
		}
		return idem.Put([]byte("bob\x00k"), v)
	})
	re, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	err = re.Verify()
	if err == nil {
		t.Fatal("Verify passed an entry in the wrong scope")
	}
	for _, want := range []string{`idempotency key "k" does not point to it`, `idempotency key "bob\x00k" points to a job that does not carry it`} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("Verify = %v; want a finding %q", err, want)
		}
	}
}
