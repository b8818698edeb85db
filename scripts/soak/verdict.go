package main

import (
	"fmt"
	"slices"
	"time"
)

// minMeasured is the fewest post-warm-up samples a verdict is drawn from:
// two per half, so that each median is more than one reading.
const minMeasured = 4

// tolerance is how far a metric may rise, from the first half of the
// measured samples to the second, before it counts as growing: rel of the
// early median plus abs, in the metric's own unit. The relative part scales
// with the process (a bigger heap wobbles more in bytes); the absolute part
// keeps a small baseline (a dozen fds, 60 goroutines) from failing on a
// handful of connections that happened to be open at sample time.
type tolerance struct {
	rel float64
	abs float64
}

// trend is the verdict on one metric.
type trend struct {
	early   float64 // median of the first half of the measured samples
	late    float64 // median of the second half
	limit   float64 // the largest late median that is not growth
	growing bool
}

// judge decides whether values, one metric's samples taken after warm-up in
// time order, keep growing: whether the median of the second half exceeds
// the median of the first half by more than tol. Medians, not means or a
// fitted slope, because the samples are instants of a busy process: a GC
// cycle, a burst of connections or the WAL's mmap trim move one sample a
// lot and a median not at all, while a leak moves every later sample. With
// an odd count the middle sample belongs to neither half. It is pure, so
// the verdict can be tested on made-up series.
func judge(values []float64, tol tolerance) (trend, error) {
	n := len(values)
	if n < minMeasured {
		return trend{}, fmt.Errorf("%d samples after warm-up; a verdict needs at least %d (run longer or sample more often)", n, minMeasured)
	}
	t := trend{early: median(values[:n/2]), late: median(values[n-n/2:])}
	t.limit = t.early*(1+tol.rel) + tol.abs
	t.growing = t.late > t.limit
	return t, nil
}

// median returns the middle value of v (the mean of the two middle ones
// for an even count), without reordering v. It is 0 for no values.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// mib is a mebibyte, the unit of the RSS slack.
const mib = 1 << 20

// metric is one sampled quantity of the server process and how much it may
// rise during the measured part of the run.
type metric struct {
	name string
	tol  tolerance
	// value reads the metric from a sample.
	value func(sample) float64
	// bytes formats the value as a size.
	bytes bool
}

// metrics are the quantities judged, with their tolerances. Why these:
//
//   - rss_anon is the Go heap and stacks, where a leak of jobs, waiters or
//     buffers shows. The runtime lets the heap reach twice the live data
//     before collecting (GOGC=100) and returns freed pages to the OS
//     lazily, so a sample can sit anywhere in that band: 20% covers the
//     band's drift as the retained-job count grows and 16 MiB covers
//     allocator and fragmentation noise of a small (~30-60 MiB) process.
//   - rss_file is the bbolt mmap's resident pages. The database grows all
//     run (jobs are retained for 24 h), but the WAL drops the mapping's
//     resident pages whenever they pass 48 MiB, so a healthy series is a
//     sawtooth below ~48 MiB whose halves have similar medians; the same
//     20% + 16 MiB allows a sawtooth that is still settling, and a file RSS
//     that is not being trimmed still climbs past it.
//   - rss is their sum plus shared pages, what an operator's dashboard
//     shows. It gets the two slacks added (32 MiB), because each part may
//     use its own.
//   - goroutines: each in-flight request and each keep-alive connection
//     holds one or two, and the load's concurrency at the sample instant
//     varies by a few dozen (submitters, long-polls about to answer,
//     waiters), hence 25 plus 20%. A leak of one goroutine per timed-out
//     long-poll (about one a second here) passes that within minutes.
//   - fds: each client connection is a socket; the client's pool opens and
//     closes a few as concurrency moves and abandoned long-polls drop
//     theirs, hence 16 plus 20%. The data files are a fixed handful.
var metrics = []metric{
	{name: "rss", tol: tolerance{0.20, 32 * mib}, value: func(s sample) float64 { return float64(s.rss) }, bytes: true},
	{name: "rss_anon", tol: tolerance{0.20, 16 * mib}, value: func(s sample) float64 { return float64(s.rssAnon) }, bytes: true},
	{name: "rss_file", tol: tolerance{0.20, 16 * mib}, value: func(s sample) float64 { return float64(s.rssFile) }, bytes: true},
	{name: "goroutines", tol: tolerance{0.20, 25}, value: func(s sample) float64 { return float64(s.goroutines) }},
	{name: "fds", tol: tolerance{0.20, 16}, value: func(s sample) float64 { return float64(s.fds) }},
}

// format renders a value of m in its unit.
func (m metric) format(v float64) string {
	if m.bytes {
		return fmt.Sprintf("%.1f MiB", v/mib)
	}
	return fmt.Sprintf("%.0f", v)
}

// judged is the verdict on one metric over a run.
type judged struct {
	metric
	trend
}

// judgeAll applies judge to every metric over the measured samples.
func judgeAll(measured []sample) ([]judged, error) {
	out := make([]judged, 0, len(metrics))
	for _, m := range metrics {
		v := make([]float64, len(measured))
		for i, s := range measured {
			v[i] = m.value(s)
		}
		t, err := judge(v, m.tol)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
		out = append(out, judged{m, t})
	}
	return out, nil
}

// warmup is how much of the start of a run is not judged: the first 30 s
// or 20% of the run, whichever is longer. The server's heap, connection
// pool and bbolt's mapping grow to their working size first, and that
// growth is not a leak.
func warmup(d time.Duration) time.Duration {
	return max(30*time.Second, d/5)
}
