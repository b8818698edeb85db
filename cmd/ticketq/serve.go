package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"syscall"
	"time"

	oklog "github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/executor"
	"github.com/ticketq/ticketq/httpapi"
	"github.com/ticketq/ticketq/internal/logfield"
	"github.com/ticketq/ticketq/job"
	"github.com/ticketq/ticketq/metrics"
	"github.com/ticketq/ticketq/ui"
	"github.com/ticketq/ticketq/wal"
)

// serve runs the server until SIGINT/SIGTERM or a fatal error. It listens
// before opening the queue, so /healthz and /readyz answer while recovery of
// a large backlog is still running.
func serve(ctx context.Context, args []string, env map[string]string, stderr io.Writer) error {
	c, err := parseServeConfig(args, env, stderr)
	if err != nil {
		return err
	}
	scrubSecretEnv()
	log, flushLog := newServerLogger(c.LogLevel, c.LogFormat, stderr)
	defer flushLog()
	tuneGC(env)

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	// Every metric is built here and handed down; no package keeps one.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	api := httpapi.New(nil, httpapi.Options{MaxBodyBytes: c.MaxBody, MaxWait: c.MaxWait, MaxLongPolls: c.MaxPolls, MaxBatch: c.MaxBatch, Logger: log, Tokens: c.Tokens,
		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), Observer: m, OpenPaths: openPaths(c)})
	const maxHeaderBytes = 64 << 10 // bearer tokens and request ids fit many times over
	hs := &http.Server{
		Handler: ui.Mount(api), // the dashboard at /ui/, outside the API: its files hold no data, so they need no token
		// A slow client is cut off after these: it holds a goroutine and
		// a socket, never a worker or a store operation.
		ReadHeaderTimeout: c.HeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		// A long-poll may hold a response for MaxWait.
		WriteTimeout:   c.MaxWait + 30*time.Second,
		IdleTimeout:    c.IdleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       stdlog.New(zerologWriter{log}, "", 0),
		TLSConfig:      c.TLS,
	}
	log.Info().Str("addr", ln.Addr().String()).Str("data", c.Data).Bool("tls", c.TLS != nil).Int("tokens", len(c.Tokens)).Msg("listening")
	logExposure(c, log)
	if c.Pprof != "" {
		if err := servePprof(c.Pprof, log); err != nil {
			_ = ln.Close()
			return err
		}
	}

	var (
		g         oklog.Group
		q         *ticketq.Queue
		queueErr  error
		queueDone = make(chan struct{})
	)
	g.Add(oklog.SignalHandler(ctx, os.Interrupt, syscall.SIGTERM))

	// The queue: open (recovery runs here), attach to the API, run until
	// interrupted, then drain gracefully within the grace period.
	qctx, stopQueue := context.WithCancel(context.Background())
	g.Add(func() error {
		defer close(queueDone)
		var err error
		if q, err = openQueue(c, log, m); err != nil {
			return err
		}
		reg.MustRegister(metrics.NewQueueCollector(q))
		api.SetQueue(q)
		rep := q.Recovery()
		log.Info().Int("recovered", rep.Recovered).Float64("recovery_took_ms", logfield.Millis(rep.Duration)).Msg("ready")
		queueErr = q.Run(qctx)
		return queueErr
	}, func(error) { stopQueue() })

	// The HTTP server. On interrupt it answers 503 while the queue drains
	// (so load balancers and clients see the shutdown), then closes.
	g.Add(func() error {
		serveHTTP := hs.Serve
		if c.TLS != nil {
			// The certificate is in hs.TLSConfig already.
			serveHTTP = func(ln net.Listener) error { return hs.ServeTLS(ln, "", "") }
		}
		if err := serveHTTP(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	}, func(error) {
		api.Drain()
		<-queueDone
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			_ = hs.Close()
		}
	})

	err = g.Run()
	// The group reports the first actor to stop (the signal, on a normal
	// shutdown); a store failure during the drain, or a failing close, must
	// still make the exit non-zero so that a supervisor notices.
	if queueErr != nil && errors.Is(err, oklog.ErrSignal) {
		err = queueErr
	}
	if q != nil {
		if cerr := q.Close(); cerr != nil && (err == nil || errors.Is(err, oklog.ErrSignal)) {
			err = fmt.Errorf("close queue: %w", cerr)
		}
	}
	// oklog/run documents that SignalError is best matched with errors.Is;
	// the handler returns a pointer, which As needs to find the signal.
	if errors.Is(err, oklog.ErrSignal) {
		name := "signal"
		if sig := (*oklog.SignalError)(nil); errors.As(err, &sig) && sig != nil && sig.Signal != nil {
			name = sig.Signal.String()
		}
		log.Info().Str("signal", name).Msg("stopped")
		return nil
	}
	if fe := (*wal.FileError)(nil); errors.As(err, &fe) {
		return dataFileError{err}
	}
	return err
}

