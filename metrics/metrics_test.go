package metrics_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/metrics"
)

// value reads one series from reg: a counter's or gauge's value, or a
// histogram's sample count. A series that does not exist is -1.
func value(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return -1
}

// Ensure that known work shows in every metric: submits by outcome, runs
// by outcome, retries, deaths, a lease expiration, commits, and the depths
// read from the store.
func TestMetrics_KnownWork(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	fast := ticketq.QueueOptions{BackoffBase: time.Millisecond, BackoffMax: time.Millisecond}
	q, err := ticketq.Open(t.TempDir(), ticketq.Options{Observer: m, Grace: time.Second, Queue: fast})
	if err != nil {
		t.Fatal(err)
	}
	reg.MustRegister(metrics.NewQueueCollector(q))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(q.Handle("ok", func(context.Context, *ticketq.Job) ([]byte, error) { return nil, nil }, fast))
	bad := fast
	bad.MaxAttempts = 2
	must(q.Handle("bad", func(context.Context, *ticketq.Job) ([]byte, error) { return nil, errors.New("boom") }, bad))
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- q.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-ran; err != nil {
			t.Error(err)
		}
		must(q.Close())
	}()

	var tickets []ticketq.Ticket
	for i, s := range []ticketq.Submission{{Payload: []byte("1")}, {Payload: []byte("2"), IdempotencyKey: "k"}, {Payload: []byte("3")}} {
		r, err := q.Submit(ctx, "ok", s)
		must(err)
		tickets = append(tickets, r.Ticket)
		_ = i
	}
	if r, err := q.Submit(ctx, "ok", ticketq.Submission{Payload: []byte("2"), IdempotencyKey: "k"}); err != nil || !r.Duplicate {
		t.Fatalf("resubmit = %+v, %v", r, err)
	}
	if _, err := q.Submit(ctx, "ok", ticketq.Submission{Payload: []byte("x"), Priority: 1000}); !errors.Is(err, ticketq.ErrInvalid) {
		t.Fatalf("invalid submit = %v", err)
	}
	r, err := q.Submit(ctx, "bad", ticketq.Submission{Payload: []byte("4")})
	must(err)
	tickets = append(tickets, r.Ticket)
	for _, tk := range tickets {
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		j, err := q.Wait(wctx, tk)
		wcancel()
		if err != nil || !j.State.Final() {
			t.Fatalf("wait %s: %+v, %v", tk, j, err)
		}
	}

	// A lease left to expire, then one acked.
	_, err = q.Submit(ctx, "pull", ticketq.Submission{Payload: []byte("5")})
	must(err)
	js, err := q.Lease(ctx, "pull", 1, ticketq.MinVisibility, 0)
	if err != nil || len(js) != 1 {
		t.Fatalf("lease = %v, %v", js, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for value(t, reg, "ticketq_lease_expirations_total", nil) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the lease did not expire")
		}
		time.Sleep(10 * time.Millisecond)
	}
	js, err = q.Lease(ctx, "pull", 1, time.Minute, 5*time.Second)
	if err != nil || len(js) != 1 {
		t.Fatalf("second lease = %v, %v", js, err)
	}
	_, err = q.Ack(ctx, js[0].Ticket, js[0].Lease, nil)
	must(err)

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ticketq_submits_total", map[string]string{"queue": "ok", "outcome": "accepted"}, 3},
		{"ticketq_submits_total", map[string]string{"queue": "ok", "outcome": "duplicate"}, 1},
		{"ticketq_submits_total", map[string]string{"queue": "ok", "outcome": "refused"}, 1},
		{"ticketq_submits_total", map[string]string{"queue": "bad", "outcome": "accepted"}, 1},
		{"ticketq_submits_total", map[string]string{"queue": "pull", "outcome": "accepted"}, 1},
		{"ticketq_job_run_seconds", map[string]string{"queue": "ok", "outcome": "succeeded"}, 3},
		{"ticketq_job_run_seconds", map[string]string{"queue": "bad", "outcome": "retried"}, 1},
		{"ticketq_job_run_seconds", map[string]string{"queue": "bad", "outcome": "dead"}, 1},
		{"ticketq_job_run_seconds", map[string]string{"queue": "pull", "outcome": "succeeded"}, 1},
		{"ticketq_job_retries_total", map[string]string{"queue": "bad"}, 1},
		{"ticketq_jobs_dead_total", map[string]string{"queue": "bad"}, 1},
		{"ticketq_lease_expirations_total", nil, 1},
		{"ticketq_jobs", map[string]string{"queue": "ok", "state": "succeeded"}, 3},
		{"ticketq_jobs", map[string]string{"queue": "ok", "state": "queued"}, 0},
		{"ticketq_jobs", map[string]string{"queue": "bad", "state": "dead"}, 1},
		{"ticketq_jobs", map[string]string{"queue": "pull", "state": "succeeded"}, 1},
		{"ticketq_jobs_in_flight", map[string]string{"queue": "pull"}, 0},
		{"ticketq_queue_paused", map[string]string{"queue": "ok"}, 0},
		{"ticketq_queue_stats_up", nil, 1},
		{"ticketq_recovery_jobs", nil, 0},
	} {
		// A run is observed after its check-off commits, which is also
		// when Wait returns: the two race, so each value is awaited.
		deadline := time.Now().Add(10 * time.Second)
		for value(t, reg, c.name, c.labels) != c.want && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got := value(t, reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// Every submit, claim and check-off above went through a commit.
	if n := value(t, reg, "ticketq_wal_commit_ops", nil); n < 6 {
		t.Errorf("%v commits observed, want at least the 6 stored submits", n)
	}
	if n, w := value(t, reg, "ticketq_wal_commit_seconds", nil), value(t, reg, "ticketq_wal_write_seconds", nil); n != w {
		t.Errorf("%v commit durations but %v write durations", n, w)
	}
}
