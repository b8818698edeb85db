package httpapi

import (
	"net/http"
	"time"
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

// named wraps a route's handler so that the request's recorder learns its
// route, whose template is the label of the HTTP metrics.
func named(rt *route, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if rec := recorderOf(w); rec != nil {
			rec.route = rt
		}
		h.ServeHTTP(w, req)
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

// observe reports an answered request, labeled with its route's template
// (empty for a path no route takes), and the ack latency of a route that
// counts acks: from its arrival to its status being written, which comes
// right after the commit's fsync.
func (s *Server) observe(rec *recorder, r *http.Request) {
	now := time.Now()
	status := rec.statusOr200()
	var label string
	if rec.route != nil {
		label = rec.route.path
	}
	s.obs.Request(label, methodLabel(r.Method), status, now.Sub(rec.start))
	if rec.route != nil && rec.route.counts == acks && (status == http.StatusAccepted || status == http.StatusOK) && !rec.answered.IsZero() {
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
