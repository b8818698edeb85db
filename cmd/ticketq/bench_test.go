package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// benchBinary is the real ticketq binary, built once by TestMain, that the
// bench tests start with --spawn and --baseline.
var benchBinary string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "ticketq-bench-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	benchBinary = filepath.Join(dir, "ticketq")
	if out, err := exec.Command("go", "build", "-o", benchBinary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// diskDir returns a directory for spawned data that is not on tmpfs, which
// bench refuses: the test's temporary directory, or one in the package
// directory where /tmp is tmpfs.
func diskDir(t *testing.T) string {
	t.Helper()
	if d := t.TempDir(); !onTmpfs(d) {
		return d
	}
	d, err := os.MkdirTemp(".", ".benchtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func onTmpfs(dir string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(dir, &st) == nil && int64(st.Type) == tmpfsMagic
}

// benchRun runs `ticketq bench` in-process with the built binary and a
// spawn directory on disk; it returns stdout, stderr and the error.
func benchRun(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	full := append([]string{"bench", "--binary", benchBinary}, args...)
	if !strings.Contains(strings.Join(args, " "), "--spawn-dir") {
		full = append(full, "--spawn-dir", diskDir(t))
	}
	err := run(context.Background(), full, nil, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// benchJSON runs bench with --json and decodes the report, both into the
// report type and into a map, to check the names that scripts rely on.
func benchJSON(t *testing.T, args ...string) (*benchReport, map[string]any, error) {
	t.Helper()
	out, stderr, err := benchRun(t, append(args, "--json")...)
	var r benchReport
	var m map[string]any
	if jerr := errors.Join(json.Unmarshal([]byte(out), &r), json.Unmarshal([]byte(out), &m)); jerr != nil {
		t.Fatalf("bench printed no JSON report (%v; run error %v):\n%s\nstderr:\n%s", jerr, err, out, stderr)
	}
	return &r, m, err
}

// checkLatency fails unless l holds samples in order.
func checkLatency(t *testing.T, what string, l latencyReport) {
	t.Helper()
	if l.Count == 0 || l.P50 <= 0 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.P999 || l.P999 > l.Max {
		t.Fatalf("%s latency out of order: %+v", what, l)
	}
}

// Ensure that submit mode against a spawned server reports acks, ordered
// percentiles and the server's RSS, and removes the data directory.
func TestBench_Submit(t *testing.T) {
	dir := diskDir(t)
	r, _, err := benchJSON(t, "--spawn", "--spawn-dir", dir, "--duration", "500ms", "--concurrency", "4")
	if err != nil || !r.OK {
		t.Fatalf("bench failed: %v (%s)", err, r.Failure)
	}
	if r.Mode != "submit" || r.Acked == 0 || r.Requests != r.Acked || r.ErrorCount != 0 || r.JobsPerS <= 0 {
		t.Fatalf("report: %+v", r)
	}
	checkLatency(t, "ack", r.Latency)
	if r.ServerRSSPeak <= 0 || r.Spawned == nil || !strings.Contains(r.Command, "--spawn") {
		t.Fatalf("rss %d, spawned %+v, command %q", r.ServerRSSPeak, r.Spawned, r.Command)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "ticketq-bench-*")); len(left) > 0 {
		t.Fatalf("data directory left behind: %v", left)
	}
}

// Ensure that batch mode counts jobs, not requests, and that --count stops
// at exactly that many acked jobs, including a last partial batch.
func TestBench_BatchCounts(t *testing.T) {
	r, _, err := benchJSON(t, "--spawn", "--mode", "batch", "--batch", "50", "--count", "2000", "--duration", "500ms", "--concurrency", "4")
	if err != nil || r.Acked == 0 || r.Acked%50 != 0 || r.Acked != 50*r.Requests || r.Acked > 2000 || r.Settings.Batch != 50 {
		t.Fatalf("batch: acked %d in %d requests (%v)", r.Acked, r.Requests, err)
	}
	if r.JobsPerS < 49*r.RequestsPerS {
		t.Fatalf("jobs/s %.0f is not 50× req/s %.0f", r.JobsPerS, r.RequestsPerS)
	}

	url := apiServer(t)
	for _, tc := range []struct {
		args           []string
		acked, request int64
	}{
		{[]string{"--count", "300"}, 300, 300},
		{[]string{"--mode", "batch", "--batch", "100", "--count", "250"}, 250, 3},
	} {
		r, _, err := benchJSON(t, append([]string{"--server", url, "--duration", "30s", "--concurrency", "8"}, tc.args...)...)
		if err != nil || r.Acked != tc.acked || r.Requests != tc.request {
			t.Fatalf("%v: acked %d in %d requests, want %d in %d (%v)", tc.args, r.Acked, r.Requests, tc.acked, tc.request, err)
		}
	}
}

// Ensure that e2e mode, with the no-op executor and with pull workers,
// sees every acked job succeed and reports the backlog and the latency of
// the jobs it followed.
func TestBench_E2E(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"noop", nil},
		{"noop batches", []string{"--batch", "25"}},
		{"pull", []string{"--pull", "4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--spawn", "--mode", "e2e", "--count", "300", "--duration", "500ms", "--concurrency", "4", "--drain", "60s"}, tc.args...)
			r, m, err := benchJSON(t, args...)
			if err != nil || !r.OK || r.E2E == nil {
				t.Fatalf("e2e failed: %v (%s)", err, r.Failure)
			}
			e := r.E2E
			if !e.Drained || e.Left != 0 || r.Acked == 0 || e.SubmittedPerS <= 0 {
				t.Fatalf("not every acked job succeeded: %+v", e)
			}
			if e.Sampled == 0 || e.Unfinished != 0 {
				t.Fatalf("followed %d jobs, %d unfinished", e.Sampled, e.Unfinished)
			}
			checkLatency(t, "e2e", e.Latency)
			fields := m["e2e"].(map[string]any)
			for _, k := range []string{"backlog_start", "backlog_end", "backlog_max", "backlog_trend_per_s", "backlog_growing", "completed_per_s"} {
				if _, ok := fields[k]; !ok {
					t.Fatalf("e2e report lacks %q: %v", k, fields)
				}
			}
			if len(e.BacklogSamples) < 2 || e.BacklogMax < e.BacklogEnd {
				t.Fatalf("backlog samples %v, max %d, end %d", e.BacklogSamples, e.BacklogMax, e.BacklogEnd)
			}
			noop := strings.Contains(strings.Join(r.Spawned.Flags, " "), "noop=true")
			if noop != (e.Pull == 0) {
				t.Fatalf("pull %d with server flags %v", e.Pull, r.Spawned.Flags)
			}
		})
	}
}

