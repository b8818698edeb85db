package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/ticketq/ticketq"
)

// Ensure that GET /v1/queues lists the stats of every queue in name order.
func TestServer_Queues(t *testing.T) {
	tb := setup(t, nil)
	m := tb.do(t, http.MethodGet, "/v1/queues", "").expect(t, http.StatusOK)
	if want := map[string]any{"queues": []any{}}; !reflect.DeepEqual(m, want) {
		t.Fatalf("empty server: %v", m)
	}
	tb.submit(t, "b", `{"payload": 1}`)
	tb.submit(t, "a", `{"payload": 1}`)
	m = tb.do(t, http.MethodGet, "/v1/queues", "").expect(t, http.StatusOK)
	expectKeys(t, m, "queues")
	qs, _ := m["queues"].([]any)
	if len(qs) != 2 {
		t.Fatalf("queues = %v", m)
	}
	for i, name := range []string{"a", "b"} {
		st := qs[i].(map[string]any)
		expectKeys(t, st, statsKeys...)
		if st["queue"] != name {
			t.Fatalf("queue %d = %v, want %s", i, st["queue"], name)
		}
	}
}

// Ensure that a queue's stats count its jobs per state.
func TestServer_QueueStats(t *testing.T) {
	tb := setup(t, nil)
	tb.submit(t, "q", `{"payload": 1}`)
	tk := tb.submit(t, "q", `{"payload": 2}`)
	tb.do(t, http.MethodDelete, "/v1/jobs/"+tk, "").expect(t, http.StatusOK)
	m := tb.do(t, http.MethodGet, "/v1/queues/q", "").expect(t, http.StatusOK)
	expectKeys(t, m, statsKeys...)
	age, err := m["oldest_queued_age_seconds"].(json.Number).Float64()
	if err != nil || age < 0 {
		t.Fatalf("oldest_queued_age_seconds = %v", m["oldest_queued_age_seconds"])
	}
	delete(m, "oldest_queued_age_seconds")
	want := map[string]any{"queue": "q", "paused": false, "kind": "pull", "in_flight": json.Number("0"), "counts": map[string]any{
		"queued": json.Number("1"), "running": json.Number("0"), "succeeded": json.Number("0"),
		"dead": json.Number("0"), "canceled": json.Number("1"),
	}, "limits": map[string]any{
		"workers": json.Number("4"), "max_leases": json.Number("0"), "rate": json.Number("0"), "burst": json.Number("1"), "max_queue": json.Number("0"),
	}, "overrides": map[string]any{"workers": nil, "max_leases": nil, "rate": nil, "burst": nil, "max_queue": nil}}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("stats = %v, want %v", m, want)
	}
}

// Ensure that a queue is "push" when a handler of the server runs it (its
// own or the default one) and "pull" otherwise.
func TestServer_QueueKind(t *testing.T) {
	noop := func(context.Context, *ticketq.Job) ([]byte, error) { return nil, nil }
	own := setup(t, func(q *ticketq.Queue) { must(t, q.Handle("mine", noop, ticketq.QueueOptions{})) })
	for queue, want := range map[string]string{"mine": "push", "other": "pull"} {
		own.do(t, http.MethodPost, "/v1/queues/"+queue+"/pause", "").expect(t, http.StatusOK)
		if m := own.do(t, http.MethodGet, "/v1/queues/"+queue, "").expect(t, http.StatusOK); m["kind"] != want {
			t.Errorf("queue %s is %v, want %s", queue, m["kind"], want)
		}
	}
	fallback := setup(t, func(q *ticketq.Queue) { must(t, q.HandleDefault(noop)) })
	if m := fallback.do(t, http.MethodPost, "/v1/queues/any/pause", "").expect(t, http.StatusOK); m["kind"] != "push" {
		t.Errorf("a queue run by the default handler is %v, want push", m["kind"])
	}
}

// Ensure that a queue's jobs are listed in pages with a cursor, and by state.
func TestServer_ListJobs(t *testing.T) {
	tb := setup(t, nil)
	var tks []string
	for range 5 {
		tks = append(tks, tb.submit(t, "q", `{"payload": 1}`))
	}
	tb.do(t, http.MethodDelete, "/v1/jobs/"+tks[1], "").expect(t, http.StatusOK)

	// Ensure that pages follow each other through "next", "" on the last.
	t.Run("Pages", func(t *testing.T) {
		var got []string
		for after, pages := "", 0; ; pages++ {
			m := tb.do(t, http.MethodGet, "/v1/queues/q/jobs?limit=2&after="+after, "").expect(t, http.StatusOK)
			expectKeys(t, m, "jobs", "next")
			for _, j := range m["jobs"].([]any) {
				expectKeys(t, j.(map[string]any), summaryKeys...)
				got = append(got, j.(map[string]any)["ticket"].(string))
			}
			if after = m["next"].(string); after == "" {
				if pages != 2 {
					t.Fatalf("%d pages, want 3", pages+1)
				}
				break
			}
			if after != got[len(got)-1] {
				t.Fatalf("next = %s, want the last ticket of the page %s", after, got[len(got)-1])
			}
		}
		if !reflect.DeepEqual(got, tks) {
			t.Fatalf("listed %v, want %v", got, tks)
		}
	})

	// Ensure that state= filters.
	t.Run("State", func(t *testing.T) {
		m := tb.do(t, http.MethodGet, "/v1/queues/q/jobs?state=canceled", "").expect(t, http.StatusOK)
		jobs := m["jobs"].([]any)
		if len(jobs) != 1 || jobs[0].(map[string]any)["ticket"] != tks[1] || m["next"] != "" {
			t.Fatalf("canceled jobs = %v", m)
		}
		m = tb.do(t, http.MethodGet, "/v1/queues/q/jobs?state=queued&limit=1000", "").expect(t, http.StatusOK)
		if n := len(m["jobs"].([]any)); n != 4 {
			t.Fatalf("%d queued jobs, want 4", n)
		}
	})
}

// Ensure that pause and resume answer the stats after the change, and that
// the stats keep showing it.
func TestServer_PauseResume(t *testing.T) {
	tb := setup(t, nil)
	tb.submit(t, "q", `{"payload": 1}`)
	for _, step := range []struct {
		action string
		paused bool
	}{{"pause", true}, {"pause", true}, {"resume", false}} {
		m := tb.do(t, http.MethodPost, "/v1/queues/q/"+step.action, "").expect(t, http.StatusOK)
		expectKeys(t, m, statsKeys...)
		if m["paused"] != step.paused || m["queue"] != "q" {
			t.Fatalf("after %s: %v", step.action, m)
		}
		if m = tb.do(t, http.MethodGet, "/v1/queues/q", "").expect(t, http.StatusOK); m["paused"] != step.paused {
			t.Fatalf("stats after %s: %v", step.action, m)
		}
	}
}
