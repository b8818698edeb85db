package wal

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
)

// Bucket layout (see doc.go for the whole picture).
var (
	bucketMeta     = []byte("meta")
	bucketJobs     = []byte("jobs")
	bucketQueues   = []byte("queues")
	bucketFinished = []byte("finished")
	bucketLeases   = []byte("leases")

	keyFormat = []byte("format")

	// Inside each queue's bucket.
	keyQueueMeta = []byte("m")
	bucketReady  = []byte("ready")
	bucketIdem   = []byte("idem")
)

// stateBucket names the per-queue index of jobs in one state, keyed by ticket.
func stateBucket(s job.State) []byte { return []byte{'s', byte('0' + s)} }

// stateOfBucket returns the state whose index stateBucket names name, if
// it names one.
func stateOfBucket(name []byte) (job.State, bool) {
	for _, s := range job.States {
		if string(name) == string(stateBucket(s)) {
			return s, true
		}
	}
	return 0, false
}

func ticketKey(t job.Ticket) []byte { return appendTicketKey(make([]byte, 0, 8), t) }

func appendTicketKey(dst []byte, t job.Ticket) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(t))
}

func keyTicket(k []byte) job.Ticket { return job.Ticket(binary.BigEndian.Uint64(k)) }

// sortableTime maps a time to a uint64 whose big-endian bytes sort like the
// time (the sign bit is flipped so that times before 1970 sort first).
func sortableTime(t time.Time) uint64 { return uint64(timeToInt(t)) ^ (1 << 63) }

func fromSortableTime(u uint64) time.Time { return intToTime(int64(u ^ (1 << 63))) }

// readyKey orders a queue's queued jobs by priority (higher first), then
// run-at, then ticket: priority byte | run-at (8) | ticket (8).
func readyKey(j *job.Job) []byte { return appendReadyKey(make([]byte, 0, 17), j) }

func appendReadyKey(k []byte, j *job.Job) []byte {
	k = append(k, priorityByte(j.Priority))
	k = binary.BigEndian.AppendUint64(k, sortableTime(j.RunAt))
	return binary.BigEndian.AppendUint64(k, uint64(j.Ticket))
}

func priorityByte(p int) byte { return byte(job.MaxPriority - p) }

// finishedKey orders finished jobs by state, then finish time, then ticket,
// so that "dead jobs finished before T" is one range scan.
func finishedKey(j *job.Job) []byte { return appendFinishedKey(make([]byte, 0, 17), j) }

func appendFinishedKey(k []byte, j *job.Job) []byte {
	k = append(k, byte(j.State))
	k = binary.BigEndian.AppendUint64(k, sortableTime(j.FinishedAt))
	return binary.BigEndian.AppendUint64(k, uint64(j.Ticket))
}

// leaseKey orders pull leases by deadline, then ticket, so that "leases
// past their deadline" is one range scan.
func leaseKey(j *job.Job) []byte { return appendLeaseKey(make([]byte, 0, 16), j) }

func appendLeaseKey(k []byte, j *job.Job) []byte {
	k = binary.BigEndian.AppendUint64(k, sortableTime(j.LeaseExpiresAt))
	return binary.BigEndian.AppendUint64(k, uint64(j.Ticket))
}

// leased reports whether j holds a pull lease (a running job with a deadline).
func leased(j *job.Job) bool { return j.State == job.Running && !j.LeaseExpiresAt.IsZero() }

// queueMeta is the small per-queue record: the paused flag, the number of
// stored jobs per state (kept in the same transaction as every transition so
// that it cannot drift from the indexes) and the run-time limit overrides.
type queueMeta struct {
	paused    bool
	counts    [job.Canceled + 1]int64
	overrides job.QueueOverrides
}

// Versions of the queue meta. Version 1 had no overrides, version 2 no
// max_queue override; both are still read. A meta without a max_queue
// override is written as version 2, so that an older ticketq can still
// open the file unless that override is used.
const (
	queueMetaV2      = 2
	queueMetaVersion = 3
)

// Presence bits of the overrides in a version 2 or 3 queue meta; only
// version 3 has hasMaxQueued.
const (
	hasWorkers = 1 << iota
	hasMaxLeases
	hasRate
	hasBurst
	hasMaxQueued
)

