package main

import (
	"bufio"
	"bytes"
	"io"
	"sync"
	"time"
)

// logFlushInterval bounds how long a log line may wait in the buffer.
const logFlushInterval = 100 * time.Millisecond

// bufferedLog batches access-log lines into few writes: at the default
// level every request logs a line, and one write syscall per line costs
// more than the rest of a small request. They wait at most
// logFlushInterval; a full buffer is written at once (nothing is dropped).
// A kill -9 can lose the access lines of the last interval; Close writes
// the rest.
type bufferedLog struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func newBufferedLog(w io.Writer) *bufferedLog {
	b := &bufferedLog{w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go b.loop()
	return b
}

// accessLine ends every access-log line (zerolog writes the message last).
var accessLine = []byte(`"message":"request"}` + "\n")

// Write keeps one log line (zerolog writes whole lines). Access lines wait
// in the buffer; any other line (start, ready, errors) is rare and wanted at
// once, so it goes out immediately with everything before it.
func (b *bufferedLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.w.Write(p)
	if err == nil && !bytes.HasSuffix(p, accessLine) {
		err = b.w.Flush()
	}
	return n, err
}

func (b *bufferedLog) loop() {
	defer close(b.done)
	t := time.NewTicker(logFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.flush()
		}
	}
}

func (b *bufferedLog) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.w.Flush()
}

// Close stops the flusher and writes what is left.
func (b *bufferedLog) Close() error {
	close(b.stop)
	<-b.done
	b.flush()
	return nil
}
