package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches /metrics with the header and returns the status and the
// parsed families (nil unless 200).
func scrape(t *testing.T, addr string, header map[string]string) (int, map[string]*familyValues) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	must(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	must(t, err)
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, res.Body)
		return res.StatusCode, nil
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(res.Body)
	must(t, err)
	out := map[string]*familyValues{}
	for name, f := range families {
		fv := &familyValues{}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue() + float64(m.GetHistogram().GetSampleCount())
			fv.series = append(fv.series, series{labels, v})
		}
		out[name] = fv
	}
	return res.StatusCode, out
}

type series struct {
	labels map[string]string
	value  float64 // a histogram's sample count
}

type familyValues struct{ series []series }

// get returns the value of the series with these labels, or -1.
func (f *familyValues) get(labels map[string]string) float64 {
	if f == nil {
		return -1
	}
next:
	for _, s := range f.series {
		for k, v := range labels {
			if s.labels[k] != v {
				continue next
			}
		}
		return s.value
	}
	return -1
}

// post sends a JSON body and returns the status.
func post(t *testing.T, url, body string, header map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	must(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	must(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res.StatusCode
}

// Ensure that /metrics reports known work: accepted and refused submits,
// ack latencies, runs, depths, commits and HTTP requests by route.
func TestServe_Metrics(t *testing.T) {
	addr, _ := startServe(t, nil, "--addr", "127.0.0.1:0", "--queue", "done:noop=true", "--queue", "full:max_queue=1")
	base := "http://" + addr
	const n = 5
	var tickets []string
	for i := range n {
		var r struct {
			Ticket string `json:"ticket"`
		}
		status, err := postJSON(base+"/v1/queues/done/jobs", fmt.Sprintf(`{"payload": %d}`, i), &r)
		if err != nil || status != http.StatusAccepted {
			t.Fatalf("submit: %d, %v", status, err)
		}
		tickets = append(tickets, r.Ticket)
	}
	if s := post(t, base+"/v1/queues/full/jobs", `{"payload": 1}`, nil); s != http.StatusAccepted {
		t.Fatalf("first submit to full: %d", s)
	}
	if s := post(t, base+"/v1/queues/full/jobs", `{"payload": 2}`, nil); s != http.StatusTooManyRequests {
		t.Fatalf("second submit to full: %d", s)
	}
	for _, tk := range tickets {
		var j struct {
			State string `json:"state"`
		}
		if status, err := getJSON(base+"/v1/jobs/"+tk+"?wait=10s", &j); err != nil || status != http.StatusOK || j.State != "succeeded" {
			t.Fatalf("job %s: %d %q, %v", tk, status, j.State, err)
		}
	}

	// A run is observed just after its check-off commits, which is also
	// when the ?wait= above answers: scrape until the runs are in.
	status, fams := scrape(t, addr, nil)
	for deadline := time.Now().Add(10 * time.Second); status == http.StatusOK &&
		fams["ticketq_job_run_seconds"].get(map[string]string{"queue": "done", "outcome": "succeeded"}) != n && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		status, fams = scrape(t, addr, nil)
	}
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d", status)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ticketq_submits_total", map[string]string{"queue": "done", "outcome": "accepted"}, n},
		{"ticketq_submits_total", map[string]string{"queue": "full", "outcome": "accepted"}, 1},
		{"ticketq_submits_total", map[string]string{"queue": "full", "outcome": "refused"}, 1},
		{"ticketq_submit_ack_seconds", nil, n + 1},
		{"ticketq_job_run_seconds", map[string]string{"queue": "done", "outcome": "succeeded"}, n},
		{"ticketq_jobs", map[string]string{"queue": "done", "state": "succeeded"}, n},
		{"ticketq_jobs", map[string]string{"queue": "full", "state": "queued"}, 1},
		{"ticketq_jobs_in_flight", map[string]string{"queue": "done"}, 0},
		{"ticketq_recovery_jobs", nil, 0},
		{"ticketq_http_requests_total", map[string]string{"route": "/v1/queues/{queue}/jobs", "method": "POST", "code": "202"}, n + 1},
		{"ticketq_http_requests_total", map[string]string{"route": "/v1/queues/{queue}/jobs", "method": "POST", "code": "429"}, 1},
		{"ticketq_http_requests_total", map[string]string{"route": "/v1/jobs/{ticket}", "method": "GET", "code": "200"}, n},
	} {
		if got := fams[c.name].get(c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := fams["ticketq_wal_commit_ops"].get(nil); got < 1 {
		t.Errorf("no commit observed (%v)", got)
	}
	if got := fams["go_goroutines"].get(nil); got <= 0 {
		t.Errorf("go_goroutines = %v", got)
	}
}

// Ensure that with tokens /metrics needs an admin token, unless
// --metrics-open.
func TestServe_MetricsAuth(t *testing.T) {
	env := authEnv()
	addr, _ := startServe(t, env, "--addr", "127.0.0.1:0")
	for _, c := range []struct {
		header map[string]string
		want   int
	}{
		{nil, http.StatusUnauthorized},
		{map[string]string{"Authorization": "Bearer " + submitSecret}, http.StatusForbidden},
		{map[string]string{"Authorization": "Bearer " + adminSecret}, http.StatusOK},
	} {
		if got, _ := scrape(t, addr, c.header); got != c.want {
			t.Errorf("GET /metrics with %v: %d, want %d", c.header, got, c.want)
		}
	}
	open, _ := startServe(t, env, "--addr", "127.0.0.1:0", "--metrics-open")
	if got, _ := scrape(t, open, nil); got != http.StatusOK {
		t.Errorf("GET /metrics without a token, --metrics-open: %d, want 200", got)
	}
	if got := post(t, "http://"+open+"/v1/queues/q/jobs", `{"payload": 1}`, nil); got != http.StatusUnauthorized {
		t.Errorf("--metrics-open opened the API too: submit without a token = %d", got)
	}
}

// postJSON submits body and decodes the answer into v.
func postJSON(url, body string, v any) (int, error) {
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	return res.StatusCode, json.NewDecoder(res.Body).Decode(v)
}

// getJSON fetches url and decodes the answer into v.
func getJSON(url string, v any) (int, error) {
	res, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	return res.StatusCode, json.NewDecoder(res.Body).Decode(v)
}
