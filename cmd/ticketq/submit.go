package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// submit posts one job to a running server and prints the answer. With
// --wait it then long-polls until the job is final and prints the job.
func submit(ctx context.Context, args []string, env map[string]string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ticketq submit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := serverFlag(fs, env)
	queue := fs.String("queue", "default", "queue name")
	key := fs.String("key", "", "idempotency key: a repeat returns the first ticket")
	delay := fs.Duration("delay", 0, "run no earlier than this from now")
	priority := fs.Int("priority", 0, "priority -100..100, higher first")
	maxAttempts := fs.Int("max-attempts", 0, "failed runs before dead (0: the queue's setting)")
	timeout := fs.Duration("timeout", 0, "per-run timeout (0: the queue's setting)")
	wait := fs.Duration("wait", 0, "after submitting, wait up to this long for the job to finish")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: ticketq submit [flags] [PAYLOAD|-]\n\nSubmits one job; PAYLOAD is JSON, read from stdin when absent or -.\n\n")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
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
	body := map[string]any{"payload": json.RawMessage(payload)}
	if *key != "" {
		body["idempotency_key"] = *key
	}
	if *delay > 0 {
		body["delay"] = delay.String()
	}
	if *priority != 0 {
		body["priority"] = *priority
	}
	if *maxAttempts > 0 {
		body["max_attempts"] = *maxAttempts
	}
	if *timeout > 0 {
		body["timeout"] = timeout.String()
	}
	b, _ := json.Marshal(body)
	out, err := call(ctx, "POST", strings.TrimRight(*server, "/")+"/v1/queues/"+*queue+"/jobs", b, 30*time.Second)
	if err != nil {
		return err
	}
	if *wait <= 0 {
		_, err = stdout.Write(out)
		return err
	}
	var r struct{ Ticket string }
	if err := json.Unmarshal(out, &r); err != nil || r.Ticket == "" {
		return fmt.Errorf("unexpected answer %s", out)
	}
	return status(ctx, []string{"--server", *server, "--wait", wait.String(), r.Ticket}, env, stdout, stderr)
}
