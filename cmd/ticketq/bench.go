package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/job"
)

// benchConfig is everything `ticketq bench` can be told.
type benchConfig struct {
	mode        string // submit, batch, e2e or recovery
	server      string
	access      clientAccess // --token and --ca
	spawn       bool
	binary      string
	spawnDir    string
	serverFlags []string
	keep        bool
	queue       string
	concurrency int
	duration    time.Duration
	count       int64
	payload     int
	batch       int
	batchSet    bool // --batch given (e2e submits single jobs unless it is)
	rate        float64
	pull        int
	drain       time.Duration
	baseline    bool
	json        bool
	command     string // the command line, quoted, for the report
}

// Defaults of --count in recovery mode and of its fill's batches.
const (
	defaultRecoveryCount = 100000
	recoveryBatch        = 1000
)

const benchUsage = `Usage: ticketq bench [flags]

Load-tests ticketq through its Go client and prints throughput, latency
percentiles and errors by code. Modes:

  submit    single-job submits (the default)
  batch     --batch jobs per request; throughput counts jobs
  e2e       submit, and follow jobs until they succeed: against a queue with
            the no-op executor, or with --pull W, a pull queue worked by
            client Workers in this process; samples the backlog every second
  recovery  fill --count unfinished jobs, SIGKILL the server, restart it with
            the queue set to no-op, and time ready, first run and drain
            (needs --spawn)

--baseline first runs the same load against a trivial HTTP handler in this
binary (bench-target: reads the body, answers 202, stores nothing) and
reports which share of that ceiling ticketq reached.
`

// parseBenchConfig reads the flags; TICKETQ_SERVER is --server's default.
func parseBenchConfig(args []string, env map[string]string, stderr io.Writer) (*benchConfig, error) {
	c := &benchConfig{}
	fs := newCmdFlags("ticketq bench", benchUsage, stderr)
	fs.StringVar(&c.mode, "mode", "submit", "submit, batch, e2e or recovery")
	fs.doc("mode", "MODE")
	server := serverFlag(fs)
	access := addAccessFlags(fs)
	fs.BoolVar(&c.spawn, "spawn", false, "start 'ticketq serve' on 127.0.0.1 with a fresh data directory, and stop it at the end")
	fs.doc("spawn", "")
	fs.StringVar(&c.binary, "binary", "", "the ticketq binary that --spawn and --baseline start (default: this one)")
	fs.doc("binary", "FILE")
	fs.StringVar(&c.spawnDir, "spawn-dir", ".", "where --spawn creates its data directory (not tmpfs: fsync there costs nothing)")
	fs.doc("spawn-dir", "DIR")
	fs.Func("server-flag", "a flag for the spawned server, e.g. --server-flag=--workers=16 (repeatable)", func(s string) error {
		c.serverFlags = append(c.serverFlags, s)
		return nil
	})
	fs.doc("server-flag", "FLAG")
	fs.BoolVar(&c.keep, "keep", false, "keep the spawned server's data directory")
	fs.doc("keep", "")
	fs.StringVar(&c.queue, "queue", "bench", "queue to submit to")
	fs.doc("queue", "NAME")
	fs.IntVar(&c.concurrency, "concurrency", 64, "concurrent clients, each with one request in flight")
	fs.doc("concurrency", "N")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to submit (0: until --count)")
	fs.doc("duration", "DURATION")
	fs.Int64Var(&c.count, "count", 0, fmt.Sprintf("stop after this many acked jobs (recovery: jobs to fill, %d when 0)", defaultRecoveryCount))
	fs.doc("count", "N")
	fs.IntVar(&c.payload, "payload", 200, "payload size in bytes (a JSON string of that total size)")
	fs.doc("payload", "BYTES")
	fs.Float64Var(&c.rate, "rate", 0, "offer at most this many jobs per second in all (0: as fast as the server answers); e2e at a fixed load")
	fs.doc("rate", "PER_SECOND")
	fs.IntVar(&c.batch, "batch", 100, "jobs per request in batch mode, and in e2e mode when given")
	fs.doc("batch", "N")
	fs.IntVar(&c.pull, "pull", 0, "e2e: work a pull queue with client Workers of this total concurrency instead of the no-op executor")
	fs.doc("pull", "N")
	fs.DurationVar(&c.drain, "drain", 5*time.Minute, "e2e and recovery: how long to wait for every job to succeed")
	fs.doc("drain", "DURATION")
	fs.BoolVar(&c.baseline, "baseline", false, "first measure the HTTP ceiling with the same load against bench-target")
	fs.doc("baseline", "")
	fs.BoolVar(&c.json, "json", false, "print one JSON object with every figure instead of text")
	fs.doc("json", "")
	pos, err := fs.parse(args, env)
	if err != nil {
		return nil, err
	}
	set := fs.given // a --server from TICKETQ_SERVER does not clash with --spawn
	c.batchSet = set["batch"]
	c.server = *server
	if c.access, err = access.resolve(); err != nil {
		return nil, usageError{err}
	}
	c.command = strings.TrimSpace("ticketq bench " + shellJoin(args))
	if c.mode == "recovery" && !set["count"] {
		c.count = defaultRecoveryCount
	}
	if c.binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find this binary for --binary: %w", err)
		}
		c.binary = exe
	}
	if err := c.validate(pos, set); err != nil {
		return nil, usageError{err}
	}
	return c, nil
}

