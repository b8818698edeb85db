package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Ensure that a cancel kills the whole process group at once, grandchildren
// included, and that the error wraps the cancel's cause.
func TestExec_Cancel(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pid")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// A WaitDelay far beyond the deadline below: only the group kill can
	// make the handler return in time, since the grandchild holds the pipes.
	h := Exec(`sleep 300 & echo $! > "$PID_FIFO"; sleep 300`,
		ExecOptions{Env: []string{"PID_FIFO=" + fifo}, WaitDelay: time.Hour})
	errStop := errors.New("operator canceled the job")
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)

	done := make(chan error, 1)
	go func() {
		_, err := h(ctx, testJob())
		done <- err
	}()
	pid := readPID(t, fifo, done)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) }) // if the test fails
	if dying(t, pid) {
		t.Fatalf("grandchild %d is already gone before the cancel", pid)
	}

	cancel(errStop)
	select {
	case err := <-done:
		if !errors.Is(err, errStop) {
			t.Errorf("error = %v, want it to wrap the cause %v", err, errStop)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("handler still running 20s after the cancel")
	}
	if !dying(t, pid) {
		t.Errorf("grandchild %d survived the cancel", pid)
	}
}

// readPID reads the pid the command writes to the FIFO. Opening a FIFO
// blocks until the other end is opened, so this waits for the command
// without polling; done ends the wait if the handler returns first.
func readPID(t *testing.T, fifo string, done <-chan error) int {
	t.Helper()
	got := make(chan []byte, 1)
	go func() {
		b, _ := os.ReadFile(fifo)
		got <- b
	}()
	select {
	case b := <-got:
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatalf("command wrote %q, want a pid", b)
		}
		return pid
	case err := <-done:
		t.Fatalf("handler returned before writing the pid: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("command did not write its pid within 30s")
	}
	return 0
}

// pfExiting is the kernel's PF_EXITING task flag (include/linux/sched.h).
const pfExiting = 0x4

// dying reports whether pid is gone, a zombie, or exiting. Exiting counts
// because it is what the handler's return proves: the handler returns once
// the grandchild's copies of the pipes are closed, which the kernel does in
// do_exit after setting PF_EXITING and just before the process turns zombie.
func dying(t *testing.T, pid int) bool {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	// The command name in parentheses may contain spaces; the fields after
	// it are state (3rd field of the line) ... flags (9th).
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	flags, err := strconv.ParseUint(fields[6], 10, 64)
	if err != nil {
		t.Fatalf("parse /proc/%d/stat %q: %v", pid, b, err)
	}
	return fields[0] == "Z" || fields[0] == "X" || flags&pfExiting != 0
}

// Ensure that a timeout, or a context that ended before the start, yields an
// error wrapping the context's cause.
func TestExec_Timeout(t *testing.T) {
	errTimeout := errors.New("job timed out")
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, func())
	}{
		{"timeout", func() (context.Context, func()) {
			return context.WithTimeoutCause(context.Background(), 100*time.Millisecond, errTimeout)
		}},
		{"ended before the start", func() (context.Context, func()) {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(errTimeout)
			return ctx, func() {}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			_, err := call(t, Exec(`exec sleep 300`, ExecOptions{}), ctx, testJob())
			if !errors.Is(err, errTimeout) {
				t.Errorf("error = %v, want it to wrap the cause %v", err, errTimeout)
			}
		})
	}
}

// Ensure that a command that exits leaving a background process that holds
// stdout open succeeds after WaitDelay instead of hanging with it.
func TestExec_BackgroundHoldsPipes(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	h := Exec(`sleep 300 & echo $! > "$PID_FILE"; echo done`,
		ExecOptions{Env: []string{"PID_FILE=" + pidFile}, WaitDelay: 100 * time.Millisecond})
	res, err := call(t, h, context.Background(), testJob())
	if b, rerr := os.ReadFile(pidFile); rerr == nil {
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL) // the background sleep is ours to end
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if string(res) != "done\n" {
		t.Errorf("result = %q, want %q", res, "done\n")
	}
}
