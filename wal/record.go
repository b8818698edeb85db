package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/ticketq/ticketq/job"
)

// recordVersion is the first byte of every record. A record format change
// that old code cannot read bumps it; adding an optional field does not.
const recordVersion = 1

// Record fields. Each field is stored as its tag byte followed by either a
// varint (numbers, times) or a uvarint length and bytes (strings, blobs).
// Zero values are omitted. Tags are stored on disk: never renumber them.
const (
	tagTicket      = 1
	tagQueue       = 2
	tagState       = 3
	tagPayload     = 4
	tagIdemKey     = 5
	tagPriority    = 6
	tagAttempt     = 7
	tagInterrupted = 8
	tagMaxAttempts = 9
	tagTimeout     = 10
	tagCreatedAt   = 11
	tagUpdatedAt   = 12
	tagRunAt       = 13
	tagStartedAt   = 14
	tagFinishedAt  = 15
	tagLastError   = 16
	tagResult      = 17
	tagError       = 18 // repeated: one per entry of the error history
	tagLease       = 19
	tagLeaseExpiry = 20
	tagProgress    = 21
	tagProgressMsg = 22
	tagProgressAt  = 23
	tagLeaseVis    = 24
	// tagSubmitter is absent in records written before submitters
	// existed. A build older than it reads a record that has it as corrupt
	// (unknown tag), so the first such record raises the file's format
	// version (formatKeyed), which such a build refuses as a whole.
	tagSubmitter = 25
	// tagDigest holds the 32 bytes of job.Digest, for jobs with an
	// idempotency key. Records written before it existed have none, and
	// their zero digest matches any request (job.Digest.Matches), so they
	// keep deduplicating as they did. Like tagSubmitter, it raises the
	// file's format version.
	tagDigest = 26
	maxTag    = 26
)

// bytesTags are the tags whose value is length-prefixed bytes; every other
// known tag holds a varint.
var bytesTags = [maxTag + 1]bool{
	tagQueue: true, tagPayload: true, tagIdemKey: true, tagLastError: true,
	tagResult: true, tagError: true, tagLease: true, tagProgressMsg: true,
	tagSubmitter: true, tagDigest: true,
}

// ErrCorrupt reports a record that cannot be decoded.
var ErrCorrupt = errors.New("corrupt record")

// encodeRecord appends the encoding of j to dst.
func encodeRecord(dst []byte, j *job.Job) []byte {
	dst = append(dst, recordVersion)
	dst = appendInt(dst, tagTicket, int64(j.Ticket))
	dst = appendBytes(dst, tagQueue, []byte(j.Queue))
	dst = appendInt(dst, tagState, int64(j.State))
	dst = appendBytes(dst, tagPayload, j.Payload)
	dst = appendBytes(dst, tagIdemKey, []byte(j.IdempotencyKey))
	dst = appendInt(dst, tagPriority, int64(j.Priority))
	dst = appendInt(dst, tagAttempt, int64(j.Attempt))
	dst = appendInt(dst, tagInterrupted, int64(j.Interrupted))
	dst = appendInt(dst, tagMaxAttempts, int64(j.MaxAttempts))
	dst = appendInt(dst, tagTimeout, int64(j.Timeout))
	dst = appendTime(dst, tagCreatedAt, j.CreatedAt)
	dst = appendTime(dst, tagUpdatedAt, j.UpdatedAt)
	dst = appendTime(dst, tagRunAt, j.RunAt)
	dst = appendTime(dst, tagStartedAt, j.StartedAt)
	dst = appendTime(dst, tagFinishedAt, j.FinishedAt)
	dst = appendBytes(dst, tagLastError, []byte(j.LastError))
	dst = appendBytes(dst, tagResult, j.Result)
	for _, e := range j.Errors {
		var sub []byte
		sub = binary.AppendUvarint(sub, uint64(e.Attempt))
		sub = binary.AppendVarint(sub, timeToInt(e.At))
		sub = append(sub, e.Error...)
		dst = append(dst, tagError)
		dst = binary.AppendUvarint(dst, uint64(len(sub)))
		dst = append(dst, sub...)
	}
	dst = appendBytes(dst, tagLease, []byte(j.Lease))
	dst = appendTime(dst, tagLeaseExpiry, j.LeaseExpiresAt)
	dst = appendInt(dst, tagProgress, int64(j.Progress))
	dst = appendBytes(dst, tagProgressMsg, []byte(j.ProgressMessage))
	dst = appendTime(dst, tagProgressAt, j.ProgressAt)
	dst = appendInt(dst, tagLeaseVis, int64(j.LeaseVisibility))
	dst = appendBytes(dst, tagSubmitter, []byte(j.Submitter))
	if !j.Digest.IsZero() {
		dst = appendBytes(dst, tagDigest, j.Digest[:])
	}
	return dst
}

func appendInt(dst []byte, tag byte, v int64) []byte {
	if v == 0 {
		return dst
	}
	return binary.AppendVarint(append(dst, tag), v)
}

func appendBytes(dst []byte, tag byte, b []byte) []byte {
	if len(b) == 0 {
		return dst
	}
	dst = binary.AppendUvarint(append(dst, tag), uint64(len(b)))
	return append(dst, b...)
}

func appendTime(dst []byte, tag byte, t time.Time) []byte {
	if t.IsZero() {
		return dst
	}
	return binary.AppendVarint(append(dst, tag), timeToInt(t))
}

