// Package executor holds the job.Handler implementations the ticketq binary
// offers, so that jobs can do real work without anyone writing Go: Exec runs
// a shell command, Webhook POSTs to a URL and S3 uploads the payload to an
// S3-compatible bucket. Both follow the
// Handler contract: a plain error is a failed attempt that is retried with
// the queue's backoff, job.Permanent sends the job straight to dead, and
// job.RetryAfter sets the delay before the next attempt.
//
// # Exec
//
// The command runs as `/bin/sh -c command` in a process group of its own,
// with the job's payload on stdin and the job described in the environment
// (TICKETQ_TICKET, TICKETQ_QUEUE, TICKETQ_ATTEMPT, TICKETQ_IDEMPOTENCY_KEY).
//
//   - Exit status 0 is success. The result is stdout, cut at MaxOutput bytes;
//     a cut result is still a success, and the command is never blocked by
//     output nobody keeps.
//   - Any other exit, death by a signal, or a shell that cannot be started is
//     a failed attempt, retried. The error names the exit status and carries
//     the tail of stderr.
//   - When the handler's context ends (timeout, cancel, shutdown) the whole
//     process group is killed with SIGKILL and the error wraps
//     context.Cause(ctx), so the caller can tell a timeout from a cancel.
//
// Exec never returns a permanent error: only the command knows whether a
// failure is final, and an exit status cannot say so.
//
// # Webhook
//
// The payload is POSTed as application/json with the job described in
// X-Ticketq-Ticket, X-Ticketq-Queue, X-Ticketq-Attempt and, when the job has
// one, Idempotency-Key, so that the receiver can drop the duplicates that
// retries produce.
//
//   - 2xx is success. The result is the response body, cut at MaxBody bytes.
//   - 408, 429, 5xx and transport failures (refused, reset, DNS) are failed
//     attempts, retried. A Retry-After header on such a response, in seconds
//     or as an HTTP date, sets the delay before the next attempt.
//   - Every other status is permanent: a 4xx will not change by repeating the
//     same request. This includes 3xx: the default client follows only 307
//     and 308, which repeat the POST with its body.
//   - When the handler's context ends the request is aborted and the error
//     wraps context.Cause(ctx).
//
// Error messages carry the status and a short, sanitized snippet of the
// response body, never the URL, which may hold a secret.
//
// # S3
//
// The payload becomes one object, PUT in a single request per attempt, at a
// key expanded from a template ({queue}/{date}/{ticket}.json by default; see
// S3Key). The key is deterministic per job, so a run repeated after a crash
// overwrites the object instead of adding one. Credentials come from the
// usual AWS_* variables.
//
//   - Success returns {"bucket","key","etag","size"} as the result.
//   - Throttling, timeouts, 5xx and transport failures are retried.
//   - Other S3 errors (AccessDenied, NoSuchBucket, a bad signature) are
//     permanent: the configuration is wrong and retrying cannot help.
package executor
