package ticketq_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// fifo makes a named pipe: opening it blocks until the other end opens, so a
// job's shell command and the test can wait on each other without sleeping.
func fifo(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// awaitStarted blocks until the job's command writes to the started fifo.
func awaitStarted(t *testing.T, path string) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		b, err := os.ReadFile(path)
		if err == nil && len(b) == 0 {
			err = fmt.Errorf("empty start signal")
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("job did not start within 60s")
	}
}

type jobView struct {
	Ticket      string `json:"ticket"`
	State       string `json:"state"`
	Attempts    int    `json:"attempts"`
	Interrupted int    `json:"interrupted"`
	Result      any    `json:"result"`
	LastError   string `json:"last_error"`
}

// Ensure that SIGTERM stops taking requests (503) but lets a running job
// finish within the grace period, records it, and exits 0.
func TestServe_GracefulShutdown(t *testing.T) {
	started, release := fifo(t, "started"), fifo(t, "release")
	data := t.TempDir()
	cmd := fmt.Sprintf(`echo up > %s; cat %s > /dev/null; echo '"finished"'`, started, release)
	p := startServer(t, data, "--exec", cmd, "--grace", "60s")
	var sub jobView
	if status, err := p.do("POST", "/v1/queues/work/jobs", `{"payload":{}}`, &sub); err != nil || status != 202 {
		t.Fatalf("submit: %d, %v", status, err)
	}
	awaitStarted(t, started)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// While the job runs, the server is draining: not ready, no new work.
	waitStatus(t, p, "/readyz", 503)
	if status, _ := p.do("POST", "/v1/queues/work/jobs", `{"payload":{}}`, nil); status != 503 {
		t.Fatalf("submit while draining answered %d, want 503", status)
	}
	if err := os.WriteFile(release, []byte("go"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		t.Fatal("server did not exit after the job finished")
	}
	if p.exit != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", p.exit, p.logs())
	}
	q := startServer(t, data)
	var j jobView
	if status, err := q.do("GET", "/v1/jobs/"+sub.Ticket, "", &j); err != nil || status != 200 {
		t.Fatalf("status: %d, %v", status, err)
	}
	if j.State != "succeeded" || j.Result != "finished" || q.recovered != 0 {
		t.Fatalf("after graceful stop: %+v, recovered %d", j, q.recovered)
	}
}

// blockedJob starts a server whose exec job blocks on its first attempt
// (until killed) and finishes at once when replayed, submits one job and
// waits until it runs. It returns the server, its data directory, the
// executor command and the ticket.
func blockedJob(t *testing.T, grace string) (p *proc, data, cmd, ticket string) {
	t.Helper()
	started := fifo(t, "started")
	data = t.TempDir()
	cmd = fmt.Sprintf(`if [ "$TICKETQ_ATTEMPT" = 1 ]; then echo up > %s; exec sleep 600; fi; echo '"replayed"'`, started)
	p = startServer(t, data, "--exec", cmd, "--grace", grace)
	var sub jobView
	if status, err := p.do("POST", "/v1/queues/work/jobs", `{"payload":{}}`, &sub); err != nil || status != 202 {
		t.Fatalf("submit: %d, %v", status, err)
	}
	awaitStarted(t, started)
	return p, data, cmd, sub.Ticket
}

// expectReplayed starts the server again and checks that the interrupted
// job was recovered and then succeeded on its second run.
func expectReplayed(t *testing.T, data, cmd, ticket string) {
	t.Helper()
	q := startServer(t, data, "--exec", cmd)
	var j jobView
	if status, err := q.do("GET", "/v1/jobs/"+ticket+"?wait=30s", "", &j); err != nil || status != 200 {
		t.Fatalf("status: %d, %v", status, err)
	}
	if q.recovered != 1 || j.State != "succeeded" || j.Result != "replayed" || j.Attempts != 2 || j.Interrupted != 1 {
		t.Fatalf("replay: recovered %d, job %+v\n%s", q.recovered, j, q.logs())
	}
}

// Ensure that a job still running when the grace period ends is killed, not
// recorded, and replayed by the next start, which says so.
func TestServe_GraceExpires(t *testing.T) {
	p, data, cmd, ticket := blockedJob(t, "200ms")
	if err := p.stop(60 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.logs())
	}
	expectReplayed(t, data, cmd, ticket)
}

// Ensure that a second SIGTERM during the grace period stops the server at
// once, and the interrupted job is replayed at the next start.
func TestServe_SecondSignal(t *testing.T) {
	p, data, cmd, ticket := blockedJob(t, "10m")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, p, "/readyz", 503) // the first signal was taken: draining
	err := p.stop(30 * time.Second)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Fatalf("second SIGTERM: exit %v, want death by SIGTERM\n%s", err, p.logs())
	}
	expectReplayed(t, data, cmd, ticket)
}

// waitStatus polls a cheap endpoint until it answers want: the server's
// drain is asynchronous to the signal and has no other observable event.
func waitStatus(t *testing.T, p *proc, path string, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, _ := p.do("GET", path, "", nil)
		if status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s answered %d, want %d", path, status, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