// timeToInt stores times as Unix nanoseconds; the zero time stays 0 so that
// "never" survives a round trip.
func timeToInt(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func intToTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// decodeRecord decodes b into a new Job. It copies every byte it keeps, so
// the result stays valid after the bbolt transaction ends. Any malformed
// input returns an error wrapping ErrCorrupt; it never panics.
func decodeRecord(b []byte) (*job.Job, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrCorrupt)
	}
	if b[0] != recordVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads version %d", ErrCorrupt, b[0], recordVersion)
	}
	j := &job.Job{}
	var seen [maxTag + 1]bool
	for i := 1; i < len(b); {
		tag := b[i]
		i++
		if tag == 0 || tag > maxTag {
			return nil, fmt.Errorf("%w: unknown field tag %d at offset %d", ErrCorrupt, tag, i-1)
		}
		if seen[tag] && tag != tagError {
			return nil, fmt.Errorf("%w: field tag %d repeated at offset %d", ErrCorrupt, tag, i-1)
		}
		seen[tag] = true
		if bytesTags[tag] {
			n, w := binary.Uvarint(b[i:])
			if w <= 0 || n > uint64(len(b)-i-w) {
				return nil, fmt.Errorf("%w: bad length of field %d at offset %d", ErrCorrupt, tag, i)
			}
			i += w
			v := b[i : i+int(n)]
			i += int(n)
			if err := setBytes(j, tag, v); err != nil {
				return nil, err
			}
			continue
		}
		v, w := binary.Varint(b[i:])
		if w <= 0 {
			return nil, fmt.Errorf("%w: bad number in field %d at offset %d", ErrCorrupt, tag, i)
		}
		i += w
		if err := setInt(j, tag, v); err != nil {
			return nil, err
		}
	}
	if j.Ticket == 0 || j.Queue == "" || !j.State.Valid() {
		return nil, fmt.Errorf("%w: ticket, queue or state missing", ErrCorrupt)
	}
	return j, nil
}

// maxCount bounds counters so that a corrupt varint cannot turn into a
// negative or absurd int on 32-bit platforms.
const maxCount = 1 << 30

func setInt(j *job.Job, tag byte, v int64) error {
	switch tag {
	case tagTicket:
		if v <= 0 {
			return fmt.Errorf("%w: ticket %d", ErrCorrupt, v)
		}
		j.Ticket = job.Ticket(v)
	case tagState:
		j.State = job.State(v)
		if v < 0 || v > 255 || !j.State.Valid() {
			return fmt.Errorf("%w: state %d", ErrCorrupt, v)
		}
	case tagPriority:
		if v < job.MinPriority || v > job.MaxPriority {
			return fmt.Errorf("%w: priority %d", ErrCorrupt, v)
		}
		j.Priority = int(v)
	case tagAttempt, tagInterrupted, tagMaxAttempts:
		if v < 0 || v > maxCount {
			return fmt.Errorf("%w: count %d in field %d", ErrCorrupt, v, tag)
		}
		switch tag {
		case tagAttempt:
			j.Attempt = int(v)
		case tagInterrupted:
			j.Interrupted = int(v)
		default:
			j.MaxAttempts = int(v)
		}
	case tagTimeout, tagLeaseVis:
		if v < 0 {
			return fmt.Errorf("%w: duration %d in field %d", ErrCorrupt, v, tag)
		}
		if tag == tagTimeout {
			j.Timeout = time.Duration(v)
		} else {
			j.LeaseVisibility = time.Duration(v)
		}
	case tagCreatedAt:
		j.CreatedAt = intToTime(v)
	case tagUpdatedAt:
		j.UpdatedAt = intToTime(v)
	case tagRunAt:
		j.RunAt = intToTime(v)
	case tagStartedAt:
		j.StartedAt = intToTime(v)
	case tagFinishedAt:
		j.FinishedAt = intToTime(v)
	case tagLeaseExpiry:
		j.LeaseExpiresAt = intToTime(v)
	case tagProgressAt:
		j.ProgressAt = intToTime(v)
	case tagProgress:
		if v < 0 || v > 100 {
			return fmt.Errorf("%w: progress %d", ErrCorrupt, v)
		}
		j.Progress = int(v)
	default:
		return fmt.Errorf("%w: field %d is not a number", ErrCorrupt, tag)
	}
	return nil
}

func setBytes(j *job.Job, tag byte, v []byte) error {
	switch tag {
	case tagQueue:
		j.Queue = string(v)
	case tagPayload:
		j.Payload = append([]byte(nil), v...)
	case tagIdemKey:
		j.IdempotencyKey = string(v)
	case tagLastError:
		j.LastError = string(v)
	case tagResult:
		j.Result = append([]byte(nil), v...)
	case tagLease:
		j.Lease = string(v)
	case tagProgressMsg:
		j.ProgressMessage = string(v)
	case tagSubmitter:
		j.Submitter = string(v)
	case tagDigest:
		if len(v) != len(j.Digest) || job.Digest(v) == (job.Digest{}) {
			return fmt.Errorf("%w: digest of %d bytes", ErrCorrupt, len(v))
		}
		j.Digest = job.Digest(v)
	case tagError:
		if len(j.Errors) >= job.MaxErrorHistory {
			return fmt.Errorf("%w: more than %d error entries", ErrCorrupt, job.MaxErrorHistory)
		}
		attempt, w1 := binary.Uvarint(v)
		if w1 <= 0 || attempt > maxCount {
			return fmt.Errorf("%w: bad attempt in error entry", ErrCorrupt)
		}
		at, w2 := binary.Varint(v[w1:])
		if w2 <= 0 {
			return fmt.Errorf("%w: bad time in error entry", ErrCorrupt)
		}
		j.Errors = append(j.Errors, job.AttemptError{
			Attempt: int(attempt), At: intToTime(at), Error: string(v[w1+w2:]),
		})
	default:
		return fmt.Errorf("%w: field %d is not bytes", ErrCorrupt, tag)
	}
	return nil
}
