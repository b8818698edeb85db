package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"
)

// routes is the route table: one line per route. External checks rely on
// these paths; change them only together with the API documentation.
func (s *Server) routes() *mux.Router {
	r := mux.NewRouter()
	// Clients must use the exact path: mux would otherwise answer a
	// non-canonical one with a 301, which many clients follow as a GET.
	r.SkipClean(true)

	// Every GET route answers HEAD as well, as GET without the body:
	// net/http drops what the handler writes and keeps the length.
	get := func(path string, h http.Handler) {
		r.Handle(path, h).Methods(http.MethodGet, http.MethodHead)
	}

	// Ordered by traffic: mux tries routes in order, a regexp each, so the
	// submit and pull-worker routes come first.
	r.Handle("/v1/queues/{queue}/jobs", s.v1(s.submit)).Methods(http.MethodPost)
	r.Handle("/v1/queues/{queue}/leases", s.v1(s.lease)).Methods(http.MethodPost)
	r.Handle("/v1/jobs/{ticket}/ack", s.v1(s.ack)).Methods(http.MethodPost)
	r.Handle("/v1/jobs/{ticket}/extend", s.v1(s.extend)).Methods(http.MethodPost)
	r.Handle("/v1/jobs/{ticket}/nack", s.v1(s.nack)).Methods(http.MethodPost)
	r.Handle("/v1/jobs/{ticket}/progress", s.v1(s.progress)).Methods(http.MethodPost)
	r.Handle("/v1/jobs/{ticket}/release", s.v1(s.release)).Methods(http.MethodPost)
	get("/v1/jobs/{ticket}", s.v1(s.getJob))
	get("/healthz", s.serve(s.healthz))
	get("/readyz", s.serve(s.readyz))

	get("/v1/queues", s.v1(s.listQueues))
	get("/v1/queues/{queue}", s.v1(s.queueStats))
	r.Handle("/v1/queues/{queue}", s.v1(s.patchQueue)).Methods(http.MethodPatch)
	get("/v1/queues/{queue}/jobs", s.v1(s.listJobs))
	r.Handle("/v1/queues/{queue}/pause", s.v1(s.pause)).Methods(http.MethodPost)
	r.Handle("/v1/queues/{queue}/resume", s.v1(s.resume)).Methods(http.MethodPost)
	r.Handle("/v1/jobs/{ticket}", s.v1(s.cancel)).Methods(http.MethodDelete)
	r.Handle("/v1/jobs/{ticket}/retry", s.v1(s.retry)).Methods(http.MethodPost)
	get("/v1/openapi.json", http.HandlerFunc(s.openapi))
	get("/v1/backup", http.HandlerFunc(s.backup))

	if s.opts.Metrics != nil {
		get(MetricsPath, s.opts.Metrics)
	}
	nameRoutes(r)

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
