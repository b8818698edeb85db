package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	oklog "github.com/oklog/run"
)

// benchTarget is the hidden `ticketq bench-target` subcommand: the trivial
// HTTP server that `ticketq bench --baseline` loads first, to measure what
// the same load generator reaches when nothing is stored. It reads each
// submit's body and answers 202 with a receipt the client decodes, never
// touching disk; its http.Server has serve's settings, so the difference
// between the two is the queue. It runs as its own process, like serve,
// so that both are measured across the same process boundary.
func benchTarget(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("ticketq bench-target", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	hs := &http.Server{
		Handler:           &target{},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      90 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	// Nothing is logged per request, so Info costs nothing here; the line
	// is how the spawning bench learns the port.
	log := newLogger("info", "json", stderr)
	log.Info().Str("addr", ln.Addr().String()).Msg("listening")

	var g oklog.Group
	g.Add(oklog.SignalHandler(ctx, os.Interrupt, syscall.SIGTERM))
	g.Add(func() error {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	}, func(error) {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			_ = hs.Close()
		}
	})
	if err := g.Run(); err != nil && !errors.Is(err, oklog.ErrSignal) {
		return err
	}
	return nil
}

// target answers submits as serve would if storing cost nothing.
type target struct {
	// batches holds the answer to a batch of each size seen, built once:
	// the ceiling should measure HTTP, not the building of answers.
	batches sync.Map // int → []byte
}

// bodies recycles request buffers, as a lean server would.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (t *target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz":
		writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`))
		return
	case "/readyz":
		writeJSON(w, http.StatusOK, []byte(`{"status":"ready"}`))
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/queues/")
	queue, ok2 := strings.CutSuffix(rest, "/jobs")
	if !ok || !ok2 || queue == "" || strings.Contains(queue, "/") || r.Method != http.MethodPost {
		writeJSON(w, http.StatusNotFound, []byte(`{"error":{"code":"not_found","message":"bench-target answers POST /v1/queues/{queue}/jobs only"}}`))
		return
	}
	buf := bodies.Get().(*bytes.Buffer)
	defer bodies.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(r.Body); err != nil {
		writeJSON(w, http.StatusBadRequest, []byte(`{"error":{"code":"invalid_json","message":"could not read the body"}}`))
		return
	}
	body := bytes.TrimLeft(buf.Bytes(), " \t\r\n")
	if !bytes.HasPrefix(body, []byte(`{"jobs"`)) {
		q, _ := json.Marshal(queue)
		writeJSON(w, http.StatusAccepted, []byte(`{"ticket":"1","queue":`+string(q)+`,"state":"queued"}`))
		return
	}
	// A batch answers one receipt per job. The jobs are counted by their
	// "payload" keys rather than decoded: the client writes one per job,
	// and a quote inside a payload string is escaped, so only a payload
	// that is itself an object with such a key would be counted twice.
	writeJSON(w, http.StatusAccepted, t.batch(bytes.Count(body, []byte(`"payload":`))))
}

// batch returns the answer to a batch of n jobs.
func (t *target) batch(n int) []byte {
	if b, ok := t.batches.Load(n); ok {
		return b.([]byte)
	}
	var b bytes.Buffer
	b.WriteString(`{"tickets":[`)
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + strconv.Itoa(i) + `"`)
	}
	b.WriteString(`],"jobs":[`)
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		b.WriteString(`{"ticket":"` + strconv.Itoa(i) + `","state":"queued","duplicate":false}`)
	}
	b.WriteString(`]}`)
	t.batches.Store(n, b.Bytes())
	return b.Bytes()
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
