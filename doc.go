// Package ticketq is a durable job queue that embeds in any Go program: the
// queue lives in one bbolt file, a submit returns a ticket only once the job
// is fsynced, workers run each job with a timeout and retries, and after any
// crash the next Open puts every interrupted job back in line.
//
// # Basics
//
// Open a data directory, register a Handler per queue, Run, Submit:
//
//	q, err := ticketq.Open("data", ticketq.Options{})
//	…
//	q.Handle("email", func(ctx context.Context, j *ticketq.Job) ([]byte, error) {
//		return nil, send(ctx, j.Payload)
//	}, ticketq.QueueOptions{Workers: 8})
//	go q.Run(ctx)
//	r, err := q.Submit(ctx, "email", ticketq.Submission{Payload: body})
//	j, err := q.Wait(ctx, r.Ticket)
//	q.Close()
//
// Status, List and Stats read; Cancel, Retry, Pause and Resume act. The
// httpapi package serves the same Queue over HTTP.
//
// # Guarantees
//
//   - Acked means durable: Submit returns nil only after the fsync.
//   - Nothing acked is lost: every submitted job reaches succeeded, dead or
//     canceled, across any number of crashes and restarts.
//   - At-least-once: a run cut short by a crash runs again (Job.Attempt
//     grows, Job.Interrupted counts it); handlers use the attempt number and
//     the job's idempotency key to be idempotent. Interrupted runs do not
//     consume MaxAttempts.
//   - Bounded memory: a queue holds at most Workers jobs in memory; the
//     backlog stays on disk.
//   - Bad input is refused with an error wrapping ErrInvalid and changes
//     nothing.
//
// # Caveats
//
//   - One process owns a data directory; a second Open fails within a second.
//   - A handler that ignores its context delays shutdown by Grace plus a few
//     seconds; its job then runs again at the next start.
//   - Idempotency keys are remembered while their job is retained (24 h after
//     success by default, Options.RetainSucceeded).
//   - If the disk fails a commit, the queue stops taking writes and Run
//     returns an error wrapping ErrStoreFailed: restart the process.
package ticketq
