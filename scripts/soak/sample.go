package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// sample is one reading of the server process, with the load's counters at
// that moment.
type sample struct {
	at       time.Duration // since the load started
	measured bool          // taken after warm-up
	// The process, from /proc/PID/status, /proc/PID/fd and the profiler.
	rss, rssAnon, rssFile int64 // bytes
	goroutines            int
	fds                   int
	// The load, cumulative.
	submitted int64 // submit calls made
	acked     int64 // submits answered 202 (the ledger's size)
	ops       int64 // calls of every kind answered, whatever the outcome
	failures  int64 // calls that count against the verdict
}

// probe reads samples of one process.
type probe struct {
	pid int
	// goroutineURL is the profiler's goroutine page, whose first line is
	// "goroutine profile: total N".
	goroutineURL string
	http         *http.Client
}

func newProbe(pid int, pprofAddr string) *probe {
	return &probe{
		pid:          pid,
		goroutineURL: "http://" + pprofAddr + "/debug/pprof/goroutine?debug=1",
		http:         &http.Client{Timeout: 10 * time.Second},
	}
}

// read fills the process part of a sample. The profiler's request is itself
// one goroutine of the count, the same one every time.
func (p *probe) read(ctx context.Context) (sample, error) {
	var s sample
	var err error
	if s.rss, s.rssAnon, s.rssFile, err = readRSS(p.pid); err != nil {
		return s, err
	}
	if s.fds, err = countFDs(p.pid); err != nil {
		return s, err
	}
	if s.goroutines, err = p.goroutines(ctx); err != nil {
		return s, err
	}
	return s, nil
}

// readRSS returns VmRSS, RssAnon and RssFile of a process in bytes.
func readRSS(pid int) (rss, anon, file int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("read rss: %w", err)
	}
	defer f.Close()
	return parseStatus(f)
}

// parseStatus reads the RSS lines of a /proc/PID/status, whose sizes are
// in kB ("VmRSS:\t  123456 kB").
func parseStatus(r io.Reader) (rss, anon, file int64, err error) {
	found := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch name {
		case "VmRSS":
			dst = &rss
		case "RssAnon":
			dst = &anon
		case "RssFile":
			dst = &file
		default:
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("parse %s in /proc status: %w", name, err)
		}
		*dst = kb << 10
		found++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, 0, fmt.Errorf("read /proc status: %w", err)
	}
	if found != 3 {
		return 0, 0, 0, fmt.Errorf("/proc status: found %d of VmRSS, RssAnon, RssFile", found)
	}
	return rss, anon, file, nil
}

// countFDs counts the open file descriptors of a process.
func countFDs(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, fmt.Errorf("count fds: %w", err)
	}
	return len(ents), nil
}

// goroutines asks the profiler for the process's goroutine count.
func (p *probe) goroutines(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.goroutineURL, nil)
	if err != nil {
		return 0, fmt.Errorf("goroutine profile: %w", err)
	}
	res, err := p.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("goroutine profile: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("goroutine profile: %s", res.Status)
	}
	// Only the first line is needed; the rest (every stack) is drained so
	// that the connection can be reused.
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	_, _ = io.Copy(io.Discard, res.Body)
	if err != nil {
		return 0, fmt.Errorf("goroutine profile: %w", err)
	}
	return parseGoroutineTotal(line)
}

// parseGoroutineTotal reads "goroutine profile: total N".
func parseGoroutineTotal(line string) (int, error) {
	const prefix = "goroutine profile: total "
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), prefix)
	if !ok {
		return 0, fmt.Errorf("goroutine profile: first line %q has no total", line)
	}
	n, err := strconv.Atoi(rest)
	if err != nil {
		return 0, fmt.Errorf("goroutine profile: total %q: %w", rest, err)
	}
	return n, nil
}

// progressLine is the live report of one sample, with the operation rate
// since the previous one.
func progressLine(s, prev sample) string {
	rate := 0.0
	if dt := (s.at - prev.at).Seconds(); dt > 0 {
		rate = float64(s.ops-prev.ops) / dt
	}
	phase := "warm-up"
	if s.measured {
		phase = "measure"
	}
	return fmt.Sprintf("%7s %-7s submitted %d acked %d ops/s %.0f rss %.1f MiB (anon %.1f file %.1f) goroutines %d fds %d failures %d",
		s.at.Round(time.Second), phase, s.submitted, s.acked, rate,
		float64(s.rss)/mib, float64(s.rssAnon)/mib, float64(s.rssFile)/mib, s.goroutines, s.fds, s.failures)
}

// writeCSV writes every sample, one row each, with sizes in bytes.
func writeCSV(path string, samples []sample) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write samples: %w", err)
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"elapsed_s", "measured", "rss_bytes", "rss_anon_bytes", "rss_file_bytes", "goroutines", "fds", "submitted", "acked", "ops", "failures"})
	for _, s := range samples {
		_ = w.Write([]string{
			strconv.FormatFloat(s.at.Seconds(), 'f', 1, 64), strconv.FormatBool(s.measured),
			strconv.FormatInt(s.rss, 10), strconv.FormatInt(s.rssAnon, 10), strconv.FormatInt(s.rssFile, 10),
			strconv.Itoa(s.goroutines), strconv.Itoa(s.fds),
			strconv.FormatInt(s.submitted, 10), strconv.FormatInt(s.acked, 10),
			strconv.FormatInt(s.ops, 10), strconv.FormatInt(s.failures, 10),
		})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		_ = f.Close()
		return fmt.Errorf("write samples %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write samples %s: %w", path, err)
	}
	return nil
}
