package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Timeouts of the server process. They bound waits for a broken process;
// a healthy one is far inside them.
const (
	readyTimeout = time.Minute
	// stopTimeout is the SIGTERM deadline: the server's default --grace
	// (30 s) for running jobs, plus its own shutdown. With the queues
	// drained nothing is running, so a clean stop takes well under a
	// second.
	stopTimeout = 45 * time.Second
	tailLines   = 40
)

// server is a running `ticketq serve`.
type server struct {
	cmd   *exec.Cmd
	pid   int
	api   string // base URL of the API
	pprof string // host:port of the profiler

	ready   chan struct{} // closed at the "ready" line
	exited  chan struct{} // closed when the process has exited
	exitErr error         // set before exited is closed

	mu      sync.Mutex
	log     serverLog
	isReady bool
}

// serverLog is what the soak keeps of the server's log: counts, the first
// warnings and errors, and the last lines for a crash report.
type serverLog struct {
	lines    int
	warns    problem // level warn, except the profiler's expected notice
	errs     problem // level error or worse
	status5x int     // request lines with a 5xx status
	tail     []string
}

// startServer runs the binary on dataDir with the soak's queue and waits
// until it logs "ready".
func startServer(ctx context.Context, bin, dataDir string) (*server, error) {
	args := []string{"serve", "--addr", "127.0.0.1:0", "--data", dataDir, "--log-format", "json",
		"--pprof", "127.0.0.1:0", "--queue", pushQueue + ":noop=true"}
	s := &server{cmd: exec.Command(bin, args...), ready: make(chan struct{}), exited: make(chan struct{})}
	s.cmd.Env = cleanEnv()
	// Its own process group: a Ctrl-C at the terminal reaches the soak
	// alone, which then stops the load and the server in order.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server %s: %w", bin, err)
	}
	s.pid = s.cmd.Process.Pid
	scanned := make(chan struct{})
	go func() { defer close(scanned); s.scan(stderr) }()
	go func() {
		// Wait closes the pipe, so the log is read to its end first.
		<-scanned
		s.exitErr = s.cmd.Wait()
		close(s.exited)
	}()
	select {
	case <-s.ready:
	case <-s.exited:
		return nil, fmt.Errorf("server exited before it was ready (%v):\n%s", s.exitErr, s.tail())
	case <-time.After(readyTimeout):
		s.kill()
		return nil, fmt.Errorf("server not ready within %s:\n%s", readyTimeout, s.tail())
	case <-ctx.Done():
		s.kill()
		return nil, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.api == "" || s.pprof == "" {
		s.kill()
		return nil, fmt.Errorf("server ready without logging its addresses (api %q, pprof %q)", s.api, s.pprof)
	}
	return s, nil
}

// cleanEnv is the soak's environment without TICKETQ_* variables, so that
// nothing from the developer's shell changes the server's settings.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TICKETQ_") {
			env = append(env, kv)
		}
	}
	return env
}

// logLine is the part of a JSON log line the soak reads.
type logLine struct {
	Level   string `json:"level"`
	Message string `json:"message"`
	Addr    string `json:"addr"`
	Status  int    `json:"status"`
}

// scan reads the server's log to its end: the addresses and readiness,
// then counts. Every request is logged at info, so this is the busiest
// reader of the soak; it keeps no more than the tail.
func (s *server) scan(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l logLine
		text := sc.Text()
		_ = json.Unmarshal(sc.Bytes(), &l)
		s.mu.Lock()
		s.log.lines++
		s.log.tail = append(s.log.tail, text)
		if len(s.log.tail) > tailLines {
			s.log.tail = s.log.tail[1:]
		}
		switch {
		case l.Message == "listening":
			s.api = "http://" + l.Addr
		case l.Message == "profiler listening (--pprof)":
			s.pprof = l.Addr
		case l.Message == "ready" && !s.isReady:
			s.isReady = true
			close(s.ready)
		case l.Level == "warn":
			s.log.warns.add("%s", text)
		case l.Level == "error" || l.Level == "fatal" || l.Level == "panic":
			s.log.errs.add("%s", text)
		}
		if l.Status >= 500 {
			s.log.status5x++
		}
		s.mu.Unlock()
	}
	// A line longer than the buffer ends the scan; the rest is drained so
	// that the server never blocks on a full pipe.
	_, _ = io.Copy(io.Discard, r)
}

// tail returns the last lines of the log.
func (s *server) tail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.log.tail, "\n")
}

// logSummary returns a copy of the log's counts.
func (s *server) logSummary() serverLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.log
	l.tail = nil
	return l
}

// alive reports whether the process still runs.
func (s *server) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and waits for the exit, up to stopTimeout, then
// SIGKILLs. It returns how long the exit took and an error unless the
// process exited with status 0 in time.
func (s *server) stop() (time.Duration, error) {
	if !s.alive() {
		return 0, fmt.Errorf("server had already exited (%v):\n%s", s.exitErr, s.tail())
	}
	start := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, fmt.Errorf("signal server: %w", err)
	}
	select {
	case <-s.exited:
		took := time.Since(start)
		if s.exitErr != nil {
			return took, fmt.Errorf("server exited after SIGTERM with %v:\n%s", s.exitErr, s.tail())
		}
		return took, nil
	case <-time.After(stopTimeout):
		s.kill()
		return time.Since(start), fmt.Errorf("server did not exit within %s of SIGTERM; killed it", stopTimeout)
	}
}

// kill ends the process with SIGKILL and waits for it, when it still runs.
func (s *server) kill() {
	if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return
	}
	<-s.exited
}
