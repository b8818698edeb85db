package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticketq/ticketq/client"
)

// The histogram keeps 128 buckets per power of two of nanoseconds, the
// layout of HDR Histogram at two significant digits: a percentile read
// from it is at most 1/128 (0.8%) above the recorded value, and it takes a
// fixed 57 KiB however long the run, where a slice of every sample would
// grow by 8 bytes per request.
const (
	histSubBits = 7
	histSub     = 1 << histSubBits
	histBuckets = (64 - histSubBits) * histSub
)

// histogram records durations. It is safe for concurrent use: every
// client records into the same one with atomic adds, which at tens of
// thousands of requests per second cost less than merging per-client
// copies would.
type histogram struct {
	counts [histBuckets]atomic.Int64
	n      atomic.Int64
	max    atomic.Int64
}

// bucketOf maps a duration in nanoseconds to its bucket: exact below 256 ns,
// then 128 equal buckets per power of two.
func bucketOf(v int64) int {
	if v < 2*histSub {
		return int(max(v, 0))
	}
	shift := bits.Len64(uint64(v)) - histSubBits - 1
	return (shift+1)*histSub + int(v>>shift) - histSub
}

// bucketTop is the largest value that falls into bucket i.
func bucketTop(i int) int64 {
	if i < 2*histSub {
		return int64(i)
	}
	shift := i/histSub - 1
	sub := int64(i%histSub + histSub)
	return (sub+1)<<shift - 1
}

func (h *histogram) record(d time.Duration) {
	v := int64(d)
	h.counts[bucketOf(v)].Add(1)
	h.n.Add(1)
	for m := h.max.Load(); v > m && !h.max.CompareAndSwap(m, v); m = h.max.Load() {
	}
}

// quantile returns the duration below which a fraction q of the samples
// lie (the top of its bucket, never above the maximum); 0 with no samples.
func (h *histogram) quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := max(int64(math.Ceil(q*float64(n))), 1)
	var seen int64
	for i := range h.counts {
		if seen += h.counts[i].Load(); seen >= rank {
			return time.Duration(min(bucketTop(i), h.max.Load()))
		}
	}
	return time.Duration(h.max.Load())
}

// latencyReport is a histogram's summary, in milliseconds for --json.
type latencyReport struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

func (h *histogram) report() latencyReport {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return latencyReport{
		Count: h.n.Load(),
		P50:   ms(h.quantile(0.50)),
		P90:   ms(h.quantile(0.90)),
		P99:   ms(h.quantile(0.99)),
		P999:  ms(h.quantile(0.999)),
		Max:   ms(time.Duration(h.max.Load())),
	}
}

// errorCounts counts failed requests by kind: "STATUS code" for an answer
// of the server (an *client.APIError), "network" for everything else. It
// keeps the first message of each kind, because "network" alone does not
// say whether the server was refusing connections or timing out.
type errorCounts struct {
	total atomic.Int64
	mu    sync.Mutex
	count map[string]int64
	first map[string]string
}

func newErrorCounts() *errorCounts {
	return &errorCounts{count: map[string]int64{}, first: map[string]string{}}
}

func (e *errorCounts) add(err error) {
	key := errorKind(err)
	e.total.Add(1)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.count[key]++; e.count[key] == 1 {
		e.first[key] = err.Error()
	}
}

// errorKind names the kind of a failed request.
func errorKind(err error) string {
	var ae *client.APIError
	if !errors.As(err, &ae) {
		return "network"
	}
	code := ae.Code
	if code == "" {
		code = strings.ToLower(strings.ReplaceAll(http.StatusText(ae.Status), " ", "_"))
	}
	return fmt.Sprintf("%d %s", ae.Status, code)
}

// snapshot returns copies of the counts and first messages.
func (e *errorCounts) snapshot() (map[string]int64, map[string]string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	count := make(map[string]int64, len(e.count))
	first := make(map[string]string, len(e.first))
	for k, v := range e.count {
		count[k], first[k] = v, e.first[k]
	}
	return count, first
}

// sortedKeys returns m's keys, most frequent first.
func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}

// startProgress prints a progress line once a second until the returned
// function is called: on a terminal one line rewritten in place with \r,
// elsewhere (a log, a CI job) one plain line per second. line returns the
// text after the elapsed time; rate is the per-second rate of count.
func startProgress(w io.Writer, label string, count func() int64, line func(rate float64) string) (stop func()) {
	live := isTerminal(w)
	if label != "" {
		label += " "
	}
	start := time.Now()
	tick := time.NewTicker(time.Second)
	quit, done := make(chan struct{}), make(chan struct{})
	printed := false // read after done closes
	go func() {
		defer close(done)
		last, lastAt := count(), start
		for {
			select {
			case <-quit:
				return
			case now := <-tick.C:
				n := count()
				rate := float64(n-last) / now.Sub(lastAt).Seconds()
				last, lastAt = n, now
				text := fmt.Sprintf("%s%.1fs %s", label, now.Sub(start).Seconds(), line(rate))
				printed = true
				if live {
					fmt.Fprintf(w, "\r%-79s", text)
				} else {
					fmt.Fprintln(w, text)
				}
			}
		}
	}()
	return func() {
		tick.Stop()
		close(quit)
		<-done
		if live && printed {
			fmt.Fprintln(w)
		}
	}
}
