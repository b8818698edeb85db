// Package job holds the lowest-level ticketq primitives — Ticket, State, Job,
// Submission, the queue statistics and the base errors — so that they can be
// shared by the WAL, the dispatcher, recovery, the HTTP API and the root
// package without import cycles. It depends on the standard library only
// (and on internal/strictjson, which does too).
//
// Users of ticketq never need to import it: the root package re-exports every
// name here with a type alias.
package job
