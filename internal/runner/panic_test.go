package runner

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ticketq/ticketq/job"
)

// panicky panics; tests look for its name in the kept stack.
func panicky() { panic("kaboom") }

// deep calls itself n times, then panics.
func deep(n int) {
	if n == 0 {
		panicky()
	}
	deep(n - 1)
}

// stackOf splits the error of a panicking run into the line with the
// panic's value and the kept stack.
func stackOf(t *testing.T, err error) (head, stack string) {
	t.Helper()
	if err == nil {
		t.Fatal("a panicking handler returned no error")
	}
	head, stack, ok := strings.Cut(err.Error(), "\n")
	if !ok {
		t.Fatalf("error %q has no stack", err)
	}
	return head, stack
}

// Ensure that a panicking handler returns an error with the panic's value
// and a stack that starts at the function that panicked, without the
// machinery of the recover, and that Call returns normally.
func TestCall_Panic(t *testing.T) {
	result, err := Call(context.Background(), func(context.Context, *job.Job) ([]byte, error) {
		panicky()
		return []byte("unreachable"), nil
	}, &job.Job{Ticket: 1})
	if result != nil {
		t.Fatalf("result = %q, want none", result)
	}
	head, stack := stackOf(t, err)
	if head != "panic: kaboom" {
		t.Fatalf("first line = %q", head)
	}
	first, _, _ := strings.Cut(stack, "\n")
	if !strings.Contains(first, "runner.panicky(") {
		t.Fatalf("the stack starts with %q, want the frame that panicked:\n%s", first, stack)
	}
	for _, noise := range []string{"goroutine ", "runtime/debug.Stack", "panic(", "runtime.gopanic"} {
		if strings.Contains(stack, noise) {
			t.Fatalf("the stack keeps %q:\n%s", noise, stack)
		}
	}
}

// Ensure that the stack of a deep panic is cut to maxStackLines lines
// (its innermost frames) and stays within maxStackBytes.
func TestCall_DeepPanic(t *testing.T) {
	_, err := Call(context.Background(), func(context.Context, *job.Job) ([]byte, error) {
		deep(50)
		return nil, nil
	}, &job.Job{Ticket: 1})
	_, stack := stackOf(t, err)
	lines := strings.Split(stack, "\n")
	if len(lines) != maxStackLines || len(stack) > maxStackBytes {
		t.Fatalf("kept %d lines, %d bytes; want %d lines within %d bytes:\n%s", len(lines), len(stack), maxStackLines, maxStackBytes, stack)
	}
	if !strings.Contains(lines[0], "runner.panicky(") || !strings.Contains(lines[2], "runner.deep(") {
		t.Fatalf("the stack does not start at the panic:\n%s", stack)
	}
}

// Ensure that a handler that does not panic has its result and error
// returned as they are.
func TestCall_NoPanic(t *testing.T) {
	boom := errors.New("boom")
	result, err := Call(context.Background(), func(_ context.Context, j *job.Job) ([]byte, error) {
		return []byte(j.Ticket.String()), boom
	}, &job.Job{Ticket: 7})
	if string(result) != job.Ticket(7).String() || err != boom {
		t.Fatalf("Call = %q, %v", result, err)
	}
}

// Ensure that the byte budget keeps whole lines, and cuts a single line
// that is longer than the budget.
func TestTrimStack_Bytes(t *testing.T) {
	header := "goroutine 7 [running]:\nruntime/debug.Stack()\n\t/go/src/runtime/debug/stack.go:26 +0x5e\npanic({0x1, 0x2})\n\t/go/src/runtime/panic.go:792 +0x132\n"
	line := strings.Repeat("f", 700)
	cases := []struct {
		name  string
		body  string
		want  string
		lines int
	}{
		{"whole lines within the budget", line + "\n" + line + "\n" + line + "\n", line + "\n" + line, 2},
		{"one line over the budget", strings.Repeat("g", 5000) + "\nnext\n", strings.Repeat("g", maxStackBytes), 1},
		{"short stack kept whole", "main.f()\n\t/x.go:1\n", "main.f()\n\t/x.go:1", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := string(trimStack([]byte(header + tc.body)))
			if got != tc.want {
				t.Fatalf("kept %d bytes in %d lines, want %d bytes in %d lines", len(got), strings.Count(got, "\n")+1, len(tc.want), tc.lines)
			}
		})
	}
}

// Ensure that a stack without a panic frame (not taken in a recover) is
// kept from its start, within the same limits.
func TestTrimStack_NoPanicFrame(t *testing.T) {
	var b strings.Builder
	for i := range 30 {
		b.WriteString("frame" + strings.Repeat("x", i) + "\n")
	}
	got := strings.Split(string(trimStack([]byte(b.String()))), "\n")
	if len(got) != maxStackLines || got[0] != "frame" {
		t.Fatalf("kept %q", got)
	}
}
