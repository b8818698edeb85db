package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/ticketq/ticketq/job"
)

// Defaults for ExecOptions.
const (
	DefaultShell      = "/bin/sh"
	DefaultMaxOutput  = 64 << 10
	DefaultStderrTail = 4 << 10
	DefaultWaitDelay  = 5 * time.Second
)

// ExecOptions configures Exec. The zero value is ready to use.
type ExecOptions struct {
	// Shell runs the command as `Shell -c command`. A name without a slash
	// is looked up in PATH on every run. Defaults to DefaultShell (/bin/sh).
	Shell string

	// Env holds extra "KEY=value" entries added to the server's environment.
	// They override the server's variables of the same name but not the
	// TICKETQ_* variables that describe the job.
	Env []string

	// MaxOutput is how many bytes of stdout are kept as the result; the rest
	// is read and discarded. Zero or less means DefaultMaxOutput (64 KiB).
	MaxOutput int

	// StderrTail is how many bytes from the end of stderr a failure's error
	// message keeps. Zero or less means DefaultStderrTail (4 KiB).
	StderrTail int

	// WaitDelay bounds how long the handler waits for stdout and stderr to
	// close once the shell has exited or been killed. It matters when a
	// process has left the group (setsid) or when the command exits leaving
	// a background process that holds the pipes open: that process's later
	// output is lost, but the attempt ends. Zero or less means
	// DefaultWaitDelay (5s).
	WaitDelay time.Duration
}

func (o ExecOptions) withDefaults() ExecOptions {
	if o.Shell == "" {
		o.Shell = DefaultShell
	}
	if o.MaxOutput <= 0 {
		o.MaxOutput = DefaultMaxOutput
	}
	if o.StderrTail <= 0 {
		o.StderrTail = DefaultStderrTail
	}
	if o.WaitDelay <= 0 {
		o.WaitDelay = DefaultWaitDelay
	}
	o.Env = append([]string(nil), o.Env...) // the caller may reuse its slice
	return o
}

// Exec returns a handler that runs command through the shell once per
// attempt, with the payload on stdin and these variables added to the
// server's environment:
//
//	TICKETQ_TICKET           the ticket, in decimal
//	TICKETQ_QUEUE            the queue name
//	TICKETQ_ATTEMPT          the attempt number, 1 on the first run
//	TICKETQ_IDEMPOTENCY_KEY  the job's idempotency key, empty if none
//
// Exit status 0 is success and the result is stdout, silently cut to
// MaxOutput bytes: a cut result is still a success. Any other outcome is a
// plain error, so the attempt is retried: a non-zero exit (the error wraps
// the *exec.ExitError and quotes the tail of stderr), death by a signal, or
// a shell that cannot start.
//
// The command runs in its own process group. When ctx ends, the whole group
// is killed with SIGKILL, so that children and grandchildren die with the
// shell, and the error wraps context.Cause(ctx).
func Exec(command string, opts ExecOptions) job.Handler {
	opts = opts.withDefaults()
	return func(ctx context.Context, j *job.Job) ([]byte, error) {
		return runCommand(ctx, command, opts, j)
	}
}

func runCommand(ctx context.Context, command string, opts ExecOptions, j *job.Job) ([]byte, error) {
	cmd := exec.CommandContext(ctx, opts.Shell, "-c", command)
	env := append(os.Environ(), opts.Env...)
	// The job's variables come last: exec keeps the last of duplicate keys,
	// so neither the server's environment nor opts.Env can fake them.
	cmd.Env = append(env,
		"TICKETQ_TICKET="+j.Ticket.String(),
		"TICKETQ_QUEUE="+j.Queue,
		"TICKETQ_ATTEMPT="+strconv.Itoa(j.Attempt),
		"TICKETQ_IDEMPOTENCY_KEY="+j.IdempotencyKey,
	)
	cmd.Stdin = bytes.NewReader(j.Payload)
	stdout := &headBuffer{max: opts.MaxOutput}
	stderr := &tailBuffer{max: opts.StderrTail}
	cmd.Stdout, cmd.Stderr = stdout, stderr

	// A group of its own lets one kill reach everything the command started;
	// killing only the shell would orphan its children, which would keep
	// running and keep the output pipes open.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	// WaitDelay is what makes Wait return when something outside the group
	// still holds the pipes; without it Wait reads them until EOF, forever.
	cmd.WaitDelay = opts.WaitDelay

	if err := cmd.Start(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("command not started: %w", context.Cause(ctx))
		}
		return nil, fmt.Errorf("start command: %w", err)
	}
	err := cmd.Wait()
	switch {
	case err == nil:
		return stdout.buf, nil
	case ctx.Err() != nil:
		// Whatever Wait says (killed, or an exit racing the kill), the
		// attempt ended because ctx did; the caller needs to know why.
		return nil, fmt.Errorf("command killed: %w", context.Cause(ctx))
	case errors.Is(err, exec.ErrWaitDelay):
		// The shell exited 0 but left a process holding stdout or stderr
		// open. The command has done its work; retrying it would only start
		// more such processes.
		return stdout.buf, nil
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return nil, fmt.Errorf("run command: %w", err)
	}
	tail := stderr.Bytes()
	if stderr.Truncated() {
		tail = dropPartialHead(tail)
	}
	msg := printable(tail, true)
	if msg == "" {
		return nil, fmt.Errorf("command failed: %w", err)
	}
	if stderr.Truncated() {
		msg = "…" + msg
	}
	return nil, fmt.Errorf("command failed: %w: stderr: %s", err, msg)
}

// killGroup sends SIGKILL to the process group led by pid. SIGKILL, not
// SIGTERM: the context has already ended, and a command that traps TERM
// could otherwise outlive its timeout by as long as it likes.
func killGroup(pid int) error {
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		// Already gone; tell exec so that a clean exit is not turned into an
		// error.
		return os.ErrProcessDone
	}
	if err != nil {
		return fmt.Errorf("kill process group %d: %w", pid, err)
	}
	return nil
}