func (m *queueMeta) encode() []byte {
	version := byte(queueMetaV2)
	if m.overrides.MaxQueued != nil {
		version = queueMetaVersion
	}
	b := []byte{version, 0}
	if m.paused {
		b[1] = 1
	}
	for _, s := range job.States {
		b = binary.AppendVarint(b, m.counts[s])
	}
	o := m.overrides
	var bits byte
	for i, set := range []bool{o.Workers != nil, o.MaxLeases != nil, o.Rate != nil, o.Burst != nil, o.MaxQueued != nil} {
		if set {
			bits |= 1 << i
		}
	}
	b = append(b, bits)
	if o.Workers != nil {
		b = binary.AppendVarint(b, int64(*o.Workers))
	}
	if o.MaxLeases != nil {
		b = binary.AppendVarint(b, int64(*o.MaxLeases))
	}
	if o.Rate != nil {
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(*o.Rate))
	}
	if o.Burst != nil {
		b = binary.AppendVarint(b, int64(*o.Burst))
	}
	if o.MaxQueued != nil {
		b = binary.AppendVarint(b, int64(*o.MaxQueued))
	}
	return b
}

func decodeQueueMeta(b []byte) (queueMeta, error) {
	var m queueMeta
	if len(b) < 2 || b[0] < 1 || b[0] > queueMetaVersion || b[1] > 1 {
		return m, fmt.Errorf("%w: queue meta header", ErrCorrupt)
	}
	m.paused = b[1] == 1
	i := 2
	for _, s := range job.States {
		v, w := binary.Varint(b[i:])
		if w <= 0 {
			return m, fmt.Errorf("%w: queue meta count of %s", ErrCorrupt, s)
		}
		m.counts[s] = v
		i += w
	}
	if b[0] == 1 {
		return m, nil
	}
	if i >= len(b) {
		return m, fmt.Errorf("%w: queue meta overrides missing", ErrCorrupt)
	}
	bits := b[i]
	i++
	maxBits := byte(hasMaxQueued<<1 - 1)
	if b[0] == queueMetaV2 {
		maxBits = hasMaxQueued - 1
	}
	if bits > maxBits {
		return m, fmt.Errorf("%w: queue meta has unknown overrides", ErrCorrupt)
	}
	readInt := func() (*int, error) {
		v, w := binary.Varint(b[i:])
		if w <= 0 || v < 0 || v > maxCount {
			return nil, fmt.Errorf("%w: queue meta override", ErrCorrupt)
		}
		i += w
		n := int(v)
		return &n, nil
	}
	var err error
	if bits&hasWorkers != 0 {
		if m.overrides.Workers, err = readInt(); err != nil {
			return m, err
		}
	}
	if bits&hasMaxLeases != 0 {
		if m.overrides.MaxLeases, err = readInt(); err != nil {
			return m, err
		}
	}
	if bits&hasRate != 0 {
		if len(b)-i < 8 {
			return m, fmt.Errorf("%w: queue meta rate", ErrCorrupt)
		}
		r := math.Float64frombits(binary.BigEndian.Uint64(b[i:]))
		m.overrides.Rate = &r
		i += 8
	}
	if bits&hasBurst != 0 {
		if m.overrides.Burst, err = readInt(); err != nil {
			return m, err
		}
	}
	if bits&hasMaxQueued != 0 {
		if m.overrides.MaxQueued, err = readInt(); err != nil {
			return m, err
		}
	}
	if i != len(b) {
		return m, fmt.Errorf("%w: queue meta has trailing bytes", ErrCorrupt)
	}
	return m, nil
}

// queueTx is one queue's buckets inside a write transaction, with its meta
// cached until the transaction flushes it.
type queueTx struct {
	name   string
	b      *bolt.Bucket
	ready  *bolt.Bucket
	idem   *bolt.Bucket
	states [job.Canceled + 1]*bolt.Bucket
	meta   queueMeta
	dirty  bool
}

// openQueue returns the buckets of an existing queue, or nil if the queue is unknown.
func openQueue(root *bolt.Bucket, name string) (*queueTx, error) {
	b := root.Bucket([]byte(name))
	if b == nil {
		return nil, nil
	}
	q := &queueTx{name: name, b: b, ready: b.Bucket(bucketReady), idem: b.Bucket(bucketIdem)}
	for _, s := range job.States {
		q.states[s] = b.Bucket(stateBucket(s))
	}
	if q.ready == nil || q.idem == nil || q.states[job.Queued] == nil {
		return nil, fmt.Errorf("%w: queue %q is missing an index bucket", ErrCorrupt, name)
	}
	m, err := decodeQueueMeta(b.Get(keyQueueMeta))
	if err != nil {
		return nil, fmt.Errorf("queue %q: %w", name, err)
	}
	q.meta = m
	return q, nil
}

