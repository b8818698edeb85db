package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ticketq/ticketq/client"
)

// submit posts one job to a running server and prints its receipt as JSON.
// With --wait it then waits until the job is final and prints the job.
func submit(ctx context.Context, args []string, env map[string]string, stdout, stderr io.Writer) error {
	fs := newCmdFlags("ticketq submit", "Usage: ticketq submit [flags] [PAYLOAD|-]\n\n"+
		"Submits one job to a running server and prints its ticket; PAYLOAD is JSON, read\n"+
		"from stdin when absent or -.\n", stderr)
	server := serverFlag(fs)
	access := addAccessFlags(fs)
	queue := fs.String("queue", "default", "queue name")
	fs.doc("queue", "NAME")
	key := fs.String("key", "", "idempotency key: a repeat returns the first ticket (and makes the submit safe to retry)")
	fs.doc("key", "KEY")
	delay := fs.Duration("delay", 0, "run no earlier than this from now")
	fs.doc("delay", "DURATION")
	priority := fs.Int("priority", 0, "priority -100..100, higher first")
	fs.doc("priority", "N")
	maxAttempts := fs.Int("max-attempts", 0, "failed runs before dead (0: the queue's setting)")
	fs.doc("max-attempts", "N")
	timeout := fs.Duration("timeout", 0, "per-run timeout (0: the queue's setting)")
	fs.doc("timeout", "DURATION")
	wait := fs.Duration("wait", 0, "after submitting, wait up to this long for the job to finish")
	fs.doc("wait", "DURATION")
	pos, err := fs.parse(args, env)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageError{fmt.Errorf("one payload at most, got %d arguments", len(pos))}
	}
	var payload []byte
	if len(pos) == 0 || pos[0] == "-" {
		if payload, err = io.ReadAll(io.LimitReader(os.Stdin, 64<<20)); err != nil {
			return fmt.Errorf("read payload from stdin: %w", err)
		}
	} else {
		payload = []byte(pos[0])
	}
	if !json.Valid(payload) {
		return usageError{fmt.Errorf("payload is not JSON: %.60q (quote text as a JSON string: '\"hello\"')", strings.TrimSpace(string(payload)))}
	}
	acc, err := access.resolve()
	if err != nil {
		return usageError{err}
	}
	c, err := client.New(*server, acc.options())
	if err != nil {
		return usageError{err}
	}
	r, err := c.Submit(ctx, *queue, client.Submission{
		Payload: payload, IdempotencyKey: *key, Delay: *delay, Priority: *priority,
		MaxAttempts: *maxAttempts, Timeout: *timeout,
	})
	if err != nil {
		return err
	}
	if *wait <= 0 {
		return printJSON(stdout, r)
	}
	return waitAndPrint(ctx, c, r.Ticket, *wait, stdout)
}

// printJSON writes v as one line of JSON.
func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
