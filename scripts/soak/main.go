// Command soak runs the real ticketq binary under a steady mixed load for a
// given time and fails if the process keeps growing (RSS, goroutines, open
// file descriptors) after warm-up, or if any job whose submit was acked is
// not final at the end. scripts/soak.sh builds the binary and runs it:
//
//	scripts/soak.sh 10m
//	go run ./scripts/soak -bin /tmp/ticketq -duration 90s -csv soak.csv
//
// The load, paced at -rate submits a second: submits to a noop push queue
// and to a pull queue; pull workers that long-poll leases and ack, nack or
// extend-then-ack; delayed submits canceled a second later; long-polls of
// jobs until final; long-poll leases of an empty queue, half of them
// abandoned by the client; and a lease left to expire now and then. Every
// call's outcome is counted; a 5xx, a transport error or any refusal the
// load did not provoke fails the run, while a 409 on a lease-fenced call
// is expected and counted apart.
//
// Exit status: 0 pass, 1 fail, 2 the soak could not run (flags, build,
// server start).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Exit statuses.
const (
	exitPass  = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config is the soak's flags.
type config struct {
	bin      string
	duration time.Duration
	interval time.Duration
	rate     float64
	csvPath  string
	dataDir  string
}

// parseFlags reads the command line.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.bin, "bin", "", "the ticketq binary to run (required; scripts/soak.sh builds it)")
	fs.DurationVar(&c.duration, "duration", 10*time.Minute, "how long the load runs")
	fs.DurationVar(&c.interval, "interval", 5*time.Second, "time between samples of the server process")
	fs.Float64Var(&c.rate, "rate", 300, "submits per second, all kinds together")
	fs.StringVar(&c.csvPath, "csv", "", "write every sample to this CSV file")
	fs.StringVar(&c.dataDir, "data", "", "server data directory (default: a new temporary one, removed after)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	warm := warmup(c.duration)
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	case c.bin == "":
		return c, errors.New("-bin is required: the ticketq binary (go build -o /tmp/ticketq ./cmd/ticketq)")
	case c.interval < 100*time.Millisecond:
		return c, fmt.Errorf("-interval %s: at least 100ms", c.interval)
	case c.rate <= 0:
		return c, fmt.Errorf("-rate %g: must be positive", c.rate)
	case c.duration-warm < minMeasured*c.interval:
		return c, fmt.Errorf("-duration %s: after the %s warm-up it leaves fewer than %d samples at -interval %s; try at least %s",
			c.duration, warm, minMeasured, c.interval, max(warm+minMeasured*c.interval, 90*time.Second))
	}
	return c, nil
}

// run is the whole program; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitPass
	}
	if err != nil {
		fmt.Fprintln(stderr, "soak:", err)
		return exitUsage
	}
	dataDir, cleanup, err := dataDirectory(cfg.dataDir, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "soak:", err)
		return exitUsage
	}
	defer cleanup()
	srv, err := startServer(ctx, cfg.bin, dataDir)
	if err != nil {
		fmt.Fprintln(stderr, "soak:", err)
		return exitUsage
	}
	// Only an early return leaves it running; kill is then the cleanup.
	defer srv.kill()
	fmt.Fprintf(stdout, "soak: server pid %d, api %s, pprof %s, data %s\n", srv.pid, srv.api, srv.pprof, dataDir)
	fmt.Fprintf(stdout, "soak: %s of load at %g submits/s; sampling every %s; the first %s is warm-up\n",
		cfg.duration, cfg.rate, cfg.interval, warmup(cfg.duration))
	r, err := soak(ctx, cfg, srv, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "soak:", err)
		return exitUsage
	}
	if cfg.csvPath != "" {
		if err := writeCSV(cfg.csvPath, r.samples); err != nil {
			r.problems = append(r.problems, err.Error())
		} else {
			fmt.Fprintf(stdout, "soak: %d samples written to %s\n", len(r.samples), cfg.csvPath)
		}
	}
	printSummary(stdout, r)
	if len(r.problems) > 0 {
		return exitFail
	}
	return exitPass
}

// dataDirectory returns the server's data directory: dir itself, kept, or
// a new temporary one that cleanup removes. A temporary directory on tmpfs
// gets a warning: fsync costs nothing there, and the database's pages
// count as shared memory, not as the file-backed RSS the soak watches.
func dataDirectory(dir string, stderr io.Writer) (string, func(), error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", nil, fmt.Errorf("data directory: %w", err)
		}
		return dir, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "ticketq-soak-")
	if err != nil {
		return "", nil, fmt.Errorf("data directory: %w", err)
	}
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) == nil && st.Type == tmpfsMagic {
		fmt.Fprintf(stderr, "soak: warning: %s is on tmpfs; set TMPDIR or -data to a disk for figures worth recording\n", dir)
	}
	return dir, func() { _ = os.RemoveAll(dir) }, nil
}

// tmpfsMagic is TMPFS_MAGIC of statfs(2).
const tmpfsMagic = 0x01021994
