package main

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ticketq/ticketq/wal"
)

// Ensure that a check's progress is plain lines off a terminal, and one
// line redrawn with a bar on a terminal, cleared at the end.
func TestCheck_ProgressLine(t *testing.T) {
	p := wal.Progress{Stage: "job records", Step: 3, Steps: 4, Percent: 65}
	done := wal.Progress{Stage: "done", Step: 4, Steps: 4, Percent: 100}
	for _, c := range []struct {
		p    wal.Progress
		tty  bool
		want string
	}{
		{p, false, "check:  65% job records (stage 3/4, 1.2s)\n"},
		{done, false, "check: 100% done (stage 4/4, 1.2s)\n"},
		{p, true, "\r\033[Kchecking [===============         ]  65% job records (1.2s)"},
		{done, true, "\r\033[K"},
	} {
		if got := progressLine(c.p, 1234*time.Millisecond, c.tty); got != c.want {
			t.Errorf("progressLine(%+v, tty %v) = %q, want %q", c.p, c.tty, got, c.want)
		}
	}
}

// Ensure that byte progress shows the share and both sizes, and clears
// its bar on a terminal when finished.
func TestBytesLine(t *testing.T) {
	for _, c := range []struct {
		done, total   int64
		tty, finished bool
		want          string
	}{
		{3 << 20, 12 << 20, false, false, "backup:  25% 3.0 MiB of 12.0 MiB (2.5s)\n"},
		{12 << 20, 12 << 20, false, true, "backup: 100% 12.0 MiB of 12.0 MiB (2.5s)\n"},
		{3 << 20, 12 << 20, true, false, "\r\033[Kbackup [======                  ]  25% 3.0 MiB of 12.0 MiB (2.5s)"},
		{12 << 20, 12 << 20, true, true, "\r\033[K"},
		{0, 0, false, false, "backup: 100% 0 B of 0 B (2.5s)\n"},
	} {
		if got := bytesLine("backup", c.done, c.total, 2500*time.Millisecond, c.tty, c.finished); got != c.want {
			t.Errorf("bytesLine(%d, %d, tty %v, finished %v) = %q, want %q", c.done, c.total, c.tty, c.finished, got, c.want)
		}
	}
}

// Ensure that a compaction's progress names its stage and marks the copy's
// total as an estimate.
func TestCompactLine(t *testing.T) {
	copying := wal.CompactProgress{Stage: "copying", Done: 1 << 20, Total: 4 << 20, Percent: 25}
	checking := wal.CompactProgress{Stage: "checking", Detail: "job records", Percent: 60}
	for _, c := range []struct {
		p    wal.CompactProgress
		tty  bool
		want string
	}{
		{copying, false, "compact:  25% copying 1.0 MiB of ~4.0 MiB (1.2s)\n"},
		{checking, false, "compact:  60% checking the copy: job records (1.2s)\n"},
		{copying, true, "\r\033[Kcompacting [======                  ]  25% copying 1.0 MiB of ~4.0 MiB (1.2s)"},
		{wal.CompactProgress{Stage: "done", Percent: 100}, true, "\r\033[K"},
	} {
		if got := compactLine(c.p, 1240*time.Millisecond, c.tty); got != c.want {
			t.Errorf("compactLine(%+v, tty %v) = %q, want %q", c.p, c.tty, got, c.want)
		}
	}
}

// lockedBuffer is a strings.Builder safe for the display's ticker.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.WriteString(string(p))
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Ensure that the display stays quiet for a short operation, draws each
// update once it is shown, draws nothing after its last line or its end,
// and clears a bar left on a terminal when the operation ends early.
func TestProgressDisplay(t *testing.T) {
	// The ticker never fires within these tests (an hour), so every line
	// drawn comes from an update.
	const never = time.Hour
	var state string
	line := func(_ time.Duration, tty bool) (string, bool) {
		if tty {
			return "\r\033[K" + state, state == "done"
		}
		return state + "\n", state == "done"
	}

	t.Run("QuietWhenShort", func(t *testing.T) {
		var out lockedBuffer
		d := newProgressDisplay(&out, false, never, never, line)
		d.update(func() { state = "half" })
		d.end()
		if out.String() != "" {
			t.Fatalf("a short operation printed %q", out.String())
		}
	})
	t.Run("PlainLines", func(t *testing.T) {
		var out lockedBuffer
		d := newProgressDisplay(&out, false, 0, never, line)
		for _, s := range []string{"half", "done", "after"} {
			d.update(func() { state = s })
		}
		d.end()
		if got := out.String(); got != "half\ndone\n" {
			t.Fatalf("printed %q, want the lines up to done", got)
		}
	})
	t.Run("TerminalClearedOnEarlyEnd", func(t *testing.T) {
		var out lockedBuffer
		d := newProgressDisplay(&out, true, 0, never, line)
		d.update(func() { state = "half" })
		d.end()
		d.update(func() { state = "late" })
		if got := out.String(); got != "\r\033[Khalf\r\033[K" {
			t.Fatalf("printed %q, want the bar, then the line cleared", got)
		}
	})
	t.Run("TickerRedraws", func(t *testing.T) {
		var out lockedBuffer
		d := newProgressDisplay(&out, false, 0, time.Millisecond, line)
		d.update(func() { state = "waiting" })
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(out.String(), "waiting\n") < 3 {
			if time.Now().After(deadline) {
				t.Fatalf("the ticker did not redraw: %q", out.String())
			}
			time.Sleep(time.Millisecond)
		}
		d.end()
	})
}