// Ensure that recovery mode fills the queue, kills and restarts the server,
// and reports ready, first-run and drain times in order, and the RSS.
func TestBench_Recovery(t *testing.T) {
	r, _, err := benchJSON(t, "--spawn", "--mode", "recovery", "--count", "2000", "--drain", "60s")
	if err != nil || !r.OK || r.Recovery == nil {
		t.Fatalf("recovery failed: %v (%s)", err, r.Failure)
	}
	rc := r.Recovery
	if rc.Jobs != 2000 || rc.QueuedAtKill != 2000 || r.Acked != 2000 || r.Requests != 2 {
		t.Fatalf("fill: %+v, acked %d in %d requests", rc, r.Acked, r.Requests)
	}
	if !(0 < rc.ReadyS && rc.ReadyS <= rc.FirstRunS && rc.FirstRunS <= rc.DoneS) || !rc.Drained || rc.DrainS <= 0 {
		t.Fatalf("times out of order: %+v", rc)
	}
	if rc.RSSRecoveryPeak <= 0 || rc.RSSDrainPeak <= 0 || r.ServerRSSPeak < rc.RSSRecoveryPeak {
		t.Fatalf("rss: %+v, server peak %d", rc, r.ServerRSSPeak)
	}
}

// Ensure that --baseline measures bench-target first and reports ticketq's
// share of it as a sane ratio.
func TestBench_Baseline(t *testing.T) {
	r, _, err := benchJSON(t, "--spawn", "--baseline", "--duration", "300ms", "--concurrency", "4")
	if err != nil || !r.OK || r.Baseline == nil {
		t.Fatalf("baseline run failed: %v (%s)", err, r.Failure)
	}
	b := r.Baseline
	if b.Acked == 0 || b.ErrorCount != 0 || b.RSSPeak <= 0 || b.Target == "" {
		t.Fatalf("baseline: %+v", b)
	}
	// Storing a job with an fsync cannot be five times cheaper than
	// storing nothing.
	if b.Ratio <= 0 || b.Ratio > 5 {
		t.Fatalf("ratio %.3f (ticketq %.0f req/s, ceiling %.0f req/s)", b.Ratio, r.RequestsPerS, b.RequestsPerS)
	}
}

