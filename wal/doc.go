// Package wal is ticketq's job log on bbolt: one file, ticketq.db, in the
// data directory. It implements backend.Backend.
//
// # Layout
//
//	meta/format                     format version (uint32); a newer one is refused
//	jobs/<ticket>                   the job record (record.go), ticket = bucket sequence,
//	                                big-endian, so keys sort in arrival order
//	queues/<name>/m                 paused flag + stored jobs per state (index.go)
//	queues/<name>/ready/<p|at|t>    queued jobs by priority, run-at, ticket: "next ready jobs"
//	queues/<name>/s<state>/<t>      jobs per state by ticket: listing, "running at crash time"
//	queues/<name>/idem/<key>        idempotency key → ticket; the key is scoped to
//	                                its submitter, if any: submitter NUL key (idemKey)
//	finished/<state|at|t>           final jobs by state and finish time: retention
//
// Every hot question is a range scan or a point read of one of these; no
// operation but Verify reads the whole file.
//
// # Group commit
//
// All writes go through one committer goroutine (committer.go). It drains
// every operation waiting for it into one bbolt Update, commits (bbolt
// fsyncs), and only then answers the callers, so an answer means durable and
// concurrent callers share one fsync. There is no timer: an idle log commits
// a single operation at once.
//
// # Failure policy
//
// An operation that fails inside a batch is taken out and run alone, so it
// cannot fail its neighbours. A failed commit (a write or fsync error) stops
// the log for good: the file's state is unknown, so every later call returns
// job.ErrStoreFailed and the process must restart and recover from what is
// really on disk. A panic inside bbolt, in a commit or a read, is the file
// found inconsistent (ErrInconsistent, failstop.go; or, for bbolt's
// assertions on its own state, possibly a bug of ours): the log stops the
// same way and leaves a marker for the next Open to run the full Check. A
// panic in ticketq's own code inside an operation fails that operation
// alone, with its stack in the log.
//
// # Damaged files
//
// bbolt trusts its file; Open, Check, compact and salvage do not. Before
// bbolt reads a page tree, it is walked without bbolt (pages.go,
// internal/boltfile): a walk reads each page of the tree at most once and
// keeps two bits per page, so that a cycle, a page both free and in use,
// or a page of garbage is found in time and memory bounded by the file's
// size instead of looping, being overwritten or panicking. The offline
// tools walk every time; Open walks only when the machine may have lost
// writes since the file was last opened here, or the file is another one
// (boot.go), so that a restart after a kill costs O(unfinished jobs).
// Salvage copies what a damaged file still holds into a new one.
package wal