// createQueue makes the buckets of a new queue inside a write transaction.
func createQueue(root *bolt.Bucket, name string) (*queueTx, error) {
	if err := job.ValidateQueueName(name); err != nil {
		return nil, err
	}
	b, err := root.CreateBucket([]byte(name))
	if err != nil {
		return nil, fmt.Errorf("create queue %q: %w", name, err)
	}
	q := &queueTx{name: name, b: b, dirty: true}
	if q.ready, err = b.CreateBucket(bucketReady); err != nil {
		return nil, fmt.Errorf("create queue %q: %w", name, err)
	}
	if q.idem, err = b.CreateBucket(bucketIdem); err != nil {
		return nil, fmt.Errorf("create queue %q: %w", name, err)
	}
	for _, s := range job.States {
		if q.states[s], err = b.CreateBucket(stateBucket(s)); err != nil {
			return nil, fmt.Errorf("create queue %q: %w", name, err)
		}
	}
	return q, nil
}

// unindex removes every index entry of j as it is now (before a transition).
func (w *wtx) unindex(q *queueTx, j *job.Job) error {
	if err := q.states[j.State].Delete(appendTicketKey(w.bytes(8), j.Ticket)); err != nil {
		return fmt.Errorf("unindex %s: %w", j.Ticket, err)
	}
	switch {
	case j.State == job.Queued:
		if err := q.ready.Delete(appendReadyKey(w.bytes(17), j)); err != nil {
			return fmt.Errorf("unindex ready %s: %w", j.Ticket, err)
		}
	case j.State.Final():
		if err := w.finished.Delete(appendFinishedKey(w.bytes(17), j)); err != nil {
			return fmt.Errorf("unindex finished %s: %w", j.Ticket, err)
		}
	case leased(j):
		if err := w.leases.Delete(appendLeaseKey(w.bytes(16), j)); err != nil {
			return fmt.Errorf("unindex lease %s: %w", j.Ticket, err)
		}
	}
	q.meta.counts[j.State]--
	q.dirty = true
	return nil
}

// index adds the index entries of j in its new state and stores the record.
func (w *wtx) index(q *queueTx, j *job.Job) error {
	if err := q.states[j.State].Put(appendTicketKey(w.bytes(8), j.Ticket), nil); err != nil {
		return fmt.Errorf("index %s: %w", j.Ticket, err)
	}
	switch {
	case j.State == job.Queued:
		if err := q.ready.Put(appendReadyKey(w.bytes(17), j), nil); err != nil {
			return fmt.Errorf("index ready %s: %w", j.Ticket, err)
		}
	case j.State.Final():
		if err := w.finished.Put(appendFinishedKey(w.bytes(17), j), nil); err != nil {
			return fmt.Errorf("index finished %s: %w", j.Ticket, err)
		}
	case leased(j):
		if err := w.leases.Put(appendLeaseKey(w.bytes(16), j), nil); err != nil {
			return fmt.Errorf("index lease %s: %w", j.Ticket, err)
		}
	}
	q.meta.counts[j.State]++
	q.dirty = true
	if err := w.store(j); err != nil {
		return err
	}
	w.changes = append(w.changes, backend.Change{Queue: q.name, Ticket: j.Ticket, State: j.State})
	return nil
}

// bytes returns an empty slice with room for n bytes that stays valid until
// the transaction ends. bbolt keeps the key and value slices of a Put until
// the commit, so each needs memory of its own; carving them from one chunk
// per transaction saves an allocation for each of them.
func (w *wtx) bytes(n int) []byte {
	if cap(w.arena)-len(w.arena) < n {
		// Chunks double, so that a lone op costs little and a big batch
		// few allocations.
		w.arena = make([]byte, 0, max(n, min(2*cap(w.arena), arenaChunk), 2<<10))
	}
	start := len(w.arena)
	w.arena = w.arena[:start+n]
	return w.arena[start : start : start+n]
}

// arenaChunk is the largest chunk bytes carves from.
const arenaChunk = 64 << 10

// store writes j's record only, for changes that move it in no index.
// The first record with a submitter or a digest raises the file's format
// version, in the same transaction (see formatKeyed).
func (w *wtx) store(j *job.Job) error {
	if w.format < formatKeyed && (j.Submitter != "" || !j.Digest.IsZero()) {
		meta := w.tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("%w: the meta bucket is missing", ErrCorrupt)
		}
		if err := meta.Put(keyFormat, binary.BigEndian.AppendUint32(w.bytes(4), formatKeyed)); err != nil {
			return fmt.Errorf("raise the format version: %w", err)
		}
		w.format = formatKeyed
	}
	rec := encodeRecord(w.bytes(128+len(j.Payload)+len(j.Result)+len(j.LastError)), j)
	if err := w.jobs.Put(appendTicketKey(w.bytes(8), j.Ticket), rec); err != nil {
		return fmt.Errorf("put %s: %w", j.Ticket, err)
	}
	return nil
}