func (c *benchConfig) validate(rest []string, set map[string]bool) error {
	switch {
	case len(rest) > 0:
		return fmt.Errorf("unexpected argument %q", rest[0])
	case !slices.Contains([]string{"submit", "batch", "e2e", "recovery"}, c.mode):
		return fmt.Errorf("--mode %q: want submit, batch, e2e or recovery", c.mode)
	case c.concurrency < 1:
		return fmt.Errorf("--concurrency %d: want at least 1", c.concurrency)
	case c.payload < 2:
		return fmt.Errorf("--payload %d: want at least 2 (the quotes of the JSON string)", c.payload)
	case c.rate < 0:
		return fmt.Errorf("--rate %v: want 0 (no cap) or more", c.rate)
	case c.batch < 1 || c.batch > ticketq.MaxBatch:
		return fmt.Errorf("--batch %d: want 1..%d", c.batch, ticketq.MaxBatch)
	case c.count < 0 || c.duration < 0 || c.pull < 0 || c.drain <= 0:
		return errors.New("--count, --duration and --pull must not be negative, and --drain must be positive")
	case c.duration == 0 && c.count == 0 && c.mode != "recovery":
		return errors.New("--duration 0 needs a --count")
	case set["batch"] && c.mode != "batch" && c.mode != "e2e":
		return fmt.Errorf("--batch applies to --mode batch and e2e, not %s", c.mode)
	case c.pull > 0 && c.mode != "e2e":
		return fmt.Errorf("--pull applies to --mode e2e, not %s", c.mode)
	case c.mode == "recovery" && !c.spawn:
		return errors.New("--mode recovery kills and restarts the server, so it needs --spawn")
	case c.mode == "recovery" && (c.baseline || c.count == 0):
		return errors.New("--mode recovery takes no --baseline and needs a --count above 0")
	case c.spawn && set["server"]:
		return errors.New("--server and --spawn exclude each other: --spawn starts its own server")
	case !c.spawn && (len(c.serverFlags) > 0 || c.keep):
		return errors.New("--server-flag and --keep apply to --spawn")
	}
	return job.ValidateQueueName(c.queue)
}

// loadSpec is the load of the configured mode against server.
func (c *benchConfig) loadSpec(server, label string) loadSpec {
	s := loadSpec{
		label: label, server: server, access: c.access, queue: c.queue, concurrency: c.concurrency,
		batch: 1, single: true, payload: benchPayload(c.payload), duration: c.duration, count: c.count,
		rate: c.rate,
	}
	if c.mode == "batch" || (c.mode == "e2e" && c.batchSet) {
		s.batch, s.single = c.batch, false
	}
	return s
}

