package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

// lockedBuf is what the buffered log writes into.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Ensure that access lines are held back until a flush while every other
// line goes out at once with what came before it, in order, and that Close
// writes the rest.
func TestBufferedLog(t *testing.T) {
	out := &lockedBuf{}
	b := newBufferedLog(out)
	access := `{"level":"info","message":"request"}` + "\n"
	ready := `{"level":"info","message":"ready"}` + "\n"
	b.Write([]byte(access))
	if out.String() != "" && out.String() != access { // the ticker may have flushed it
		t.Fatalf("unexpected output %q", out.String())
	}
	b.Write([]byte(ready))
	if got := out.String(); got != access+ready {
		t.Fatalf("after a non-access line: %q, want both lines in order", got)
	}
	b.Write([]byte(access))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); strings.Count(got, "request") != 2 {
		t.Fatalf("after Close: %q", got)
	}
}
