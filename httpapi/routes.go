package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"
)

// route is one entry of the route table: everything the server knows of a
// route, so that registering it, authorizing a request to it and counting
// it in the metrics all read the same line.
type route struct {
	// method is the route's method; a GET route answers HEAD as well, as
	// GET without the body (net/http drops what the handler writes and
	// keeps the length), with the roles of GET.
	method string
	// path is the mux template. It is also the route label of the HTTP
	// metrics: a path would make one series per ticket.
	path string
	// roles may use the route besides admin, who may use every route.
	roles roleSet
	// counts says what an answer adds to the metrics besides the request.
	counts counted
	// handler builds the route's handler for a server; nil leaves the
	// route out (an optional route that is switched off).
	handler func(s *Server) http.Handler
}

// counted is what the answers of a route count in the metrics.
type counted uint8

const (
	// requests: the request, by route, method and status.
	requests counted = iota
	// acks: the request, and when it succeeds, its ack latency (the
	// submit route, whose successful answer comes right after the fsync).
	acks
)

// routeTable is the route table: one line per route, each line complete
// (its literals are unkeyed, so a line without roles does not compile).
// External checks rely on these paths; change them only together with the
// API documentation (openapi.json).
//
// Ordered by traffic: mux tries routes in order, a regexp each, so the
// submit and pull-worker routes come first.
var routeTable = []route{
	{http.MethodPost, "/v1/queues/{queue}/jobs", submitter, acks, withQueue((*Server).submit)},
	{http.MethodPost, "/v1/queues/{queue}/leases", worker, requests, withQueue((*Server).lease)},
	{http.MethodPost, "/v1/jobs/{ticket}/ack", worker, requests, withQueue((*Server).ack)},
	{http.MethodPost, "/v1/jobs/{ticket}/extend", worker, requests, withQueue((*Server).extend)},
	{http.MethodPost, "/v1/jobs/{ticket}/nack", worker, requests, withQueue((*Server).nack)},
	{http.MethodPost, "/v1/jobs/{ticket}/progress", worker, requests, withQueue((*Server).progress)},
	{http.MethodPost, "/v1/jobs/{ticket}/release", worker, requests, withQueue((*Server).release)},
	{http.MethodGet, "/v1/jobs/{ticket}", submitter | worker, requests, withQueue((*Server).getJob)},
	// The probes: these roles apply when OpenPaths does not leave them open.
	{http.MethodGet, "/healthz", submitter | worker, requests, withoutQueue((*Server).healthz)},
	{http.MethodGet, "/readyz", submitter | worker, requests, withoutQueue((*Server).readyz)},

	{http.MethodGet, "/v1/queues", adminOnly, requests, withQueue((*Server).listQueues)},
	{http.MethodGet, "/v1/queues/{queue}", adminOnly, requests, withQueue((*Server).queueStats)},
	{http.MethodPatch, "/v1/queues/{queue}", adminOnly, requests, withQueue((*Server).patchQueue)},
	{http.MethodGet, "/v1/queues/{queue}/jobs", adminOnly, requests, withQueue((*Server).listJobs)},
	{http.MethodPost, "/v1/queues/{queue}/pause", adminOnly, requests, withQueue((*Server).pause)},
	{http.MethodPost, "/v1/queues/{queue}/resume", adminOnly, requests, withQueue((*Server).resume)},
	// A submit token cancels its own jobs only.
	{http.MethodDelete, "/v1/jobs/{ticket}", submitter, requests, withQueue((*Server).cancel)},
	{http.MethodPost, "/v1/jobs/{ticket}/retry", adminOnly, requests, withQueue((*Server).retry)},
	{http.MethodGet, "/v1/openapi.json", submitter | worker, requests, plain((*Server).openapi)},
	{http.MethodGet, "/v1/backup", adminOnly, requests, plain((*Server).backup)},
	// Served when Options.Metrics is set; admin only unless OpenPaths
	// lists it.
	{http.MethodGet, MetricsPath, adminOnly, requests, func(s *Server) http.Handler { return s.opts.Metrics }},
}

// withQueue binds a handler that needs the queue.
func withQueue(h func(*Server, Queue, *http.Request) (reply, error)) func(*Server) http.Handler {
	return func(s *Server) http.Handler {
		return s.v1(func(q Queue, r *http.Request) (reply, error) { return h(s, q, r) })
	}
}

