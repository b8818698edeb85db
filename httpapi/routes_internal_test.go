package httpapi

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/gorilla/mux"
)

// Ensure that the router serves exactly the lines of the route table, each
// with its method (and HEAD with GET), so that no route can be served
// without the roles and the metric label its line gives it.
func TestRoutes_TableIsTheRouter(t *testing.T) {
	if len(routeIndex) != len(routeTable) {
		t.Errorf("the route table has %d lines but %d distinct method and path pairs: a line is there twice", len(routeTable), len(routeIndex))
	}
	s := New(nil, Options{Metrics: http.NotFoundHandler()}) // every optional route too
	served := map[routeKey]bool{}
	err := s.router.Walk(func(r *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tmpl, err := r.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := r.GetMethods()
		if err != nil {
			return err
		}
		for _, m := range methods {
			served[routeKey{m, tmpl}] = true
			if lookupRoute(m, tmpl) == nil {
				t.Errorf("route %s %s is served but is not in the route table", m, tmpl)
			}
		}
		if slices.Contains(methods, http.MethodGet) != slices.Contains(methods, http.MethodHead) {
			t.Errorf("route %s answers %v: GET and HEAD go together", tmpl, methods)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range routeTable {
		if !served[routeKey{rt.method, rt.path}] {
			t.Errorf("route table line %s %s is not served", rt.method, rt.path)
		}
	}
}

// Ensure that an optional route is not served when it is switched off.
func TestRoutes_OptionalRouteOff(t *testing.T) {
	s := New(nil, Options{})
	var m mux.RouteMatch
	if s.router.Match(httptest.NewRequest(http.MethodGet, MetricsPath, nil), &m) && m.MatchErr == nil {
		t.Errorf("%s is served without Options.Metrics", MetricsPath)
	}
}
