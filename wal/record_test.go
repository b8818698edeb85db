package wal

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/ticketq/ticketq/job"
)

func sampleJob() *job.Job {
	at := time.Date(2026, 5, 6, 7, 8, 9, 10, time.UTC)
	return &job.Job{
		Ticket: 42, Queue: "mail", State: job.Dead, Payload: []byte(`{"a":1}`),
		IdempotencyKey: "k", Submitter: "ci", Priority: -7, Attempt: 3, Interrupted: 1, MaxAttempts: 5,
		Timeout: time.Minute, CreatedAt: at, UpdatedAt: at.Add(time.Second), RunAt: at,
		StartedAt: at.Add(2 * time.Second), FinishedAt: at.Add(3 * time.Second),
		LastError: "boom", Result: []byte(`"r"`), Lease: "tok", LeaseExpiresAt: at.Add(time.Minute), LeaseVisibility: 90 * time.Second,
		Progress: 40, ProgressMessage: "resizing", ProgressAt: at.Add(4 * time.Second),
		Errors: []job.AttemptError{{Attempt: 1, At: at, Error: "first"}, {Attempt: 3, At: at.Add(time.Hour), Error: ""}},
	}
}

// Ensure that every field survives an encode/decode round trip.
func TestRecord_RoundTrip(t *testing.T) {
	for _, j := range []*job.Job{sampleJob(), {Ticket: 1, Queue: "q", State: job.Queued}} {
		got, err := decodeRecord(encodeRecord(nil, j))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, j) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, j)
		}
	}
}

// Ensure that damaged records are refused with ErrCorrupt.
func TestRecord_Corrupt(t *testing.T) {
	good := encodeRecord(nil, sampleJob())
	cases := map[string][]byte{
		"empty":         {},
		"version":       append([]byte{9}, good[1:]...),
		"truncated":     good[:len(good)-3],
		"unknown tag":   append(bytes.Clone(good), 99, 1),
		"repeated tag":  append(bytes.Clone(good), tagState, 2),
		"no ticket":     {recordVersion, tagQueue, 1, 'q', tagState, 2},
		"bad state":     {recordVersion, tagTicket, 2, tagQueue, 1, 'q', tagState, 20},
		"huge length":   {recordVersion, tagTicket, 2, tagQueue, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad priority":  {recordVersion, tagTicket, 2, tagQueue, 1, 'q', tagState, 2, tagPriority, 0xc8, 0x03},
		"negative n":    {recordVersion, tagTicket, 2, tagQueue, 1, 'q', tagState, 2, tagAttempt, 1},
		"varint cutoff": {recordVersion, tagTicket, 0x80},
		"submitter cut": {recordVersion, tagTicket, 2, tagQueue, 1, 'q', tagState, 2, tagSubmitter, 5, 'c', 'i'},
		"tag past max":  {recordVersion, tagTicket, 2, tagQueue, 1, 'q', tagState, 2, maxTag + 1, 1, 'x'},
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeRecord(b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode = %v, want ErrCorrupt", err)
			}
		})
	}
}

// FuzzDecodeRecord checks that no input makes the decoder panic, and that
// whatever it accepts re-encodes to something it decodes identically.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(nil, sampleJob()))
	f.Add(encodeRecord(nil, &job.Job{Ticket: 1, Queue: "q", State: job.Queued}))
	f.Add([]byte{recordVersion})
	f.Add(mustHex(f, recordBeforeSubmitter))
	withDigest := sampleJob()
	withDigest.Digest = (&job.Submission{Payload: []byte("x")}).Digest()
	f.Add(encodeRecord(nil, withDigest))
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, err := decodeRecord(encodeRecord(nil, j))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(normalize(again), normalize(j)) {
			t.Fatalf("unstable round trip:\n%+v\n%+v", j, again)
		}
	})
}

// normalize maps empty slices to nil: encoding omits empty fields, so a
// decoded empty payload comes back as nil.
func normalize(j *job.Job) *job.Job {
	c := *j
	if len(c.Payload) == 0 {
		c.Payload = nil
	}
	if len(c.Result) == 0 {
		c.Result = nil
	}
	return &c
}

// BenchmarkRecord measures encoding and decoding one job record with a
// 200-byte payload.
func BenchmarkRecord(b *testing.B) {
	j := sampleJob()
	j.Payload = bytes.Repeat([]byte("x"), 200)
	enc := encodeRecord(nil, j)
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 512)
		for range b.N {
			buf = encodeRecord(buf[:0], j)
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := decodeRecord(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Ensure that a job's digest survives a round trip as a field of its own,
// that a record written before digests existed decodes with none (which
// matches any request), and that a digest of the wrong size, or the zero
// one the encoder never writes, is corrupt.
func TestRecord_Digest(t *testing.T) {
	j := sampleJob()
	j.Digest = (&job.Submission{Payload: []byte(`{"a":1}`)}).Digest()
	enc := encodeRecord(nil, j)
	got, err := decodeRecord(enc)
	if err != nil || got.Digest != j.Digest {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	without := sampleJob()
	if want := append(encodeRecord(nil, without), append([]byte{tagDigest, 32}, j.Digest[:]...)...); !bytes.Equal(enc, want) {
		t.Fatalf("a digest is not one field added at the end:\n got %x\nwant %x", enc, want)
	}
	old, err := decodeRecord(mustHex(t, recordBeforeSubmitter))
	if err != nil || !old.Digest.IsZero() {
		t.Fatalf("a record from before digests: %+v, %v", old, err)
	}
	for name, b := range map[string][]byte{
		"short digest": append(encodeRecord(nil, without), tagDigest, 3, 1, 2, 3),
		"zero digest":  append(append(encodeRecord(nil, without), tagDigest, 32), make([]byte, 32)...),
	} {
		if _, err := decodeRecord(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}