// withoutQueue binds a handler that answers before the queue is attached.
func withoutQueue(h func(*Server, *http.Request) (reply, error)) func(*Server) http.Handler {
	return func(s *Server) http.Handler {
		return s.serve(func(r *http.Request) (reply, error) { return h(s, r) })
	}
}

// plain binds a handler that writes its answer itself (a document, a
// stream).
func plain(h func(*Server, http.ResponseWriter, *http.Request)) func(*Server) http.Handler {
	return func(s *Server) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h(s, w, r) })
	}
}

// routeKey names a route by method and template.
type routeKey struct{ method, template string }

// routeIndex finds a route's line by method and template.
var routeIndex = func() map[routeKey]*route {
	m := make(map[routeKey]*route, len(routeTable))
	for i := range routeTable {
		rt := &routeTable[i]
		m[routeKey{rt.method, rt.path}] = rt
	}
	return m
}()

// lookupRoute returns the line of a route, or nil. HEAD, which is GET
// without the body, finds the line of GET.
func lookupRoute(method, template string) *route {
	if method == http.MethodHead {
		method = http.MethodGet
	}
	return routeIndex[routeKey{method, template}]
}

// routes builds the router from the route table.
func (s *Server) routes() *mux.Router {
	r := mux.NewRouter()
	// Clients must use the exact path: mux would otherwise answer a
	// non-canonical one with a 301, which many clients follow as a GET.
	r.SkipClean(true)
	for i := range routeTable {
		rt := &routeTable[i]
		h := rt.handler(s)
		if h == nil {
			continue
		}
		methods := []string{rt.method}
		if rt.method == http.MethodGet {
			methods = append(methods, http.MethodHead)
		}
		r.Handle(rt.path, named(rt, h)).Methods(methods...)
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.writeError(w, req, errRouteNotFound)
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(s.methodNotAllowed)
	return r
}

// reply is what a handler answers on success.
type reply struct {
	status   int    // 200 when zero
	location string // the Location header, when set
	body     any    // encoded as JSON
}

func ok(body any) (reply, error) { return reply{body: body}, nil }

// serve adapts a handler to http.Handler: the handler returns a value or an
// error, and this is the only place that writes either, so every error goes
// through classify.
func (s *Server) serve(h func(r *http.Request) (reply, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every route gets the cap, so that no handler can read an
		// unbounded body by mistake.
		r.Body = &bodyCap{ReadCloser: http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes), limit: s.opts.MaxBodyBytes}
		rep, err := h(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if rep.location != "" {
			w.Header().Set("Location", rep.location)
		}
		if rep.status == 0 {
			rep.status = http.StatusOK
		}
		s.writeJSON(w, rep.status, rep.body)
	})
}

// v1 adapts a handler that needs the queue.
func (s *Server) v1(h func(q Queue, r *http.Request) (reply, error)) http.Handler {
	return s.serve(func(r *http.Request) (reply, error) {
		// gate already refused requests before SetQueue; this only covers
		// a SetQueue(nil) racing with the request.
		q := s.attached()
		if q == nil {
			return reply{}, errNotReady
		}
		return h(q, r)
	})
}

// admit answers a /v1 request with 503 while the queue is not attached or
// the server drains, and reports whether the request may go on.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) bool {
	switch {
	case s.draining.Load():
		s.writeError(w, r, errShuttingDown)
		return false
	case s.attached() == nil:
		s.writeError(w, r, errNotReady)
		return false
	}
	return true
}

// methodNotAllowed answers a known path with the wrong method, listing in
// Allow the methods that the path takes.
func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	var allow []string
	_ = s.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		// A fresh match per route: mux reports a route whose path matches
		// but whose method does not with ErrMethodMismatch.
		var m mux.RouteMatch
		if route.Match(r, &m) || m.MatchErr == mux.ErrMethodMismatch {
			methods, _ := route.GetMethods()
			allow = append(allow, methods...)
		}
		return nil
	})
	slices.Sort(allow)
	allow = slices.Compact(allow)
	w.Header().Set("Allow", strings.Join(allow, ", "))
	s.writeError(w, r, errorf(errMethodNotAllowed, "%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allow, " or ")))
}

// writeJSON writes one JSON answer.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	var b []byte
	var err error
	if a, ok := v.(jsonAppender); ok {
		// The hot answers (receipts) skip reflection.
		b = a.appendJSON(make([]byte, 0, 128))
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		// Only a bug in a view can get here; the client still gets JSON.
		log := s.logger(w)
		log.Error().Err(err).Msg("encode answer")
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"the answer could not be encoded"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
