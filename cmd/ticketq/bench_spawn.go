package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// tmpfsMagic is TMPFS_MAGIC of statfs(2): a data directory there lives in
// memory, and fsync on it costs nothing, so a benchmark would measure a
// durability the server does not have.
const tmpfsMagic = 0x01021994

// Timeouts of the spawned processes. They bound waits for a process that
// is broken; a healthy one is far inside them.
const (
	readyTimeout  = 5 * time.Minute  // recovery of a large backlog included
	listenTimeout = 30 * time.Second // the target's "listening" line
	stopTimeout   = 60 * time.Second // SIGTERM to exit, before SIGKILL
)

// proc is a process bench started: a server or the baseline target.
type proc struct {
	name    string // "server" or "target", for messages
	cmd     *exec.Cmd
	addr    string // host:port it listens on
	started time.Time
	exited  chan struct{}
	exitErr error // set before exited is closed
	log     *logTail
}

// url is the base URL of the process's API.
func (p *proc) url() string { return "http://" + p.addr }

// start runs binary with args. onLine sees each line of its stderr.
func start(name, binary string, args []string, onLine func([]byte)) (*proc, error) {
	p := &proc{name: name, exited: make(chan struct{}), log: &logTail{onLine: onLine}}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Stderr = p.log
	// Its own process group: a Ctrl-C at the terminal reaches bench alone,
	// which then ends the load and stops the process in order.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s %s: %w", name, binary, err)
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// failure describes an exit that nobody asked for, with the log's end.
func (p *proc) failure() error {
	if p.exitErr == nil {
		return fmt.Errorf("%s exited with status 0 before it was stopped\n%s", p.name, p.log.String())
	}
	return fmt.Errorf("%s exited: %w\n%s", p.name, p.exitErr, p.log.String())
}

// stop sends SIGTERM and waits for the exit, then SIGKILL if it takes
// longer than stopTimeout. It returns an error if the exit was not clean.
func (p *proc) stop() error {
	select {
	case <-p.exited:
		return p.failure()
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.exitErr != nil {
			return p.failure()
		}
		return nil
	case <-time.After(stopTimeout):
		_ = p.kill()
		return fmt.Errorf("%s did not stop within %s of SIGTERM; killed it", p.name, stopTimeout)
	}
}

// kill sends SIGKILL and waits for the exit.
func (p *proc) kill() error {
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	<-p.exited
	return nil
}

// waitReady polls /readyz every interval until it answers 200 and returns
// how long after the process start that was. Polling is the measurement
// here: it is what a load balancer sees.
func (p *proc) waitReady(ctx context.Context, interval time.Duration) (time.Duration, error) {
	// /readyz is open whatever the server's tokens.
	c, tr, err := newLoadClient(p.url(), clientAccess{}, 2, -1)
	if err != nil {
		return 0, err
	}
	defer tr.CloseIdleConnections()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := c.Ready(pctx)
		cancel()
		if err == nil {
			return time.Since(p.started), nil
		}
		select {
		case <-p.exited:
			if strings.Contains(p.log.String(), "address already in use") {
				return 0, fmt.Errorf("%w: %w", errAddrInUse, p.failure())
			}
			return 0, p.failure()
		case <-ctx.Done():
			return 0, fmt.Errorf("wait for %s to be ready: %w", p.name, ctx.Err())
		case <-deadline.C:
			return 0, fmt.Errorf("%s not ready within %s: %w", p.name, readyTimeout, err)
		case <-tick.C:
		}
	}
}

// errAddrInUse is a server that could not bind the port chosen for it.
var errAddrInUse = errors.New("address already in use")

// startServer starts `ticketq serve` on dataDir without waiting for it to
// be ready. serve logs its address at Info, which --log-level warn hides
// (and must: Info logs every request), so the port is chosen here: a free
// one is taken from the kernel and handed over with --addr. Another
// process may take it in between; then serve exits at once, and waitReady
// says so with errAddrInUse.
func startServer(binary, dataDir string, flags []string) (*proc, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--addr", addr, "--data", dataDir, "--log-level", "warn", "--log-format", "json"}, flags...)
	p, err := start("server", binary, args, nil)
	if err != nil {
		return nil, err
	}
	p.addr = addr
	return p, nil
}

