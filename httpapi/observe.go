package httpapi

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"
)

// Observer receives what the HTTP metrics count (package metrics
// implements it). Its methods are called on request paths and must return
// at once.
type Observer interface {
	// Request reports an answered request: its route template (empty for
	// a path no route takes), method, status and duration.
	Request(route, method string, status int, d time.Duration)
	// Acked reports a submit whose jobs were stored (or found by their
	// idempotency keys), d after its request arrived: the latency a client
	// waits for its ticket, fsync included.
	Acked(d time.Duration)
}

// MetricsPath is where Options.Metrics is served.
const MetricsPath = "/metrics"

type noObserver struct{}

func (noObserver) Request(string, string, int, time.Duration) {}
func (noObserver) Acked(time.Duration)                        {}

// nameRoutes wraps every route's handler so that the request's recorder
// learns its route template, the label of the HTTP metrics: a path would
// make one series per ticket. Done once, after the table is built, so that
// the route table stays one line per route.
func nameRoutes(r *mux.Router) {
	_ = r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tmpl, err := route.GetPathTemplate()
		h := route.GetHandler()
		if err != nil || h == nil {
			return nil
		}
		route.Handler(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if rec := recorderOf(w); rec != nil {
				rec.route = tmpl
			}
			h.ServeHTTP(w, req)
		}))
		return nil
	})
}

// recorderOf finds the request's recorder below any wrapping writer.
func recorderOf(w http.ResponseWriter) *recorder {
	for {
		switch v := w.(type) {
		case *recorder:
			return v
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return nil
		}
	}
}

// submitRoute is the template of the submit route, whose successful
// answers are acks.
const submitRoute = "/v1/queues/{queue}/jobs"

// observe reports an answered request, and a submit's ack latency: from
// its arrival to its status being written, which comes right after the
// commit's fsync.
func (s *Server) observe(rec *recorder, r *http.Request) {
	now := time.Now()
	status := rec.statusOr200()
	s.obs.Request(rec.route, methodLabel(r.Method), status, now.Sub(rec.start))
	if rec.route == submitRoute && r.Method == http.MethodPost && (status == http.StatusAccepted || status == http.StatusOK) && !rec.answered.IsZero() {
		s.obs.Acked(rec.answered.Sub(rec.start))
	}
}

// methodLabel bounds the method label: Go's server takes any token as a
// method, so a client without credentials could otherwise mint a new
// series with every request.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}
