package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
	"github.com/ticketq/ticketq/wal"
)

// inspect prints the jobs of a stopped server's data directory, read-only:
// a table, or JSON lines with --json. Queues come in name order, the jobs
// of each in ticket order.
func inspect(args []string, env map[string]string, stdout, stderr io.Writer) error {
	flags := newCmdFlags("ticketq inspect", "Usage: ticketq inspect [--data DIR] [--queue Q] [--state S] [--limit N] [--json]\n\n"+
		"Prints the jobs stored in DIR without changing anything. Stop the server first: it\n"+
		"holds the file exclusively (for a running server, use GET /v1/queues/{queue}/jobs).\n", stderr)
	dir := dataFlag(flags, "data directory to read; the server must be stopped")
	queue := flags.String("queue", "", "only this queue's jobs (default: every queue)")
	flags.doc("queue", "NAME")
	stateName := flags.String("state", "", "only jobs in this state: queued, running, succeeded, dead or canceled")
	flags.doc("state", "STATE")
	limit := flags.Int("limit", 100, "print at most this many jobs; 0 prints all")
	flags.doc("limit", "N")
	asJSON := flags.Bool("json", false, "print one JSON object per job instead of a table")
	flags.doc("json", "")
	pos, err := flags.parse(args, env)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", pos[0])}
	}
	if *limit < 0 {
		return usageError{fmt.Errorf("--limit %d: want 0 (all) or more", *limit)}
	}
	var state job.State
	if *stateName != "" {
		if state, err = job.ParseState(*stateName); err != nil {
			return usageError{fmt.Errorf("--state: %w", err)}
		}
	}
	if *queue != "" {
		if err := job.ValidateQueueName(*queue); err != nil {
			return usageError{fmt.Errorf("--queue: %w", err)}
		}
	}

	r, err := wal.OpenReader(*dir)
	switch {
	case errors.Is(err, wal.ErrInUse):
		return fmt.Errorf("%s is held by a running ticketq: stop it first, or ask the server (GET /v1/queues/{queue}/jobs)", *dir)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w (is --data the directory 'ticketq serve' was given?)", err)
	case err != nil:
		return err
	}
	defer r.Close()
	queues, err := r.Queues()
	if err != nil {
		return err
	}
	if *queue != "" {
		if !slices.Contains(queues, *queue) {
			return fmt.Errorf("%s has no queue %q (its queues: %s)", *dir, *queue, listOrNone(queues))
		}
		queues = []string{*queue}
	}

	var p jobPrinter = newTablePrinter(stdout)
	if *asJSON {
		p = jsonPrinter{json.NewEncoder(stdout)}
	}
	shown, more, err := listJobs(r, queues, state, *limit, p.print)
	if err != nil {
		return err
	}
	if err := p.flush(); err != nil {
		return err
	}
	switch {
	case more:
		fmt.Fprintf(stderr, "inspect: showed the first %d jobs; --limit 0 shows all, --queue and --state narrow them\n", shown)
	case shown == 0:
		fmt.Fprintln(stderr, "inspect: no jobs match")
	}
	return nil
}

// listJobs hands the jobs of queues to print, up to limit (0: all), and
// reports how many it handed and whether more were left.
func listJobs(r *wal.Reader, queues []string, state job.State, limit int, print func(*job.Job) error) (shown int, more bool, err error) {
	for _, q := range queues {
		after := job.Ticket(0)
		for {
			page := 1000
			if limit > 0 {
				page = min(page, limit-shown+1) // one more, to know if there are more
			}
			res, err := r.List(backend.ListRequest{Queue: q, State: state, After: after, Limit: page})
			if err != nil {
				return shown, false, err
			}
			for _, j := range res.Jobs {
				if limit > 0 && shown == limit {
					return shown, true, nil
				}
				if err := print(j); err != nil {
					return shown, false, err
				}
				shown++
			}
			if res.Next == 0 {
				break
			}
			after = res.Next
		}
	}
	return shown, false, nil
}

// jobPrinter prints jobs one at a time.
type jobPrinter interface {
	print(j *job.Job) error
	flush() error
}

// tablePrinter aligns the jobs in columns.
type tablePrinter struct{ tw *tabwriter.Writer }

func newTablePrinter(w io.Writer) *tablePrinter {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TICKET\tQUEUE\tSTATE\tATTEMPTS\tCREATED\tLAST ERROR")
	return &tablePrinter{tw: tw}
}

func (p *tablePrinter) print(j *job.Job) error {
	_, err := fmt.Fprintf(p.tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\n", j.Ticket, j.Queue, j.State, j.Attempt, j.MaxAttempts,
		j.CreatedAt.UTC().Format(time.RFC3339), oneLine(j.LastError, 60))
	return err
}

func (p *tablePrinter) flush() error { return p.tw.Flush() }

// oneLine keeps the first max characters of s on one line, marking a cut.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}

// jsonPrinter writes one JSON object per line.
type jsonPrinter struct{ enc *json.Encoder }

// inspectView is a job as inspect --json prints it: the field names of
// the HTTP API's job listing, with the sizes of the payload and the result
// instead of their bytes, which may be large and are not always JSON.
type inspectView struct {
	Ticket         job.Ticket `json:"ticket"`
	Queue          string     `json:"queue"`
	State          job.State  `json:"state"`
	Attempts       int        `json:"attempts"`
	MaxAttempts    int        `json:"max_attempts"`
	Interrupted    int        `json:"interrupted"`
	Priority       int        `json:"priority"`
	IdempotencyKey string     `json:"idempotency_key,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	RunAt          time.Time  `json:"run_at"`
	StartedAt      time.Time  `json:"started_at,omitzero"`
	FinishedAt     time.Time  `json:"finished_at,omitzero"`
	LeaseExpiresAt time.Time  `json:"lease_expires_at,omitzero"`
	LastError      string     `json:"last_error,omitempty"`
	PayloadBytes   int        `json:"payload_bytes"`
	ResultBytes    int        `json:"result_bytes"`
}

func (p jsonPrinter) print(j *job.Job) error {
	return p.enc.Encode(inspectView{
		Ticket: j.Ticket, Queue: j.Queue, State: j.State, Attempts: j.Attempt, MaxAttempts: j.MaxAttempts,
		Interrupted: j.Interrupted, Priority: j.Priority, IdempotencyKey: j.IdempotencyKey,
		CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, RunAt: j.RunAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt,
		LeaseExpiresAt: j.LeaseExpiresAt, LastError: j.LastError, PayloadBytes: len(j.Payload), ResultBytes: len(j.Result),
	})
}

func (jsonPrinter) flush() error { return nil }

// listOrNone joins names for a message.
func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