// readyServer starts a server and waits until /readyz answers 200, polling
// every 5 ms; it returns how long after the process start that was. It
// tries another port when the chosen one was taken (serve listens before
// it opens the data, so that attempt touched nothing). onStart, if not nil,
// sees each process as soon as it runs.
func readyServer(ctx context.Context, binary, dataDir string, flags []string, onStart func(*proc)) (*proc, time.Duration, error) {
	for attempt := 1; ; attempt++ {
		p, err := startServer(binary, dataDir, flags)
		if err != nil {
			return nil, 0, err
		}
		if onStart != nil {
			onStart(p)
		}
		took, err := p.waitReady(ctx, 5*time.Millisecond)
		if err == nil {
			return p, took, nil
		}
		_ = p.kill()
		if !errors.Is(err, errAddrInUse) || attempt == 3 {
			return nil, 0, err
		}
	}
}

// freePort returns a loopback address whose port was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	return addr, nil
}

// spawnTarget starts `ticketq bench-target` and learns its address from
// its "listening" line, as an operator would from serve's.
func spawnTarget(ctx context.Context, binary string) (*proc, error) {
	addrs := make(chan string, 1)
	p, err := start("target", binary, []string{"bench-target", "--addr", "127.0.0.1:0"}, func(line []byte) {
		var rec struct {
			Message string `json:"message"`
			Addr    string `json:"addr"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Message == "listening" && rec.Addr != "" {
			select {
			case addrs <- rec.Addr:
			default:
			}
		}
	})
	if err != nil {
		return nil, err
	}
	select {
	case p.addr = <-addrs:
		return p, nil
	case <-p.exited:
		return nil, p.failure()
	case <-ctx.Done():
		_ = p.kill()
		return nil, fmt.Errorf("wait for the target: %w", ctx.Err())
	case <-time.After(listenTimeout):
		_ = p.kill()
		return nil, fmt.Errorf("target printed no listening line within %s\n%s", listenTimeout, p.log.String())
	}
}

// makeDataDir creates a fresh data directory under dir, refusing tmpfs.
func makeDataDir(dir string) (string, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "", fmt.Errorf("--spawn-dir %s: %w", dir, err)
	}
	if int64(st.Type) == tmpfsMagic {
		return "", fmt.Errorf("--spawn-dir %s is on tmpfs, which keeps files in memory: fsync there costs nothing, so the figures would not be those of a disk; choose a directory on disk", dir)
	}
	d, err := os.MkdirTemp(dir, "ticketq-bench-")
	if err != nil {
		return "", fmt.Errorf("create data directory: %w", err)
	}
	if abs, err := filepath.Abs(d); err == nil {
		d = abs
	}
	return d, nil
}

// procStatus reads a memory figure (VmRSS, VmHWM) of a process from
// /proc/PID/status, in bytes; 0 where there is no /proc.
func procStatus(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// logTail keeps the last lines a process wrote to stderr, for error
// messages, and shows each line to onLine.
type logTail struct {
	onLine func([]byte)
	mu     sync.Mutex
	buf    []byte   // an incomplete last line
	lines  [][]byte // the last maxTail lines
}

const maxTail = 20

func (t *logTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	for {
		i := bytes.IndexByte(t.buf, '\n')
		if i < 0 {
			if len(t.buf) > 64<<10 {
				t.buf = t.buf[:0] // a runaway line: drop it
			}
			return len(p), nil
		}
		line := bytes.Clone(t.buf[:i])
		t.buf = t.buf[i+1:]
		if t.onLine != nil {
			t.onLine(line)
		}
		if t.lines = append(t.lines, line); len(t.lines) > maxTail {
			t.lines = t.lines[1:]
		}
	}
}

func (t *logTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	for _, l := range t.lines {
		b.Write(l)
		b.WriteByte('\n')
	}
	return b.String()
}
