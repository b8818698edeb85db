package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticketq/ticketq/wal"
)

// progressDisplay shows a long operation's progress on w once it has run
// for a second: on a terminal, one line redrawn in place with a bar,
// cleared at the end so that the summary stands alone; otherwise a plain
// line at each change and each interval, which a log keeps. A short
// operation prints nothing. What a line says is up to its line function;
// the display only decides when to draw.
type progressDisplay struct {
	w     io.Writer
	tty   bool
	after time.Duration // quiet until then
	start time.Time
	// line draws the current state; it runs under mu, so the state it
	// reads may be changed under mu too (see update). An empty text draws
	// nothing; last says that no line follows this one.
	line func(elapsed time.Duration, tty bool) (text string, last bool)
	stop chan struct{}
	done chan struct{}

	mu    sync.Mutex // serializes drawing between the operation and the ticker
	drawn bool       // a line was drawn
	ended bool       // the last line was drawn
}

// showProgress starts a display whose ticker redraws the current state
// every interval, so that a long stage still shows the time passing.
func showProgress(w io.Writer, tty bool, every time.Duration, line func(time.Duration, bool) (string, bool)) *progressDisplay {
	return newProgressDisplay(w, tty, time.Second, every, line)
}

func newProgressDisplay(w io.Writer, tty bool, after, every time.Duration, line func(time.Duration, bool) (string, bool)) *progressDisplay {
	d := &progressDisplay{w: w, tty: tty, after: after, start: time.Now(), line: line, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(d.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-d.stop:
				return
			case <-t.C:
				d.update(nil)
			}
		}
	}()
	return d
}

// update runs change, if not nil, under the display's lock, then draws.
func (d *progressDisplay) update(change func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if change != nil {
		change()
	}
	elapsed := time.Since(d.start)
	if elapsed < d.after || d.ended {
		return
	}
	text, last := d.line(elapsed, d.tty)
	if text == "" {
		return
	}
	d.drawn, d.ended = true, last
	fmt.Fprint(d.w, text)
}

// set runs change under the display's lock without drawing: for frequent
// reports, which the ticker then draws at its own pace.
func (d *progressDisplay) set(change func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	change()
}

// end stops the ticker; nothing is drawn after it returns. A bar left on
// a terminal (the operation failed before its last line) is cleared, so
// that the error message starts on a clean line.
func (d *progressDisplay) end() {
	close(d.stop)
	<-d.done
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tty && d.drawn && !d.ended {
		fmt.Fprint(d.w, "\r\033[K")
	}
	d.ended = true
}

// progressBar is a bar of width characters, pct percent full.
func progressBar(pct, width int) string {
	full := min(max(pct, 0), 100) * width / 100
	return strings.Repeat("=", full) + strings.Repeat(" ", width-full)
}

// showCheck displays the stages of a wal.Check (or CheckFile): it returns
// the function to hand to the check, and the display to end.
func showCheck(w io.Writer) (func(wal.Progress), *progressDisplay) {
	var cur wal.Progress
	d := showProgress(w, isTerminal(w), time.Second, func(elapsed time.Duration, tty bool) (string, bool) {
		if cur.Stage == "" {
			return "", false
		}
		return progressLine(cur, elapsed, tty), cur.Stage == "done"
	})
	return func(p wal.Progress) { d.update(func() { cur = p }) }, d
}

// progressLine draws a check's progress p: a bar redrawn over the line on
// a terminal (and the line cleared when done), a plain line otherwise.
func progressLine(p wal.Progress, elapsed time.Duration, tty bool) string {
	elapsed = elapsed.Round(100 * time.Millisecond)
	switch {
	case !tty:
		return fmt.Sprintf("check: %3d%% %s (stage %d/%d, %s)\n", p.Percent, p.Stage, p.Step, p.Steps, elapsed)
	case p.Stage == "done":
		return "\r\033[K"
	}
	return fmt.Sprintf("\r\033[Kchecking [%s] %3d%% %s (%s)", progressBar(p.Percent, 24), p.Percent, p.Stage, elapsed)
}

// byteProgress displays bytes copied against a known total: backup and
// restore. Count them by writing through Writer.
type byteProgress struct {
	d        *progressDisplay
	verb     string // "backup", "restore"
	total    int64
	n        atomic.Int64 // written so far; the copy adds without the lock
	finished bool         // under d.mu
}

// showBytes starts a byte display on w. A terminal is redrawn five times a
// second, a log gets a line a second.
func showBytes(w io.Writer, verb string, total int64) *byteProgress {
	b := &byteProgress{verb: verb, total: total}
	tty := isTerminal(w)
	every := time.Second
	if tty {
		every = 200 * time.Millisecond
	}
	b.d = showProgress(w, tty, every, func(elapsed time.Duration, tty bool) (string, bool) {
		return bytesLine(b.verb, b.n.Load(), b.total, elapsed, tty, b.finished), b.finished
	})
	return b
}

// Writer returns w counting what passes through into the display.
func (b *byteProgress) Writer(w io.Writer) io.Writer { return countingWriter{w: w, n: &b.n} }

// end stops the display; with ok, after its last line (100%).
func (b *byteProgress) end(ok bool) {
	if ok {
		b.d.update(func() { b.finished = true })
	}
	b.d.end()
}

// bytesLine draws done of total bytes: a bar on a terminal (cleared when
// finished), a plain line otherwise.
func bytesLine(verb string, done, total int64, elapsed time.Duration, tty, finished bool) string {
	elapsed = elapsed.Round(100 * time.Millisecond)
	pct := 100
	if total > 0 {
		pct = int(min(done, total) * 100 / total)
	}
	switch {
	case !tty:
		return fmt.Sprintf("%s: %3d%% %s of %s (%s)\n", verb, pct, byteSize(done), byteSize(total), elapsed)
	case finished:
		return "\r\033[K"
	}
	return fmt.Sprintf("\r\033[K%s [%s] %3d%% %s of %s (%s)", verb, progressBar(pct, 24), pct, byteSize(done), byteSize(total), elapsed)
}

// countingWriter adds the bytes written to n.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}
