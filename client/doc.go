// Package client talks to a ticketq server over its HTTP API: Client has a
// typed, context-aware method for every route, and Worker runs the jobs of
// a pull queue with the same job.Handler that an in-process queue takes.
//
// # Basics
//
//	c, err := client.New("http://127.0.0.1:8080", client.Options{})
//	r, err := c.Submit(ctx, "emails", client.Submission{Payload: json.RawMessage(`{"to":"ada"}`), IdempotencyKey: "order-42"})
//	j, err := c.Wait(ctx, r.Ticket, 0) // long-polls until the job is final
//
// Tickets are job.Ticket and states job.State, the types of the embedded
// queue; payloads and results are json.RawMessage.
//
// # Errors
//
// Every non-2xx answer is an *APIError with the status, the API's code and
// message, and Retry-After. It matches the sentinels of package job with
// errors.Is: errors.Is(err, job.ErrNotFound), job.ErrLeaseMismatch,
// job.ErrQueueFull and so on, as the embedded queue's errors do. A refused
// token (401, 403) matches ErrUnauthorized or ErrForbidden; it is never
// retried, and it stops a Worker.
//
// # Retries
//
// A call is repeated (Options.Retries times, with backoff, honouring
// Retry-After) only when a repeat cannot do what the caller did not ask for:
//
//   - Reads (Status, Wait, List, Queues, Queue) and UpdateLimits (a PATCH
//     states its values): network errors, 429 and 503.
//   - Ack, Nack, Extend, Progress: the same, because the lease fences them.
//     If a repeated Ack or Nack finds the lease gone after an attempt whose
//     outcome was unknown, the job's state decides: a job that ended where
//     the call would have put it counts as a success.
//   - Submit and SubmitBatch: the same when every job has an idempotency
//     key; otherwise only when the server provably stored nothing (the
//     connection could not be made; 503 not_ready or shutting_down; 429).
//   - Cancel, Retry, Pause, Resume and Lease: only when the server provably
//     did nothing, as for an unkeyed submit. A lease whose answer was lost
//     leaves its jobs leased until their visibility passes.
//   - Healthy and Ready: network errors only; their 503 is the answer.
package client
