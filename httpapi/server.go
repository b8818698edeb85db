// Package httpapi serves a ticketq Queue over HTTP: JSON in and out, one
// route table (routes.go), and one function that turns errors into status
// codes (errors.go).
//
// A Server can start before its queue is ready: New(nil, …) answers /healthz
// at once and every /v1 request with 503 not_ready until SetQueue, so a
// process can listen while recovery runs. Drain starts the shutdown: /readyz
// and /v1 answer 503 and long-polls end, so that http.Server.Shutdown is not
// held up by them.
package httpapi

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/rs/zerolog"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/job"
)

// Queue is what the HTTP API needs of a queue; *ticketq.Queue implements it.
// It is declared here, by its user, so that tests can stand in a fake for
// the errors that are hard to provoke on a real store.
type Queue interface {
	SubmitBatch(ctx context.Context, queue string, subs []ticketq.Submission) ([]ticketq.Receipt, error)
	Status(ctx context.Context, t ticketq.Ticket) (*ticketq.Job, error)
	Wait(ctx context.Context, t ticketq.Ticket) (*ticketq.Job, error)
	Cancel(ctx context.Context, t ticketq.Ticket) (*ticketq.Job, error)
	Retry(ctx context.Context, t ticketq.Ticket) (*ticketq.Job, error)
	List(ctx context.Context, query ticketq.ListQuery) (ticketq.Page, error)
	Stats(ctx context.Context, queue string) (ticketq.QueueStats, error)
	Queues(ctx context.Context) ([]string, error)
	Pause(ctx context.Context, queue string) error
	Resume(ctx context.Context, queue string) error
	UpdateLimits(ctx context.Context, queue string, patch func(*ticketq.QueueOverrides)) (ticketq.QueueStats, error)

	Lease(ctx context.Context, queue string, maxJobs int, visibility, wait time.Duration) ([]*ticketq.Job, error)
	Ack(ctx context.Context, t ticketq.Ticket, lease string, result []byte) (*ticketq.Job, error)
	Nack(ctx context.Context, t ticketq.Ticket, lease, message string, retryIn time.Duration, permanent bool) (*ticketq.Job, error)
	Extend(ctx context.Context, t ticketq.Ticket, lease string, visibility time.Duration) (*ticketq.Job, error)
	Release(ctx context.Context, t ticketq.Ticket, lease string) (*ticketq.Job, error)
	Progress(ctx context.Context, t ticketq.Ticket, lease string, percent int, message string) error
	OpenBackup(ctx context.Context) (ticketq.Snapshot, error)
}

var _ Queue = (*ticketq.Queue)(nil)

// Defaults of Options, also in DefaultOptions.
const (
	// DefaultMaxBodyBytes holds a full batch (DefaultMaxBatch, 10,000
	// jobs) of jobs of up to about 400 bytes of JSON each: the two
	// defaults must agree, or the batch limit could not be reached.
	DefaultMaxBodyBytes = 4 << 20
	DefaultMaxWait      = job.DefaultMaxWait
	DefaultMaxLongPolls = 1024
	DefaultMaxBatch     = ticketq.MaxBatch
)

// Options configure a Server. Zero values take the documented defaults, so
// Options{} is a working configuration.
type Options struct {
	// MaxBodyBytes caps a request body; a larger one is refused with 413
	// body_too_large before anything is stored. A gzipped body is held to
	// it once decompressed. Defaults to 4 MiB (DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// MaxWait is the longest long-poll a client may ask for with
	// GET /v1/jobs/{ticket}?wait=; a longer one is refused with 400. The
	// http.Server's WriteTimeout must exceed it. Defaults to 60 s.
	MaxWait time.Duration
	// MaxLongPolls caps the requests that may wait at the same time: GET
	// /v1/jobs/{ticket}?wait= and leases with a wait. Each holds a
	// connection and a goroutine for up to MaxWait, so without a cap a
	// client could hold them by the thousand. One over the cap is refused
	// at once with 429 too_many_long_polls and Retry-After: 1; requests
	// that do not wait are never refused by it. Defaults to 1024.
	MaxLongPolls int
	// MaxBatch caps the jobs of one batch submit; a larger batch is refused
	// with 400 batch_too_large. Defaults to, and cannot exceed,
	// ticketq.MaxBatch (10,000).
	MaxBatch int
	// Logger receives one access-log line per request (Info) and the details
	// of internal errors and panics (Error). Defaults to no logging.
	Logger zerolog.Logger
	// Tokens turn on bearer-token authentication. When not empty, every
	// request outside OpenPaths must carry "Authorization: Bearer SECRET"
	// with the secret of one of them (401 unauthorized otherwise) whose
	// role may use the route (403 forbidden otherwise); the access log
	// names the token, never its secret. Empty, the default, serves every
	// request: fit for a loopback address only. New panics if a token is
	// invalid; ValidateTokens reports why first.
	Tokens []Token
	// OpenPaths are the exact request paths served without a token when
	// Tokens is set. Nil means DefaultOpenPaths (/healthz and /readyz); a
	// non-nil list replaces it, so []string{} protects the probes too. A
	// path served here in future (such as /metrics) is protected, admin
	// only, unless it is listed.
	OpenPaths []string
	// Metrics, when set, is served at GET /metrics (MetricsPath), e.g. a
	// promhttp handler. With tokens it is admin-only unless OpenPaths
	// lists it.
	Metrics http.Handler
	// Observer receives every answered request and every submit's ack
	// latency, for metrics. Defaults to none.
	Observer Observer
}

