package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ticketq/ticketq/job"
)

// Ensure that stdout, and only stdout, becomes the result.
func TestExec_Result(t *testing.T) {
	for _, tc := range []struct {
		name, command, want string
	}{
		{"stdout", `printf 'hello\nworld'`, "hello\nworld"},
		{"stderr is not the result", `echo out; echo err >&2`, "out\n"},
		{"no output", `true`, ""},
		{"payload on stdin", `cat`, `{"to":"a@example.com"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := call(t, Exec(tc.command, ExecOptions{}), context.Background(), testJob())
			if err != nil {
				t.Fatal(err)
			}
			if string(res) != tc.want {
				t.Errorf("result = %q, want %q", res, tc.want)
			}
		})
	}
}

// Ensure that a large binary payload arrives on stdin byte for byte.
func TestExec_Stdin(t *testing.T) {
	payload := make([]byte, 300<<10) // several pipe buffers
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	j := testJob()
	j.Payload = payload
	res, err := call(t, Exec(`cat`, ExecOptions{MaxOutput: 1 << 20}), context.Background(), j)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res, payload) {
		t.Errorf("got %d bytes back, want the %d-byte payload unchanged", len(res), len(payload))
	}
}

// Ensure that the command sees the server's environment, opts.Env and the
// job's variables, and that opts.Env cannot fake the job's variables.
func TestExec_Env(t *testing.T) {
	t.Setenv("EXECUTOR_TEST_SERVER", "from-server")
	const command = `printf '%s|%s|%s|%s|%s|%s' "$TICKETQ_TICKET" "$TICKETQ_QUEUE" "$TICKETQ_ATTEMPT" ` +
		`"${TICKETQ_IDEMPOTENCY_KEY-unset}" "$EXTRA" "$EXECUTOR_TEST_SERVER"`
	opts := ExecOptions{Env: []string{"EXTRA=from-opts", "TICKETQ_TICKET=forged"}}
	for _, tc := range []struct {
		name, key, want string
	}{
		{"with idempotency key", "key-1", "42|emails|3|key-1|from-opts|from-server"},
		{"without idempotency key", "", "42|emails|3||from-opts|from-server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := testJob()
			j.IdempotencyKey = tc.key
			res, err := call(t, Exec(command, opts), context.Background(), j)
			if err != nil {
				t.Fatal(err)
			}
			if string(res) != tc.want {
				t.Errorf("environment = %q, want %q", res, tc.want)
			}
		})
	}
}

// Ensure that a failing command is a retryable error naming the exit status
// and quoting stderr, made printable.
func TestExec_Failure(t *testing.T) {
	for _, tc := range []struct {
		name, command string
		code          int // -1 for a signal
		wantMsg       string
	}{
		{"exit with stderr", `echo starting; echo boom >&2; exit 3`, 3, "command failed: exit status 3: stderr: boom"},
		{"exit without stderr", `exit 1`, 1, "command failed: exit status 1"},
		{"multiline stderr", `printf 'one\ntwo\n' >&2; exit 4`, 4, "command failed: exit status 4: stderr: one\ntwo"},
		{"control characters", `printf 'bad\033[31m red\r\n' >&2; exit 2`, 2, "command failed: exit status 2: stderr: bad[31m red"},
		{"killed by a signal", `kill -9 $$`, -1, "command failed: signal: killed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := call(t, Exec(tc.command, ExecOptions{}), context.Background(), testJob())
			assertRetryable(t, err)
			if res != nil {
				t.Errorf("result = %q, want none on failure", res)
			}
			if err.Error() != tc.wantMsg {
				t.Errorf("error = %q, want %q", err, tc.wantMsg)
			}
			exitErr, ok := errors.AsType[*exec.ExitError](err)
			if !ok {
				t.Fatalf("error does not wrap *exec.ExitError: %v", err)
			}
			if exitErr.ExitCode() != tc.code {
				t.Errorf("exit code = %d, want %d", exitErr.ExitCode(), tc.code)
			}
		})
	}
}

// Ensure that a huge stderr is drained and only its tail is kept.
func TestExec_StderrTail(t *testing.T) {
	const command = `head -c 1000000 /dev/zero | tr '\0' a >&2; printf END >&2; exit 1`
	for _, tc := range []struct {
		name string
		tail int
		want int // bytes of stderr kept
	}{
		{"option", 100, 100},
		{"default", 0, DefaultStderrTail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := call(t, Exec(command, ExecOptions{StderrTail: tc.tail}), context.Background(), testJob())
			assertRetryable(t, err)
			want := "command failed: exit status 1: stderr: …" + strings.Repeat("a", tc.want-3) + "END"
			if err.Error() != want {
				t.Errorf("error is %d bytes ending in %q, want %d bytes ending in %q",
					len(err.Error()), tail(err.Error()), len(want), tail(want))
			}
		})
	}
}

func tail(s string) string { return s[max(len(s)-20, 0):] }

// Ensure that stdout over the limit is cut to exactly the limit, and that
// the command is drained (not killed by SIGPIPE, not blocked) and succeeds.
func TestExec_Truncate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		size     int
		max      int
		wantSize int
	}{
		{"far over the limit", 1 << 20, 1000, 1000},
		{"at the limit", 1000, 1000, 1000},
		{"under the limit", 999, 1000, 999},
		{"default limit", 200 << 10, 0, DefaultMaxOutput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// tr's exit status is the pipeline's: if the pipe were closed
			// early, tr would die of SIGPIPE and the attempt would fail.
			command := fmt.Sprintf(`head -c %d /dev/zero | tr '\0' x`, tc.size)
			res, err := call(t, Exec(command, ExecOptions{MaxOutput: tc.max}), context.Background(), testJob())
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != tc.wantSize || strings.Trim(string(res), "x") != "" {
				t.Errorf("result is %d bytes, want %d bytes of x", len(res), tc.wantSize)
			}
		})
	}
}

// Ensure that a shell that cannot start is a clear, retryable error.
func TestExec_StartFailure(t *testing.T) {
	for _, tc := range []struct {
		name, shell string
		want        error
	}{
		{"missing path", filepath.Join(t.TempDir(), "no-such-shell"), fs.ErrNotExist},
		{"not in PATH", "no-such-shell-ticketq", exec.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := call(t, Exec(`true`, ExecOptions{Shell: tc.shell}), context.Background(), testJob())
			assertRetryable(t, err)
			if !errors.Is(err, tc.want) || !strings.HasPrefix(err.Error(), "start command: ") {
				t.Errorf("error = %v, want a start failure wrapping %v", err, tc.want)
			}
		})
	}
}

// Ensure that the no-op executor succeeds at once with no result.
func TestNoop(t *testing.T) {
	res, err := Noop()(context.Background(), &job.Job{Ticket: 1})
	if err != nil || res != nil {
		t.Fatalf("noop = %q, %v", res, err)
	}
}
