package ticketq_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuf collects a process's output while it runs.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Ensure that `ticketq work` runs a pull queue's jobs with an exec command
// against the real server: results come back, a failing command is retried
// with its stderr recorded, and SIGTERM stops the worker cleanly.
func TestWork_EndToEnd(t *testing.T) {
	srv := startServer(t, t.TempDir())
	// The command upper-cases the payload; payloads holding "fail" fail
	// their first attempt.
	script := `in=$(cat); case "$in" in *fail*) [ "$TICKETQ_ATTEMPT" = 1 ] && { echo "first try fails" >&2; exit 3; };; esac; echo "\"$(echo "$in" | tr -d '"' | tr a-z A-Z) $TICKETQ_ATTEMPT\""`
	w := exec.Command(binary(t), "work", "--server", srv.base, "--queue", "pull", "--concurrency", "3",
		"--visibility", "5s", "--wait", "1s", "--log-format", "json", "--exec", script)
	w.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	logs := &syncBuf{}
	w.Stderr = logs
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Wait() }()
	t.Cleanup(func() {
		_ = w.Process.Kill()
	})

	want := map[string]string{}
	for i, p := range []string{"alpha", "beta", "fail-once", "gamma", "delta"} {
		var r jobView
		if status, err := srv.do("POST", "/v1/queues/pull/jobs", fmt.Sprintf(`{"payload": %q, "idempotency_key": "w%d"}`, p, i), &r); err != nil || status != 202 {
			t.Fatalf("submit: %d, %v", status, err)
		}
		want[r.Ticket] = p
	}
	for tk, p := range want {
		var j jobView
		if status, err := srv.do("GET", "/v1/jobs/"+tk+"?wait=30s", "", &j); err != nil || status != 200 {
			t.Fatalf("status: %d, %v", status, err)
		}
		attempt := 1
		if strings.Contains(p, "fail") {
			attempt = 2
			if !strings.Contains(j.LastError, "first try fails") || !strings.Contains(j.LastError, "exit status 3") {
				t.Fatalf("failed attempt's error = %q", j.LastError)
			}
		}
		if wantRes := fmt.Sprintf("%s %d", strings.ToUpper(p), attempt); j.State != "succeeded" || j.Result != wantRes || j.Attempts != attempt {
			t.Fatalf("job %s (%s) = %+v, want result %q\nworker log:\n%s", tk, p, j, wantRes, logs.String())
		}
	}
	if err := w.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("worker exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("worker did not stop within 60s of SIGTERM")
	}
	if !strings.Contains(logs.String(), `"message":"stopped"`) {
		t.Fatalf("worker did not log its stop:\n%s", logs.String())
	}
}
