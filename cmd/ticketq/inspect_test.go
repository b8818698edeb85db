package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
	"github.com/ticketq/ticketq/wal"
)

// inspectDir returns dataDir's 40 queued jobs plus one dead job in queue
// "reports" whose last error is long and spans lines.
func inspectDir(t *testing.T) (dir string, longError string) {
	t.Helper()
	dir = dataDir(t)
	l, err := wal.Open(dir, wal.Options{})
	must(t, err)
	defer l.Close()
	ctx := context.Background()
	rs, err := l.Append(ctx, backend.AppendRequest{Queue: "reports", Jobs: []job.Submission{{Payload: []byte(`1`), MaxAttempts: 1}}})
	must(t, err)
	claim, err := l.Claim(ctx, backend.ClaimRequest{Queue: "reports", Max: 100})
	must(t, err)
	longError = "connection refused\nwhile posting to https://hooks.example.com/" + strings.Repeat("x", 100)
	for _, j := range claim.Jobs {
		if j.Ticket != rs[0].Ticket {
			continue
		}
		errs, err := l.Settle(ctx, []backend.Settlement{{Ticket: j.Ticket, Lease: j.Lease, Outcome: backend.Dead, Error: longError}})
		must(t, err)
		must(t, errs[0])
	}
	// Put the others back, so the queue is as dataDir made it.
	var back []backend.Requeue
	for _, j := range claim.Jobs {
		if j.Ticket != rs[0].Ticket {
			back = append(back, backend.Requeue{Ticket: j.Ticket, Lease: j.Lease, Reason: "test"})
		}
	}
	_, err = l.Requeue(ctx, back)
	must(t, err)
	return dir, longError
}

// tableRows returns the rows of a table, without its header.
func tableRows(t *testing.T, out string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "TICKET  QUEUE") {
		t.Fatalf("no table header:\n%s", out)
	}
	return lines[1:]
}

// Ensure that inspect prints every job as a table, one line each with the
// last error cut short, narrows by queue and state, stops at --limit with
// a note, and changes nothing.
func TestInspect(t *testing.T) {
	dir, longError := inspectDir(t)
	path := filepath.Join(dir, wal.FileName)
	before := fileSum(t, path)

	code, out, errOut := runTool(t, nil, "inspect", "--data", dir)
	rows := tableRows(t, out)
	if code != 0 || len(rows) != 41 || errOut != "" {
		t.Fatalf("inspect: exit %d, %d rows\n%s%s", code, len(rows), out, errOut)
	}
	dead := rows[len(rows)-1]
	fields := strings.Fields(dead)
	if fields[0] != "41" || fields[1] != "reports" || fields[2] != "dead" || fields[3] != "1/1" {
		t.Fatalf("row of the dead job: %q", dead)
	}
	if _, err := time.Parse(time.RFC3339, fields[4]); err != nil {
		t.Fatalf("created column %q: %v", fields[4], err)
	}
	if !strings.Contains(dead, "connection refused while posting to") || !strings.HasSuffix(dead, "…") || strings.Contains(dead, longError[40:]) {
		t.Fatalf("the last error is not one cut line: %q", dead)
	}

	for _, c := range []struct {
		args  []string
		rows  int
		check func(fields []string) bool
		note  string
	}{
		{[]string{"--queue", "emails"}, 20, func(f []string) bool { return f[1] == "emails" }, ""},
		{[]string{"--state", "dead"}, 1, func(f []string) bool { return f[2] == "dead" }, ""},
		{[]string{"--queue", "reports", "--state", "queued"}, 20, func(f []string) bool { return f[1] == "reports" && f[2] == "queued" }, ""},
		{[]string{"--limit", "25"}, 25, func([]string) bool { return true }, "showed the first 25 jobs"},
		{[]string{"--limit", "41"}, 41, func([]string) bool { return true }, ""},
		{[]string{"--state", "canceled"}, 0, func([]string) bool { return false }, "no jobs match"},
	} {
		code, out, errOut := runTool(t, nil, append([]string{"inspect", "--data", dir}, c.args...)...)
		rows := tableRows(t, out)
		if code != 0 || len(rows) != c.rows || !strings.Contains(errOut, c.note) || (c.note == "" && errOut != "") {
			t.Fatalf("inspect %q: exit %d, %d rows, want %d\n%s%s", c.args, code, len(rows), c.rows, out, errOut)
		}
		for _, r := range rows {
			if !c.check(strings.Fields(r)) {
				t.Fatalf("inspect %q printed %q", c.args, r)
			}
		}
	}
	if fileSum(t, path) != before {
		t.Fatal("inspect changed the data file")
	}
}

// Ensure that --json prints one object per job with the API's field names.
func TestInspect_JSON(t *testing.T) {
	dir, longError := inspectDir(t)
	code, out, errOut := runTool(t, nil, "inspect", "--data", dir, "--json", "--limit", "0")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != 41 {
		t.Fatalf("inspect --json: exit %d, %d lines\n%s", code, len(lines), errOut)
	}
	var last map[string]any
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i+1, err, l)
		}
		last = m
	}
	if last["ticket"] != "41" || last["queue"] != "reports" || last["state"] != "dead" || last["attempts"] != float64(1) ||
		last["last_error"] != longError || last["payload_bytes"] != float64(1) || last["finished_at"] == nil {
		t.Fatalf("the dead job: %v", last)
	}
}

// Ensure that inspect refuses a held directory, an unknown queue, a
// missing directory and bad arguments.
func TestInspect_Refused(t *testing.T) {
	held := t.TempDir()
	startServe(t, nil, "--addr", "127.0.0.1:0", "--data", held)
	dir := dataDir(t)
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"Held", []string{"--data", held}, 1, held + " is held by a running ticketq: stop it first, or ask the server"},
		{"UnknownQueue", []string{"--data", dir, "--queue", "nope"}, 1, `has no queue "nope" (its queues: emails, reports)`},
		{"Missing", []string{"--data", t.TempDir()}, 1, "is --data the directory 'ticketq serve' was given?"},
		{"BadState", []string{"--data", dir, "--state", "done"}, 2, `unknown state "done"`},
		{"BadQueueName", []string{"--data", dir, "--queue", "a/b"}, 2, "--queue"},
		{"NegativeLimit", []string{"--data", dir, "--limit", "-1"}, 2, "--limit -1"},
		{"ExtraArgument", []string{"--data", dir, "emails"}, 2, `unexpected argument "emails"`},
		{"Help", []string{"--help"}, 0, "Usage: ticketq inspect"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := runTool(t, nil, append([]string{"inspect"}, c.args...)...)
			if code != c.code || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s", code, c.code, c.want, errOut)
			}
		})
	}
}
