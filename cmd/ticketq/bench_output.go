package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// benchReport holds every figure of a bench run. --json prints it as is;
// the text report is written from it, so both always agree.
type benchReport struct {
	Mode     string        `json:"mode"`
	Command  string        `json:"command"`
	Settings benchSettings `json:"settings"`
	Server   string        `json:"server"`
	Spawned  *spawnReport  `json:"spawned,omitempty"`
	// The load's figures (in recovery mode, the fill's), at the top level
	// so that scripts find acked, jobs_per_s and latency_ms in one place.
	loadReport
	ServerRSSPeak int64           `json:"server_rss_peak_bytes,omitempty"`
	Baseline      *baselineReport `json:"baseline,omitempty"`
	E2E           *e2eReport      `json:"e2e,omitempty"`
	Recovery      *recoveryReport `json:"recovery,omitempty"`
	ServerExit    string          `json:"server_exit,omitempty"`
	KeptDataDir   string          `json:"kept_data_dir,omitempty"`
	OK            bool            `json:"ok"`
	Failure       string          `json:"failure,omitempty"`
}

// benchSettings are the settings of the measured load. Batch is the jobs
// per request: 1 in submit and e2e mode, 1000 for the recovery fill.
type benchSettings struct {
	Concurrency  int     `json:"concurrency"`
	PayloadBytes int     `json:"payload_bytes"`
	Batch        int     `json:"batch"` // jobs per request
	DurationS    float64 `json:"duration_s"`
	Count        int64   `json:"count"`
	Queue        string  `json:"queue"`
	Pull         int     `json:"pull,omitempty"`
	Rate         float64 `json:"rate,omitempty"` // offered jobs/s; 0: no cap
	Spawn        bool    `json:"spawn"`
	Baseline     bool    `json:"baseline"`
}

// spawnReport describes the server bench started: the binary, where it
// listened, its data directory and the flags added to bench's own
// (--addr, --data, --log-level warn, --log-format json).
type spawnReport struct {
	Binary  string   `json:"binary"`
	Addr    string   `json:"addr"`
	DataDir string   `json:"data_dir"`
	Flags   []string `json:"flags"`
}

// baselineReport is the same load against bench-target. Ratio is
// ticketq's requests per second over the target's.
type baselineReport struct {
	loadReport
	Target  string  `json:"target"`
	RSSPeak int64   `json:"rss_peak_bytes"`
	Ratio   float64 `json:"ratio"`
}

func newBenchReport(c *benchConfig) *benchReport {
	s := benchSettings{
		Concurrency: c.concurrency, PayloadBytes: c.payload, Batch: 1, DurationS: c.duration.Seconds(),
		Count: c.count, Queue: c.queue, Pull: c.pull, Spawn: c.spawn, Baseline: c.baseline, Rate: c.rate,
	}
	switch {
	case c.mode == "batch" || (c.mode == "e2e" && c.batchSet):
		s.Batch = c.batch
	case c.mode == "recovery":
		s.Batch, s.DurationS, s.Concurrency = int(min(recoveryBatch, c.count)), 0, min(c.concurrency, 8)
	}
	return &benchReport{Mode: c.mode, Command: c.command, Settings: s, Server: c.server}
}

// verdict is the run's failure, if any: nothing acked, more than 1% of the
// requests failed, jobs that never finished, or a server that did not
// exit cleanly.
func (r *benchReport) verdict() error {
	var bad []string
	if msg := loadVerdict(&r.loadReport); msg != "" {
		bad = append(bad, msg)
	}
	if r.Baseline != nil {
		if msg := loadVerdict(&r.Baseline.loadReport); msg != "" {
			bad = append(bad, "baseline: "+msg)
		}
	}
	if e := r.E2E; e != nil && !e.Drained {
		bad = append(bad, fmt.Sprintf("e2e: %d acked jobs had not succeeded %.1fs after the load (see --drain)", e.Left, e.DrainS))
	}
	if rc := r.Recovery; rc != nil && !rc.Drained {
		bad = append(bad, fmt.Sprintf("recovery: %d jobs had not succeeded %.1fs after the restart (see --drain)", rc.Left, rc.DoneS))
	}
	if r.ServerExit != "" {
		bad = append(bad, strings.SplitN(r.ServerExit, "\n", 2)[0])
	}
	if len(bad) == 0 {
		return nil
	}
	return errors.New(strings.Join(bad, "; "))
}

