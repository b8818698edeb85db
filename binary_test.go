package ticketq_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/ticketq once per test run and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ticketq-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "ticketq")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./cmd/ticketq")...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is one running `ticketq serve`.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:PORT
	ready  chan struct{}
	exited chan struct{}
	exit   error

	mu        sync.Mutex
	log       bytes.Buffer
	grew      chan struct{} // closed and replaced at each line logged
	recovered int
}

// startServer starts the binary on a free loopback port with the given data
// directory and extra flags, and waits until it reports ready (recovery done).
func startServer(t *testing.T, data string, args ...string) *proc {
	t.Helper()
	return startServerEnv(t, data, nil, args...)
}

// startServerEnv is startServer with env (NAME=value) added to the
// server's otherwise clean environment.
func startServerEnv(t *testing.T, data string, env []string, args ...string) *proc {
	t.Helper()
	p := launchEnv(t, data, env, args...)
	select {
	case <-p.ready:
		return p
	case <-p.exited:
		t.Fatalf("server exited before ready: %v\n%s", p.exit, p.logs())
	case <-time.After(60 * time.Second):
		p.kill()
		t.Fatalf("server not ready within 60s\n%s", p.logs())
	}
	return nil
}

// launch starts the binary without waiting for it to be ready.
func launch(t *testing.T, data string, args ...string) *proc {
	t.Helper()
	return launchEnv(t, data, nil, args...)
}

// launchEnv is launch with env added to the server's environment.
func launchEnv(t *testing.T, data string, env []string, args ...string) *proc {
	t.Helper()
	full := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data, "--log-format", "json"}, args...)
	cmd := exec.Command(binary(t), full...)
	// A clean environment: nothing from the developer's shell leaks in.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, ready: make(chan struct{}), exited: make(chan struct{}), grew: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		p.scan(stderr)
	}()
	go func() {
		<-scanned
		p.exit = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.kill()
		}
	})
	return p
}

// scan keeps the log and picks the address and readiness out of it.
func (p *proc) scan(r io.Reader) {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		line := s.Bytes()
		p.mu.Lock()
		p.log.Write(line)
		p.log.WriteByte('\n')
		close(p.grew)
		p.grew = make(chan struct{})
		p.mu.Unlock()
		var rec struct {
			Message   string `json:"message"`
			Addr      string `json:"addr"`
			Recovered int    `json:"recovered"`
		}
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		switch rec.Message {
		case "listening":
			p.base = "http://" + rec.Addr
		case "ready":
			p.mu.Lock()
			p.recovered = rec.Recovered
			p.mu.Unlock()
			close(p.ready)
		}
	}
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// awaitLog waits until the server has logged a line containing s.
func (p *proc) awaitLog(s string) {
	p.t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		found, grew := strings.Contains(p.log.String(), s), p.grew
		p.mu.Unlock()
		if found {
			return
		}
		select {
		case <-grew:
		case <-p.exited:
			p.t.Fatalf("server exited before logging %q: %v\n%s", s, p.exit, tail(p.logs(), 3000))
		case <-deadline.C:
			p.t.Fatalf("no %q in the log within 30s:\n%s", s, tail(p.logs(), 3000))
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// stop sends SIGTERM and returns the exit error once the process is gone.
func (p *proc) stop(timeout time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.exit
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("did not exit within %s after SIGTERM", timeout)
	}
}

// do sends a request to the server and decodes a JSON answer into out.
func (p *proc) do(method, path, body string, out any) (int, error) {
	return doJSON(http.DefaultClient, method, p.base+path, body, out)
}

func doJSON(c *http.Client, method, url, body string, out any) (int, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %w", b, err)
		}
	}
	return resp.StatusCode, nil
}
