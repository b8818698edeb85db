package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// unitless are the names the log used for durations before they carried
// their unit; none may come back.
var unitless = []string{"duration", "took", "elapsed", "grace", "recovery_took", "backoff", "hard_stop"}

// checkDurationFields fails on a line with a unitless duration field or an
// _ms field that is not a number.
func checkDurationFields(t *testing.T, lines []map[string]any) {
	t.Helper()
	for _, m := range lines {
		for _, k := range unitless {
			if _, ok := m[k]; ok {
				t.Errorf("line %v has the unitless field %q", m, k)
			}
		}
		for k, v := range m {
			if _, isNum := v.(float64); strings.HasSuffix(k, "_ms") && !isNum {
				t.Errorf("line %v: %s = %v is not a number", m, k, v)
			}
		}
	}
}

// lineWith returns the first line whose message is msg, or nil.
func lineWith(l *serveLog, msg string) map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.lines {
		if m["message"] == msg {
			return m
		}
	}
	return nil
}

// Ensure that every duration the server logs is a number of milliseconds
// in a field named *_ms: a request's, the grace period's at a shutdown that
// cuts a run short, and the recovery's at the next start.
func TestLog_DurationsInMilliseconds(t *testing.T) {
	dir := t.TempDir()
	serveOnce := func(args ...string) (addr string, log *serveLog, stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		log = &serveLog{changed: make(chan struct{}, 1)}
		done := make(chan error, 1)
		args = append([]string{"serve", "--data", dir, "--addr", "127.0.0.1:0", "--log-format", "json", "--grace", "1s"}, args...)
		go func() { done <- run(ctx, args, nil, io.Discard, log) }()
		stopped := false
		stop = func() {
			if stopped {
				return
			}
			stopped = true
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("serve: %v", err)
			}
		}
		t.Cleanup(stop)
		line := log.await(t, done, "listening line", func(m map[string]any) bool { return m["message"] == "listening" })
		_, port, err := net.SplitHostPort(line["addr"].(string))
		must(t, err)
		log.await(t, done, "ready line", func(m map[string]any) bool { return m["message"] == "ready" })
		return "http://127.0.0.1:" + port, log, stop
	}

	// The command says it started through a FIFO, so that the shutdown
	// surely has a run to cut short.
	fifo := filepath.Join(t.TempDir(), "started")
	must(t, syscall.Mkfifo(fifo, 0o600))
	base, first, stop := serveOnce("--queue", "slow:exec=echo >"+fifo+"; exec sleep 60")
	if code, err := postJSON(base+"/v1/queues/slow/jobs", `{"payload": 1}`, &struct{}{}); err != nil || code != http.StatusAccepted {
		t.Fatalf("submit: %d, %v", code, err)
	}
	started := make(chan error, 1)
	go func() {
		_, err := os.ReadFile(fifo) // returns once the command has written and closed it
		started <- err
	}()
	select {
	case err := <-started:
		must(t, err)
	case <-time.After(time.Minute):
		t.Fatal("the job's command did not start within a minute")
	}
	stop()

	_, second, stop2 := serveOnce()
	stop2()

	req := lineWith(first, "request")
	if req == nil || req["duration_ms"] == nil {
		t.Fatalf("request line = %v, want a duration_ms", req)
	}
	if g := lineWith(first, "grace period over; canceling runs, their jobs will be replayed at next start"); g == nil || g["grace_ms"] != float64(1000) {
		t.Errorf("grace line = %v, want grace_ms 1000", g)
	}
	if rec := lineWith(second, "recovery done"); rec == nil || rec["recovered"] != float64(1) || rec["took_ms"] == nil {
		t.Errorf("recovery line = %v, want 1 recovered and took_ms", rec)
	}
	if ready := lineWith(second, "ready"); ready == nil || ready["recovery_took_ms"] == nil {
		t.Errorf("ready line = %v, want recovery_took_ms", ready)
	}
	first.mu.Lock()
	second.mu.Lock()
	checkDurationFields(t, append(append([]map[string]any(nil), first.lines...), second.lines...))
	second.mu.Unlock()
	first.mu.Unlock()
}

// Ensure that the durations a pull worker logs through slog (here the
// backoff after a failed lease) are milliseconds in *_ms fields too.
func TestLog_WorkerDurationsInMilliseconds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	log := &serveLog{changed: make(chan struct{}, 1)}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"work", "--server", "http://127.0.0.1:1", "--queue", "q", "--exec", "cat", "--log-format", "json"}, nil, io.Discard, log)
	}()
	line := log.await(t, done, "lease failure line", func(m map[string]any) bool { return m["message"] == "lease failed; backing off" })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("work: %v", err)
	}
	if v, ok := line["backoff_ms"].(float64); !ok || v <= 0 {
		t.Errorf("line = %v, want a positive backoff_ms", line)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	checkDurationFields(t, log.lines)
}
