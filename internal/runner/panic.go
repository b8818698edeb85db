package runner

import (
	"bytes"
	"context"
	"fmt"
	"runtime/debug"

	"github.com/ticketq/ticketq/job"
)

// The stack kept in the error of a panicking run: at most maxStackLines
// lines (two per frame) and at most maxStackBytes bytes of them, whichever
// is shorter. The lines keep the error readable where it is shown (a job's
// status, the dashboard) and still name the function that panicked and its
// callers in the handler; the bytes keep it well inside job.MaxErrorLen,
// which the store truncates to, with room left for the panic value.
const (
	maxStackLines = 10
	maxStackBytes = 2048
)

// Call runs h on j, turning a panic into an error: "panic: " with the value,
// then the stack from the frame that panicked (see trimStack). The runs of
// a queue go on after a handler's bug; the panic is a failed attempt.
func Call(ctx context.Context, h job.Handler, j *job.Job) (result []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			result, err = nil, fmt.Errorf("panic: %v\n%s", v, trimStack(debug.Stack()))
		}
	}()
	return h(ctx, j)
}

// trimStack trims a stack taken in a deferred recover to the frames from
// the one that panicked on: it drops the goroutine header, debug.Stack, the
// deferred function and runtime.panic with its file line, then keeps at
// most maxStackLines whole lines within maxStackBytes.
func trimStack(stack []byte) []byte {
	if i := bytes.Index(stack, []byte("\npanic(")); i >= 0 {
		rest := stack[i+1:]
		for range 2 {
			if j := bytes.IndexByte(rest, '\n'); j >= 0 {
				rest = rest[j+1:]
			}
		}
		stack = rest
	}
	stack = bytes.TrimSpace(stack)
	end, lines := 0, 0
	for end < len(stack) && lines < maxStackLines {
		next := len(stack)
		if j := bytes.IndexByte(stack[end:], '\n'); j >= 0 {
			next = end + j
		}
		if next > maxStackBytes {
			if lines == 0 {
				end = maxStackBytes // one line longer than the budget: cut it
			}
			break
		}
		end, lines = next, lines+1
		if end < len(stack) {
			end++ // past the newline, which TrimSpace drops below
		}
	}
	return bytes.TrimSpace(stack[:end])
}
