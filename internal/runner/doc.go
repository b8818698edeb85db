// Package runner is what every loop that runs jobs shares: the in-process
// dispatcher.Pool and the pull-mode client.Worker. It calls a handler with
// a panic turned into an error (Call), gives each run its context with a
// timeout that names itself (Start), keeps the runs that can be canceled by
// ticket (Registry), and stops a set of runs gracefully: a grace period,
// then a cancel, then a hard stop after which they are abandoned (Group).
//
// How jobs are found and how outcomes are recorded differ between the two
// callers (a durable Source and a retry policy; HTTP leases, acks and nacks)
// and stay with them. The package imports job and the standard library only,
// so that the client can use it without the server's packages.
package runner