// bench is `ticketq bench`: it runs the configured mode, prints the report
// and fails when nothing was acked or more than 1% of the requests failed.
func bench(ctx context.Context, args []string, env map[string]string, stdout, stderr io.Writer) error {
	c, err := parseBenchConfig(args, env, stderr)
	if err != nil {
		return err
	}
	// An interrupt ends the load early; the report of what ran so far is
	// still printed and the spawned processes are stopped in order.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep := newBenchReport(c)
	if c.mode == "recovery" {
		err = runRecovery(ctx, c, rep, stderr)
	} else {
		err = runBench(ctx, c, rep, stderr)
	}
	if err == nil {
		err = rep.verdict()
	}
	if err == nil && ctx.Err() != nil {
		err = errors.New("interrupted: the figures cover the run until the signal")
	}
	rep.OK = err == nil
	if err != nil {
		rep.Failure = err.Error()
	}
	if perr := printReport(stdout, c, rep); perr != nil && err == nil {
		err = perr
	}
	return err
}

// runBench runs submit, batch and e2e: the baseline if asked, then the load
// against the given or the spawned server.
func runBench(ctx context.Context, c *benchConfig, rep *benchReport, stderr io.Writer) (err error) {
	if c.baseline {
		if rep.Baseline, err = runBaseline(ctx, c, stderr); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted after the baseline: %w", err)
		}
	}
	server := c.server
	var p *proc
	if c.spawn {
		var flags []string
		if c.mode == "e2e" && c.pull == 0 {
			flags = []string{"--queue", c.queue + ":noop=true"}
		}
		var cleanup func()
		if p, cleanup, err = spawnFor(ctx, c, rep, flags); err != nil {
			return err
		}
		defer cleanup()
		server = p.url()
	}
	rep.Server = server
	if c.mode == "e2e" {
		err = runE2E(ctx, c, server, rep, stderr)
	} else {
		var res *loadResult
		if res, err = runLoad(ctx, c.loadSpec(server, ""), stderr); err == nil {
			rep.loadReport = res.report()
		}
	}
	if p != nil {
		rep.ServerRSSPeak = procStatus(p.cmd.Process.Pid, "VmHWM")
	}
	if b := rep.Baseline; b != nil && b.RequestsPerS > 0 {
		b.Ratio = rep.RequestsPerS / b.RequestsPerS
	}
	return err
}

// spawnFor makes a data directory and starts a ready server on it with the
// configured flags and extra ones. cleanup stops the server (an unclean
// exit goes into the report) and removes the directory unless --keep.
func spawnFor(ctx context.Context, c *benchConfig, rep *benchReport, extra []string) (*proc, func(), error) {
	dir, err := makeDataDir(c.spawnDir)
	if err != nil {
		return nil, nil, err
	}
	remove := func() {
		if c.keep {
			rep.KeptDataDir = dir
			return
		}
		_ = os.RemoveAll(dir)
	}
	flags := append(slices.Clone(c.serverFlags), extra...)
	p, _, err := readyServer(ctx, c.binary, dir, flags, nil)
	if err != nil {
		remove()
		return nil, nil, err
	}
	rep.Spawned = &spawnReport{Binary: c.binary, DataDir: dir, Flags: flags, Addr: p.addr}
	return p, func() {
		if err := p.stop(); err != nil {
			rep.ServerExit = err.Error()
		}
		remove()
	}, nil
}

// runBaseline runs the configured load against a spawned bench-target.
func runBaseline(ctx context.Context, c *benchConfig, stderr io.Writer) (*baselineReport, error) {
	p, err := spawnTarget(ctx, c.binary)
	if err != nil {
		return nil, err
	}
	res, err := runLoad(ctx, c.loadSpec(p.url(), "baseline"), stderr)
	rss := procStatus(p.cmd.Process.Pid, "VmHWM")
	if serr := p.stop(); serr != nil && err == nil {
		err = fmt.Errorf("baseline: %w", serr)
	}
	if err != nil {
		return nil, err
	}
	return &baselineReport{loadReport: res.report(), Target: p.addr, RSSPeak: rss}, nil
}

// shellJoin quotes args as a POSIX shell would need them.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=.,:/@%+") == "" {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}