// openQueue opens the data directory and registers each queue's executor.
func openQueue(c *Config, log zerolog.Logger, obs ticketq.Observer) (*ticketq.Queue, error) {
	q, err := ticketq.Open(c.Data, ticketq.Options{
		Observer:        obs,
		MaxQueues:       c.MaxQueues,
		Logger:          log,
		Grace:           c.Grace,
		Queue:           c.Queue,
		RetainSucceeded: c.RetainOK,
		RetainDead:      c.RetainDead,
	})
	if err != nil {
		return nil, err
	}
	def, defKind, err := handlerFor(c, c.Noop, c.Exec, c.Webhook, c.S3Bucket, "")
	if err != nil {
		_ = q.Close()
		return nil, err
	}
	for name, qc := range c.QueueConfig {
		h, kind, err := handlerFor(c, qc.Noop, qc.Exec, qc.Webhook, qc.S3Bucket, qc.S3Key)
		if err != nil {
			_ = q.Close()
			return nil, fmt.Errorf("queue %q: %w", name, err)
		}
		if h == nil {
			h, kind = def, defKind
		}
		if err := q.Handle(name, h, qc.Options); err != nil {
			_ = q.Close()
			return nil, err
		}
		log.Info().Str("queue", name).Str("executor", kind).Msg("queue configured")
	}
	if def != nil {
		if err := q.HandleDefault(def); err != nil {
			_ = q.Close()
			return nil, err
		}
		log.Info().Str("executor", defKind).Msg("default executor for every other queue")
	}
	return q, nil
}

// handlerFor builds the executor named by the settings, or nil for a queue
// whose jobs wait for pull workers. A bad S3 setting fails here, at start.
func handlerFor(c *Config, noop bool, execCmd, webhook, bucket, key string) (job.Handler, string, error) {
	switch {
	case noop:
		return executor.Noop(), "noop", nil
	case execCmd != "":
		return executor.Exec(execCmd, executor.ExecOptions{}), "exec", nil
	case webhook != "":
		return executor.Webhook(webhook, executor.WebhookOptions{}), "webhook", nil
	case bucket != "":
		if key == "" {
			key = c.S3.Key
		}
		h, err := executor.S3(executor.S3Options{Endpoint: c.S3.Endpoint, Region: c.S3.Region, Bucket: bucket, Key: key, PathStyle: c.S3.PathStyle})
		if err != nil {
			return nil, "", err
		}
		return h, "s3", nil
	}
	return nil, "none (pull queue: jobs wait for workers)", nil
}

// Garbage-collector defaults of the server, used unless GOGC or GOMEMLIMIT
// is set. The live heap is small (tens of MB) and mostly short-lived request
// and transaction garbage, so collecting four times less often saved about
// a fifth of the CPU of an end-to-end benchmark; the soft limit makes the
// collector work harder again before the heap could approach the RSS budget.
const (
	serverGCPercent   = 400
	serverMemoryLimit = 160 << 20
)

func tuneGC(env map[string]string) {
	if env["GOGC"] == "" {
		debug.SetGCPercent(serverGCPercent)
	}
	if env["GOMEMLIMIT"] == "" {
		debug.SetMemoryLimit(serverMemoryLimit)
	}
}

// servePprof serves the profiler on its own listener, so that it is never
// reachable through the API's address. It runs until the process ends.
func servePprof(addr string, log zerolog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for pprof on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Warn().Str("addr", ln.Addr().String()).Msg("profiler listening (--pprof)")
	go func() { _ = (&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}).Serve(ln) }()
	return nil
}

// zerologWriter routes net/http's own log lines into the JSON log.
type zerologWriter struct{ log zerolog.Logger }

func (w zerologWriter) Write(p []byte) (int, error) {
	w.log.Warn().Str("component", "http").Msg(string(trimNewline(p)))
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	if n := len(p); n > 0 && p[n-1] == '\n' {
		return p[:n-1]
	}
	return p
}

// openPaths are the paths served without a token when tokens are on: the
// probes, and /metrics with --metrics-open (a scraper often has no token).
func openPaths(c *Config) []string {
	paths := httpapi.DefaultOpenPaths()
	if c.MetricsOpen {
		paths = append(paths, httpapi.MetricsPath)
	}
	return paths
}
