package wal

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/ticketq/ticketq/job"
)

// maxFindings stops a check of a badly damaged file from building an
// unbounded report.
const maxFindings = 100

// Verify checks the whole file: bbolt's own page consistency, then
// ticketq's invariants — every record decodes and is indexed exactly as its
// state says, every index entry points to a record in the matching state,
// every idempotency key points to the job that carries it, and the counters
// equal the index sizes. It reads everything, O(file), so it is for tests and
// offline checks, not for the hot path. It returns nil or every finding
// (up to 100) joined.
func (l *Log) Verify() error {
	var findings []error
	add := func(format string, args ...any) bool {
		findings = append(findings, fmt.Errorf(format, args...))
		return len(findings) < maxFindings
	}
	err := l.view(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			if !add("bbolt: %v", err) {
				return nil
			}
		}
		verifyJobs(tx, add)
		verifyQueues(tx, add)
		return nil
	})
	if err != nil {
		return err
	}
	return errors.Join(findings...)
}

// verifyJobs walks every record and checks that its index entries exist.
func verifyJobs(tx *bolt.Tx, add func(string, ...any) bool) {
	queues, finished, leases := tx.Bucket(bucketQueues), tx.Bucket(bucketFinished), tx.Bucket(bucketLeases)
	c := tx.Bucket(bucketJobs).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 8 {
			if !add("jobs: key of %d bytes", len(k)) {
				return
			}
			continue
		}
		t := keyTicket(k)
		j, err := decodeRecord(v)
		if err != nil {
			if !add("job %s: %v", t, err) {
				return
			}
			continue
		}
		ok := true
		switch q, err := openQueue(queues, j.Queue); {
		case err != nil:
			ok = add("job %s: %v", t, err)
		case j.Ticket != t:
			ok = add("job %s: record says ticket %s", t, j.Ticket)
		case q == nil:
			ok = add("job %s: queue %q does not exist", t, j.Queue)
		default:
			if q.states[j.State].Get(k) == nil {
				ok = add("job %s: missing from the %s index of %q", t, j.State, j.Queue)
			}
			if j.State == job.Queued && q.ready.Get(readyKey(j)) == nil {
				ok = ok && add("job %s: queued but missing from the ready index", t)
			}
			if j.State.Final() && finished.Get(finishedKey(j)) == nil {
				ok = ok && add("job %s: %s but missing from the finished index", t, j.State)
			}
			if leased(j) && leases.Get(leaseKey(j)) == nil {
				ok = ok && add("job %s: leased but missing from the lease index", t)
			}
			if j.IdempotencyKey != "" && !bytes.Equal(q.idem.Get(idemKey(nil, j.Submitter, j.IdempotencyKey)), k) {
				ok = ok && add("job %s: idempotency key %q does not point to it", t, j.IdempotencyKey)
			}
		}
		if !ok {
			return
		}
	}
}

// verifyQueues checks every index entry against its record, and the counters.
func verifyQueues(tx *bolt.Tx, add func(string, ...any) bool) {
	jobs := tx.Bucket(bucketJobs)
	get := func(k []byte) *job.Job {
		j, err := decodeRecord(jobs.Get(k))
		if err != nil {
			return nil
		}
		return j
	}
	qc := tx.Bucket(bucketQueues).Cursor()
	for name, v := qc.First(); name != nil; name, v = qc.Next() {
		if v != nil {
			if !add("queues: %q is a key, not a queue bucket", name) {
				return
			}
			continue
		}
		q, err := openQueue(tx.Bucket(bucketQueues), string(name))
		if err != nil {
			if !add("queue %q: %v", name, err) {
				return
			}
			continue
		}
		for _, s := range job.States {
			n := int64(0)
			c := q.states[s].Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				n++
				if j := get(k); j == nil || j.State != s || j.Queue != q.name {
					if !add("queue %q: %s index names ticket %x which is not a %s job of this queue", name, s, k, s) {
						return
					}
				}
			}
			if n != q.meta.counts[s] {
				if !add("queue %q: counter of %s is %d, index holds %d", name, s, q.meta.counts[s], n) {
					return
				}
			}
		}
		c := q.ready.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) != 17 {
				if !add("queue %q: ready key of %d bytes", name, len(k)) {
					return
				}
				continue
			}
			if j := get(k[9:]); j == nil || j.State != job.Queued || !bytes.Equal(readyKey(j), k) {
				if !add("queue %q: ready entry %x does not match a queued job", name, k) {
					return
				}
			}
		}
		// An entry's key is the job's scoped key (idemKey), rebuilt from
		// the record it points to: that checks the submitter and the key
		// in one comparison, and an entry that an old binary wrote (no
		// submitter) matches its job's bare key.
		c = q.idem.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if j := get(v); j == nil || j.IdempotencyKey == "" || !bytes.Equal(idemKey(nil, j.Submitter, j.IdempotencyKey), k) || j.Queue != q.name {
				if !add("queue %q: idempotency key %q points to a job that does not carry it", name, k) {
					return
				}
			}
		}
	}
	lc := tx.Bucket(bucketLeases).Cursor()
	for k, _ := lc.First(); k != nil; k, _ = lc.Next() {
		if len(k) != 16 {
			if !add("leases: key of %d bytes", len(k)) {
				return
			}
			continue
		}
		if j := get(k[8:]); j == nil || !leased(j) || !bytes.Equal(leaseKey(j), k) {
			if !add("lease entry %x does not match a leased job", k) {
				return
			}
		}
	}
	c := tx.Bucket(bucketFinished).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) != 17 {
			if !add("finished: key of %d bytes", len(k)) {
				return
			}
			continue
		}
		if j := get(k[9:]); j == nil || !bytes.Equal(finishedKey(j), k) {
			if !add("finished entry %x does not match a finished job", k) {
				return
			}
		}
	}
}