// Ensure that the text report has every section, the ceiling sentence and
// the command line, and that progress lines go to stderr.
func TestBench_Text(t *testing.T) {
	url := apiServer(t)
	out, stderr, err := benchRun(t, "--server", url, "--baseline", "--duration", "1100ms", "--concurrency", "2")
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	for _, want := range []string{"ticketq bench: submit mode", "jobs/s", "p50", "p99.9", "max", "errors      none", "result      ok",
		"command     ticketq bench --binary " + benchBinary + " --server " + url} {
		if !strings.Contains(out, want) {
			t.Fatalf("report lacks %q:\n%s", want, out)
		}
	}
	m := regexp.MustCompile(`ticketq reached ([0-9.]+)% of the HTTP ceiling measured seconds before \([0-9,]+ jobs/s vs [0-9,]+ req/s\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no ceiling sentence:\n%s", out)
	}
	if pct, _ := strconv.ParseFloat(m[1], 64); pct <= 0 {
		t.Fatalf("ceiling %s%%", m[1])
	}
	if !regexp.MustCompile(`(?m)^1\.0s acked \d+ \d+/s errors 0$`).MatchString(stderr) {
		t.Fatalf("no plain progress line on stderr:\n%s", stderr)
	}
}

// Ensure that refused submits are counted by status and code and make the
// run fail once they pass 1% of the requests.
func TestBench_ErrorsByCode(t *testing.T) {
	r, _, err := benchJSON(t, "--spawn", "--server-flag=--max-queue=5", "--duration", "300ms", "--concurrency", "4")
	if code := exitCode(err, &bytes.Buffer{}); code != 1 {
		t.Fatalf("exit %d (%v), want 1", code, err)
	}
	if r.OK || r.Acked != 5 || r.Errors["429 queue_full"] == 0 || r.Errors["429 queue_full"] != r.ErrorCount {
		t.Fatalf("errors %v, acked %d, ok %v", r.Errors, r.Acked, r.OK)
	}
	if !strings.Contains(err.Error(), "errors exceeded 1% of requests") || !strings.Contains(r.ErrorFirst["429 queue_full"], "queue is full") {
		t.Fatalf("failure %q, first message %q", err, r.ErrorFirst["429 queue_full"])
	}
}

// Ensure that --spawn refuses a data directory on tmpfs, where fsync costs
// nothing, and creates nothing there.
func TestBench_RefusesTmpfs(t *testing.T) {
	dir, err := os.MkdirTemp("/dev/shm", "ticketq-bench-test-")
	if err != nil {
		t.Skipf("no writable tmpfs to test with: %v", err)
	}
	defer os.RemoveAll(dir)
	if !onTmpfs(dir) {
		t.Skipf("/dev/shm is not tmpfs here")
	}
	_, _, err = benchRun(t, "--spawn", "--spawn-dir", dir, "--duration", "100ms")
	if err == nil || !strings.Contains(err.Error(), "is on tmpfs") {
		t.Fatalf("bench on tmpfs: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Fatalf("bench created %v on tmpfs", entries)
	}
}

// Ensure that --rate caps the offered load: 600 jobs at 1,000 jobs/s take
// more than half a second (the bucket starts with a 1/20 s burst).
func TestBench_Rate(t *testing.T) {
	url := apiServer(t)
	start := time.Now()
	r, _, err := benchJSON(t, "--server", url, "--mode", "batch", "--batch", "20", "--rate", "1000", "--count", "600", "--concurrency", "4")
	if err != nil || !r.OK || r.Acked != 600 {
		t.Fatalf("rated run: %v (%+v)", err, r)
	}
	if took := time.Since(start); took < 500*time.Millisecond {
		t.Fatalf("600 jobs at 1,000/s took %s", took)
	}
}