func loadVerdict(l *loadReport) string {
	switch {
	case l.Acked == 0:
		return fmt.Sprintf("nothing was acked (%d requests failed)", l.ErrorCount)
	case l.ErrorRate > 0.01:
		return fmt.Sprintf("errors exceeded 1%% of requests: %d of %d failed", l.ErrorCount, l.Requests+l.ErrorCount)
	}
	return ""
}

// printReport writes the report as JSON or text. A run that failed before
// measuring anything has no text report: its error says it all.
func printReport(w io.Writer, c *benchConfig, r *benchReport) error {
	if c.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		return nil
	}
	if r.Requests+r.ErrorCount == 0 && r.Baseline == nil {
		return nil
	}
	p := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-12s%s\n", label, fmt.Sprintf(format, args...))
	}
	kinds := map[string]string{"submit": "single-job requests", "batch": "batch requests", "e2e": "submit until succeeded", "recovery": "fill, SIGKILL, restart"}
	fmt.Fprintf(w, "ticketq bench: %s mode (%s)\n", r.Mode, kinds[r.Mode])
	if s := r.Spawned; s != nil {
		dir := "removed"
		if r.KeptDataDir != "" {
			dir = "kept"
		}
		flags := strings.Join(s.Flags, " ")
		if flags == "" {
			flags = "none"
		}
		p("server", "spawned %s (data %s, %s; server flags: %s)", s.Addr, s.DataDir, dir, flags)
	} else {
		p("server", "%s", r.Server)
	}
	st := r.Settings
	p("settings", "%s", settingsLine(r.Mode, st))
	if b := r.Baseline; b != nil {
		p("baseline", "bench-target %s: %s req/s (%s requests in %.2fs); ack p50 %s p99 %s; errors %s",
			b.Target, num(b.RequestsPerS), commas(b.Requests), b.ElapsedS, fmtMS(b.Latency.P50), fmtMS(b.Latency.P99), errorSummary(&b.loadReport))
	}
	switch {
	case r.Recovery != nil:
		printRecovery(p, r)
	case r.E2E != nil:
		printE2E(p, r)
	default:
		if st.Batch > 1 {
			p("throughput", "%s jobs/s, %s req/s (%s jobs acked in %.2fs, %s requests)", num(r.JobsPerS), num(r.RequestsPerS), commas(r.Acked), r.ElapsedS, commas(r.Requests))
		} else {
			p("throughput", "%s jobs/s (%s acked in %.2fs)", num(r.JobsPerS), commas(r.Acked), r.ElapsedS)
		}
		p("latency", "%s  (submit → ack, per request)", latencyLine(r.Latency))
	}
	p("errors", "%s", errorSummary(&r.loadReport))
	if r.ServerRSSPeak > 0 {
		p("server rss", "%s peak (VmHWM)", mib(r.ServerRSSPeak))
	}
	if b := r.Baseline; b != nil && b.RequestsPerS > 0 {
		mine := num(r.JobsPerS) + " jobs/s"
		if st.Batch > 1 {
			mine = num(r.RequestsPerS) + " req/s = " + mine
		}
		p("ceiling", "ticketq reached %.1f%% of the HTTP ceiling measured seconds before (%s vs %s req/s)", 100*b.Ratio, mine, num(b.RequestsPerS))
	}
	if r.ServerExit != "" {
		p("server exit", "%s", strings.TrimSpace(r.ServerExit))
	}
	if r.KeptDataDir != "" {
		p("kept", "%s", r.KeptDataDir)
	}
	p("command", "%s", r.Command)
	if r.OK {
		p("result", "ok")
	} else {
		p("result", "FAILED: %s", r.Failure)
	}
	return nil
}

func settingsLine(mode string, st benchSettings) string {
	if mode == "recovery" {
		return fmt.Sprintf("count %s, payload %d B, filled by %d clients in batches of %s, queue %q",
			commas(st.Count), st.PayloadBytes, st.Concurrency, commas(int64(st.Batch)), st.Queue)
	}
	parts := []string{fmt.Sprintf("concurrency %d", st.Concurrency), fmt.Sprintf("payload %d B", st.PayloadBytes)}
	if st.Batch > 1 {
		parts = append(parts, fmt.Sprintf("batch %d", st.Batch))
	}
	if st.Rate > 0 {
		parts = append(parts, fmt.Sprintf("offered %s jobs/s", commas(int64(st.Rate))))
	}
	if st.DurationS > 0 {
		parts = append(parts, fmt.Sprintf("duration %gs", st.DurationS))
	}
	if st.Count > 0 {
		parts = append(parts, "count "+commas(st.Count))
	}
	return strings.Join(append(parts, fmt.Sprintf("queue %q", st.Queue)), ", ")
}

