package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

// series builds n samples with f(i) as the value of sample i.
func series(n int, f func(i int) float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = f(i)
	}
	return v
}

// noise is a fixed, repeatable jitter in [-1, 1] (no random source, so
// the table's outcome never depends on a seed).
func noise(i int) float64 { return math.Sin(float64(i) * 12.9898 * 43758.5453) }

// Ensure that judge passes a process that holds steady, however noisy or
// oscillating, and fails one that keeps growing by more than its
// tolerance, with the tolerances the soak uses.
func TestJudge(t *testing.T) {
	rss := tolerance{0.20, 16 * mib}
	gor := tolerance{0.20, 25}
	fds := tolerance{0.20, 16}
	// 96 samples: a 10-minute run sampled every 5s after its 2-minute
	// warm-up.
	const n = 96
	for _, c := range []struct {
		name    string
		values  []float64
		tol     tolerance
		growing bool
	}{
		{"Flat/Goroutines", series(n, func(int) float64 { return 80 }), gor, false},
		{"Flat/FDs", series(n, func(int) float64 { return 24 }), fds, false},
		// In-flight requests at the sample instant: ±30 around 90.
		{"NoisyFlat/Goroutines", series(n, func(i int) float64 { return 90 + 30*noise(i) }), gor, false},
		// GC cycles: anon RSS anywhere between 40 and 80 MiB.
		{"NoisyFlat/RSS", series(n, func(i int) float64 { return (60 + 20*noise(i)) * mib }), rss, false},
		// The WAL trims the mapping above 48 MiB: a sawtooth from 8 MiB
		// up to 48 MiB and back, one tooth every 20 samples.
		{"OscillatingFileRSS", series(n, func(i int) float64 { return (8 + 40*float64(i%20)/19) * mib }), rss, false},
		// A sawtooth whose trim comes late in the run: every tooth is
		// still under the limit.
		{"OscillatingFileRSS/Phase", series(n, func(i int) float64 { return (8 + 40*float64((i+13)%37)/36) * mib }), rss, false},
		// A burst of connections in the first half only.
		{"Spike", series(n, func(i int) float64 {
			if i > 10 && i < 16 {
				return 400
			}
			return 100
		}), gor, false},
		{"Shrinking", series(n, func(i int) float64 { return float64(200 - i) }), gor, false},
		// One leaked goroutine per long-poll that times out, about one a
		// second: 5 per sample.
		{"SteadyLeak/Goroutines", series(n, func(i int) float64 { return 100 + 5*float64(i) + 10*noise(i) }), gor, true},
		// 1 MiB a sample: 12 MiB a minute.
		{"SteadyLeak/RSS", series(n, func(i int) float64 { return (50 + float64(i) + 8*noise(i)) * mib }), rss, true},
		// A socket leaked every other sample.
		{"SteadyLeak/FDs", series(n, func(i int) float64 { return 20 + float64(i)/2 }), fds, true},
		// A file RSS that is never trimmed: it climbs past 48 MiB.
		{"UntrimmedFileRSS", series(n, func(i int) float64 { return (10 + float64(i)) * mib }), rss, true},
		// The shortest run judged: four samples.
		{"Short/Flat", []float64{50, 52, 49, 51}, gor, false},
		{"Short/Leak", []float64{50, 52, 150, 160}, gor, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := judge(c.values, c.tol)
			if err != nil {
				t.Fatal(err)
			}
			if got.growing != c.growing {
				t.Fatalf("growing = %v, want %v (early %.0f, late %.0f, limit %.0f)", got.growing, c.growing, got.early, got.late, got.limit)
			}
		})
	}
}

// Ensure that judge refuses to decide on fewer than minMeasured samples.
func TestJudge_TooFewSamples(t *testing.T) {
	if _, err := judge([]float64{1, 2, 3}, tolerance{0.2, 1}); err == nil || !strings.Contains(err.Error(), "at least 4") {
		t.Fatalf("err = %v, want a refusal", err)
	}
}

// Ensure that median takes the middle value, or the mean of the two
// middle ones, and leaves its input in order.
func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		in := append([]float64(nil), c.in...)
		if got := median(in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Fatalf("median reordered its input: %v", in)
			}
		}
	}
}

// Ensure that the warm-up is 30s or a fifth of the run, the longer.
func TestWarmup(t *testing.T) {
	for d, want := range map[time.Duration]time.Duration{90 * time.Second: 30 * time.Second, 10 * time.Minute: 2 * time.Minute} {
		if got := warmup(d); got != want {
			t.Errorf("warmup(%s) = %s, want %s", d, got, want)
		}
	}
}

// Ensure that the /proc status and goroutine profile parsers read the
// figures the samples need and refuse what is not there.
func TestParse(t *testing.T) {
	status := "Name:\tticketq\nVmRSS:\t   51200 kB\nRssAnon:\t   40960 kB\nRssFile:\t   10240 kB\nRssShmem:\t       0 kB\n"
	rss, anon, file, err := parseStatus(strings.NewReader(status))
	if err != nil || rss != 50*mib || anon != 40*mib || file != 10*mib {
		t.Fatalf("parseStatus = %d %d %d %v", rss, anon, file, err)
	}
	if _, _, _, err := parseStatus(strings.NewReader("VmRSS:\t1 kB\n")); err == nil {
		t.Fatal("parseStatus took a status without RssAnon and RssFile")
	}
	if n, err := parseGoroutineTotal("goroutine profile: total 123\n"); err != nil || n != 123 {
		t.Fatalf("parseGoroutineTotal = %d, %v", n, err)
	}
	if _, err := parseGoroutineTotal("<html>"); err == nil {
		t.Fatal("parseGoroutineTotal took a page without a total")
	}
}

// Ensure that count separates thousands.
func TestCount(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 179820: "179,820", 1234567: "1,234,567", -1500: "-1,500"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}