// DefaultOptions returns what the zero values of Options stand for; the
// ticketq binary starts its flags from it.
func DefaultOptions() Options {
	return Options{
		MaxBodyBytes: DefaultMaxBodyBytes,
		MaxWait:      DefaultMaxWait,
		MaxLongPolls: DefaultMaxLongPolls,
		MaxBatch:     DefaultMaxBatch,
		Observer:     noObserver{},
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = d.MaxBodyBytes
	}
	if o.MaxWait <= 0 {
		o.MaxWait = d.MaxWait
	}
	if o.MaxLongPolls <= 0 {
		o.MaxLongPolls = d.MaxLongPolls
	}
	if o.MaxBatch <= 0 || o.MaxBatch > ticketq.MaxBatch {
		o.MaxBatch = d.MaxBatch
	}
	if o.Observer == nil {
		o.Observer = d.Observer
	}
	return o
}

// Server is the HTTP API of one Queue. It implements http.Handler and is
// safe for concurrent use; SetQueue and Drain may be called from any
// goroutine while it serves.
type Server struct {
	opts   Options
	log    zerolog.Logger
	router *mux.Router
	// auth is nil when no tokens are configured.
	auth *authenticator

	// queue is nil until SetQueue: the process may listen while recovery
	// still runs, and answer 503 until it is done.
	queue    atomic.Pointer[queueRef]
	draining atomic.Bool
	// drained ends in-flight long-polls when Drain is called.
	drained    context.Context
	cancelWait context.CancelFunc
	// longPolls holds a token for each request that is waiting.
	longPolls chan struct{}
	obs       Observer
}

// queueRef boxes the interface so that it fits an atomic.Pointer.
type queueRef struct{ q Queue }

// New returns the API of q. q may be nil while the queue is still being
// opened and recovered: the server then answers 503 not_ready on /v1 and
// 503 on /readyz until SetQueue.
func New(q Queue, opts Options) *Server {
	opts = opts.withDefaults()
	s := &Server{opts: opts, log: opts.Logger, longPolls: make(chan struct{}, opts.MaxLongPolls), obs: opts.Observer}
	s.drained, s.cancelWait = context.WithCancel(context.Background())
	s.SetQueue(q)
	s.router = s.routes()
	s.auth = newAuthenticator(opts)
	return s
}

// SetQueue attaches the queue once it is open and recovered; from then on
// /readyz answers 200 and /v1 requests are served. A nil q detaches it.
func (s *Server) SetQueue(q Queue) {
	if q == nil {
		s.queue.Store(nil)
		return
	}
	s.queue.Store(&queueRef{q: q})
}

// Drain marks the server as shutting down: /readyz answers 503 so that load
// balancers stop sending traffic, every /v1 request answers 503
// shutting_down with Retry-After and Connection: close, and long-polls in
// flight end at once, answering the same unless they got what they waited
// for (a final job, leased jobs). /healthz still answers 200. Call it before
// http.Server.Shutdown. It cannot be undone.
func (s *Server) Drain() {
	s.draining.Store(true)
	s.cancelWait()
}

// attached returns the queue, or nil before SetQueue.
func (s *Server) attached() Queue {
	if ref := s.queue.Load(); ref != nil {
		return ref.q
	}
	return nil
}

// statusView answers the probes.
type statusView struct {
	Status string `json:"status"`
}

// healthz answers 200 while the process serves HTTP at all: liveness,
// which a restart would not improve by failing.
func (s *Server) healthz(r *http.Request) (reply, error) {
	if _, err := query(r); err != nil {
		return reply{}, err
	}
	return ok(statusView{Status: "ok"})
}

// readyz answers 200 once the queue is attached and until Drain: whether
// this instance should get traffic.
func (s *Server) readyz(r *http.Request) (reply, error) {
	if _, err := query(r); err != nil {
		return reply{}, err
	}
	switch {
	case s.draining.Load():
		return reply{status: http.StatusServiceUnavailable, body: statusView{Status: "shutting_down"}}, nil
	case s.attached() == nil:
		return reply{status: http.StatusServiceUnavailable, body: statusView{Status: "recovering"}}, nil
	}
	return ok(statusView{Status: "ready"})
}

// longPollContext returns the context of a request that may wait: it ends
// with the request, and when the server starts draining, with cause
// errShuttingDown, so that the handler can tell a wait cut short by the
// shutdown from one that passed. The caller calls stop when it is done.
func (s *Server) longPollContext(r *http.Request) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(r.Context())
	unhook := context.AfterFunc(s.drained, func() { cancel(errShuttingDown) })
	return ctx, func() {
		unhook()
		cancel(nil)
	}
}

// startLongPoll takes one of the MaxLongPolls places, or refuses at once:
// queueing for a place would hold the connection the cap is meant to free.
// The caller calls the returned function when its wait is over.
func (s *Server) startLongPoll() (done func(), err error) {
	select {
	case s.longPolls <- struct{}{}:
		return func() { <-s.longPolls }, nil
	default:
		return nil, errorf(errTooManyLongPolls, "%d requests are already waiting, this server's limit (--max-long-polls); retry in a second, or ask without a wait", s.opts.MaxLongPolls)
	}
}
