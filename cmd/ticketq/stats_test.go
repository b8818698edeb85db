package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ticketq/ticketq/client"
	"github.com/ticketq/ticketq/job"
)

// statsServer starts a server with tokens, with 3 queued jobs in
// "emails" and a paused "reports" holding 1, and returns its URL.
func statsServer(t *testing.T) string {
	t.Helper()
	addr, _ := startServe(t, authEnv(), "--addr", "127.0.0.1:0")
	url := "http://" + addr
	ctx := context.Background()
	sub, err := client.New(url, client.Options{Token: submitSecret})
	must(t, err)
	admin, err := client.New(url, client.Options{Token: adminSecret})
	must(t, err)
	_, err = admin.Pause(ctx, "reports")
	must(t, err)
	for q, n := range map[string]int{"emails": 3, "reports": 1} {
		for range n {
			_, err := sub.Submit(ctx, q, client.Submission{Payload: []byte(`1`)})
			must(t, err)
		}
	}
	return url
}

// Ensure that stats prints one row per queue with its counts, the age of
// its oldest due job and its paused flag.
func TestStats(t *testing.T) {
	url := statsServer(t)
	code, out, errOut := runTool(t, map[string]string{"TICKETQ_TOKEN": adminSecret}, "stats", "--server", url)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("stats: exit %d\n%s%s", code, out, errOut)
	}
	if got := strings.Fields(lines[0]); strings.Join(got, " ") != "QUEUE QUEUED RUNNING SUCCEEDED DEAD CANCELED OLDEST QUEUED PAUSED" {
		t.Fatalf("header %q", lines[0])
	}
	for i, want := range []struct {
		queue, queued, paused string
	}{{"emails", "3", "no"}, {"reports", "1", "yes"}} {
		f := strings.Fields(lines[i+1])
		if len(f) != 8 || f[0] != want.queue || f[1] != want.queued || strings.Join(f[2:6], " ") != "0 0 0 0" || f[7] != want.paused {
			t.Fatalf("row %q, want %s with %s queued, paused %s", lines[i+1], want.queue, want.queued, want.paused)
		}
		if _, err := time.ParseDuration(f[6]); err != nil {
			t.Fatalf("age column %q: %v", f[6], err)
		}
	}
}

// Ensure that stats fails with the server's refusal for a missing or
// non-admin token, names an unreachable server, and refuses bad flags.
func TestStats_Errors(t *testing.T) {
	url := statsServer(t)
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"NoToken", []string{"--server", url}, 1, "401 unauthorized"},
		{"SubmitToken", []string{"--server", url, "--token", submitSecret}, 1, "403 forbidden"},
		{"WatchWithWrongToken", []string{"--server", url, "--token", workSecret, "--watch"}, 1, "403 forbidden"},
		{"Unreachable", []string{"--server", "http://127.0.0.1:1"}, 1, "connection refused"},
		{"IntervalWithoutWatch", []string{"--interval", "5s"}, 2, "--interval applies to --watch only"},
		{"IntervalTooShort", []string{"--watch", "--interval", "1ms"}, 2, "want at least 100ms"},
		{"ExtraArgument", []string{"emails"}, 2, `unexpected argument "emails"`},
		{"BadURL", []string{"--server", "ftp://x"}, 2, "scheme must be http or https"},
		{"Help", []string{"--help"}, 0, "Usage: ticketq stats"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := runTool(t, nil, append([]string{"stats"}, c.args...)...)
			if code != c.code || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s", code, c.code, c.want, errOut)
			}
		})
	}
}

// frameCounter collects --watch output and reports each table written.
type frameCounter struct {
	mu     sync.Mutex
	b      strings.Builder
	frames chan struct{}
}

func (f *frameCounter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.b.Write(p)
	for range strings.Count(string(p), "QUEUE ") {
		select {
		case f.frames <- struct{}{}:
		default: // the test has seen enough
		}
	}
	return len(p), nil
}

// Ensure that --watch off a terminal prints a new table each interval,
// and that ending it (Ctrl-C cancels the context) is a clean exit.
func TestStats_Watch(t *testing.T) {
	url := statsServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	out := &frameCounter{frames: make(chan struct{}, 10)}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"stats", "--server", url, "--token", adminSecret, "--watch", "--interval", "100ms"}, nil, out, io.Discard)
	}()
	for i := range 2 {
		select {
		case <-out.frames:
		case err := <-done:
			t.Fatalf("stats --watch ended after %d tables: %v", i, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("no table %d within 30s", i+1)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("stats --watch ended with %v, want a clean exit", err)
	}
	out.mu.Lock()
	text := out.b.String()
	out.mu.Unlock()
	if strings.Contains(text, "\033[") || !strings.Contains(text, "every 100ms, Ctrl-C to stop\nQUEUE") || !strings.Contains(text, "\n\n") {
		t.Fatalf("off a terminal the tables must follow each other, without escape codes:\n%q", text)
	}
}

// Ensure that a frame on a terminal clears the screen and redraws in
// place, and that a failed fetch shows in place of the table.
func TestStats_WriteFrame(t *testing.T) {
	qs := []client.QueueStats{{Queue: "emails", Counts: map[job.State]int{job.Queued: 7}, OldestQueuedAge: 1500 * time.Millisecond}}
	var b strings.Builder
	must(t, writeFrame(&b, true, "head", qs, nil))
	if got := b.String(); !strings.HasPrefix(got, "\033[H\033[2Jhead\nQUEUE") || !strings.Contains(got, "emails  7 ") || !strings.Contains(got, "1.5s") || strings.HasSuffix(got, "\n\n") {
		t.Fatalf("terminal frame %q", got)
	}
	b.Reset()
	must(t, writeFrame(&b, false, "head", nil, errors.New("connection refused")))
	if got := b.String(); got != "head\nerror: connection refused (trying again)\n\n" {
		t.Fatalf("frame of a failed fetch %q", got)
	}
}

// Ensure that Ctrl-C (SIGINT) ends the real binary's --watch with status 0.
func TestStats_WatchInterrupt(t *testing.T) {
	addr, _ := startServe(t, nil, "--addr", "127.0.0.1:0")
	cmd := exec.Command(benchBinary, "stats", "--server", "http://"+addr, "--watch", "--interval", "100ms")
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	exited := make(chan error, 1)
	lines := bufio.NewScanner(stdout)
	sawTable := false
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "no queues yet") {
			sawTable = true
			break
		}
	}
	if !sawTable {
		_ = cmd.Process.Kill()
		t.Fatalf("no table from stats --watch: %v", cmd.Wait())
	}
	go func() {
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	must(t, cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("stats --watch after Ctrl-C: %v, want exit 0", err)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("stats --watch still runs 30s after SIGINT")
	}
}
