package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/ticketq/ticketq/job"
)

// status prints a job as the server reports it; with --wait it long-polls
// until the job is final or the wait passes.
func status(ctx context.Context, args []string, env map[string]string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ticketq status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := serverFlag(fs, env)
	wait := fs.Duration("wait", 0, "wait up to this long for the job to be final (server maximum applies)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: ticketq status [flags] TICKET\n\n")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if len(pos) != 1 {
		return usageError{errors.New("want exactly one TICKET")}
	}
	if _, err := job.ParseTicket(pos[0]); err != nil {
		return usageError{err}
	}
	u := strings.TrimRight(*server, "/") + "/v1/jobs/" + pos[0]
	if *wait > 0 {
		u += "?wait=" + url.QueryEscape(wait.String())
	}
	out, err := call(ctx, "GET", u, nil, *wait+30*time.Second)
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}