func printE2E(p func(string, string, ...any), r *benchReport) {
	e := r.E2E
	if e.Pull > 0 {
		p("workers", "client Workers in this process, total concurrency %d (pull queue)", e.Pull)
	}
	p("submitted", "%s jobs/s (%s acked in %.2fs)", num(e.SubmittedPerS), commas(r.Acked), r.ElapsedS)
	p("completed", "%s jobs/s (%s succeeded during the load)", num(e.CompletedPerS), commas(e.Completed))
	verdict := "not growing"
	if e.BacklogGrowing {
		verdict = "GROWING"
	}
	p("backlog", "queued at start %s, at end %s, max %s; trend %+.1f jobs/s: %s",
		commas(int64(e.BacklogStart)), commas(int64(e.BacklogEnd)), commas(int64(e.BacklogMax)), e.BacklogTrend, verdict)
	if e.Drained {
		p("drain", "every acked job succeeded %.2fs after the load", e.DrainS)
	} else {
		p("drain", "%s acked jobs had not succeeded %.1fs after the load", commas(e.Left), e.DrainS)
	}
	p("e2e latency", "%s  (submit → succeeded; %s jobs followed, 1 in %d; %d unfinished)", latencyLine(e.Latency), commas(e.Sampled), sampleEvery, e.Unfinished)
	p("ack latency", "%s  (submit → ack)", latencyLine(r.Latency))
}

func printRecovery(p func(string, string, ...any), r *benchReport) {
	rc := r.Recovery
	p("fill", "%s jobs in %.2fs (%s jobs/s, batches of %s); %s queued at the SIGKILL",
		commas(rc.Jobs), rc.FillS, num(rc.FillJobsPerS), commas(int64(r.Settings.Batch)), commas(int64(rc.QueuedAtKill)))
	p("ready", "%.3fs after the restart's process start (/readyz 200)", rc.ReadyS)
	p("first run", "%.3fs after the process start", rc.FirstRunS)
	if rc.Drained {
		p("drain", "%s jobs in %.2fs once ready (%s jobs/s); all done %.2fs after the process start", commas(rc.Jobs), rc.DrainS, num(rc.DrainJobsPerS), rc.DoneS)
	} else {
		p("drain", "%s jobs had not succeeded %.1fs after the process start", commas(rc.Left), rc.DoneS)
	}
	p("rss", "%s peak during recovery (VmHWM at ready), %s peak while draining", mib(rc.RSSRecoveryPeak), mib(rc.RSSDrainPeak))
	p("fill ack", "%s  (per batch)", latencyLine(r.Latency))
}

func latencyLine(l latencyReport) string {
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s", fmtMS(l.P50), fmtMS(l.P90), fmtMS(l.P99), fmtMS(l.P999), fmtMS(l.Max))
}

// errorSummary lists the failed requests by kind, with the first message
// of each kind.
func errorSummary(l *loadReport) string {
	if l.ErrorCount == 0 {
		return "none"
	}
	var parts []string
	for _, k := range sortedKeys(l.Errors) {
		parts = append(parts, fmt.Sprintf("%s: %s (first: %s)", k, commas(l.Errors[k]), l.ErrorFirst[k]))
	}
	return fmt.Sprintf("%s of %s requests (%.2f%%): %s", commas(l.ErrorCount), commas(l.Requests+l.ErrorCount), 100*l.ErrorRate, strings.Join(parts, "; "))
}

// fmtMS shows a duration in milliseconds with three significant digits.
func fmtMS(ms float64) string {
	switch {
	case ms < 1:
		return fmt.Sprintf("%.0fµs", ms*1000)
	case ms < 10:
		return fmt.Sprintf("%.2fms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1fms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.0fms", ms)
	}
	return fmt.Sprintf("%.2fs", ms/1000)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func num(f float64) string { return commas(int64(math.Round(f))) }

// commas writes n with thousands separators: 1234567 → 1,234,567.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
