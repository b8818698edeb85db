package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticketq/ticketq/client"
	"github.com/ticketq/ticketq/internal/ratelimit"
)

// loadSpec is one run of the load generator: concurrency clients, each
// sending one request at a time, until duration has passed or count jobs
// were acked, whichever comes first.
type loadSpec struct {
	label       string // progress line prefix: "baseline", "fill" or ""
	server      string
	access      clientAccess
	queue       string
	concurrency int
	// batch is the number of jobs per request; single sends each job
	// alone with client.Submit, otherwise client.SubmitBatch is used.
	batch    int
	single   bool
	payload  json.RawMessage
	duration time.Duration // 0: no limit (count must be set)
	count    int64         // jobs; 0: no limit
	// rate caps the jobs offered per second across all clients (0: as
	// fast as the server answers), for a load of fixed size.
	rate float64
	// onAck is told about every acked request: the ordinal of its first
	// job among all acked jobs, the receipts, and when it was sent. It may
	// be nil; e2e uses it to pick the jobs it follows to the end.
	onAck func(first int64, rs []client.Receipt, sent time.Time)
	// extra is appended to the progress line; it may be nil.
	extra func() string
}

// loadResult is what a run of the load generator measured.
type loadResult struct {
	elapsed  time.Duration
	requests int64 // acked requests
	jobs     int64 // acked jobs
	latency  *histogram
	errors   *errorCounts
	// gaveUp says why a run stopped before its duration or count.
	gaveUp string
}

// maxErrorsWithoutDuration stops a run that has only a count: without it, a
// server that refuses every request would keep it spinning forever.
const maxErrorsWithoutDuration = 1000

// newLoadClient returns a client for one load run: no retries, because a
// retry would hide the failure and count one ack for two requests, and a
// connection pool as large as the concurrency, so that no request waits
// for a connection or opens a new one after the first round.
func newLoadClient(server string, access clientAccess, conns int, retries int) (*client.Client, *http.Transport, error) {
	tr := &http.Transport{
		TLSClientConfig:     access.tls.Clone(),
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	c, err := client.New(server, client.Options{HTTPClient: &http.Client{Transport: tr}, Retries: retries, UserAgent: "ticketq-bench", Token: access.token})
	if err != nil {
		tr.CloseIdleConnections()
		return nil, nil, fmt.Errorf("load client: %w", err)
	}
	return c, tr, nil
}

// benchPayload is a JSON string of exactly size bytes, quotes included.
func benchPayload(size int) json.RawMessage {
	return json.RawMessage(`"` + strings.Repeat("x", size-2) + `"`)
}

// runLoad runs the load generator. A request still in flight when the
// duration ends is waited for and counted, so that every job the server
// acked is in the result; only the end of ctx (an interrupt) abandons them.
func runLoad(ctx context.Context, spec loadSpec, stderr io.Writer) (*loadResult, error) {
	c, tr, err := newLoadClient(spec.server, spec.access, spec.concurrency+4, -1)
	if err != nil {
		return nil, err
	}
	defer tr.CloseIdleConnections()
	res := &loadResult{latency: &histogram{}, errors: newErrorCounts()}
	var (
		claimed, acked, requests atomic.Int64
		stopOnce                 sync.Once
		stop                     = make(chan struct{})
		gaveUp                   atomic.Value
	)
	halt := func(why string) {
		stopOnce.Do(func() {
			if why != "" {
				gaveUp.Store(why)
			}
			close(stop)
		})
	}
	stopped := func() bool {
		select {
		case <-stop:
			return true
		case <-ctx.Done():
			return true
		default:
			return false
		}
	}
	// claim reserves up to want jobs of the count, so that the clients
	// together never send more than count; a failed request gives its
	// jobs back.
	claim := func(want int64) int64 {
		if spec.count == 0 {
			return want
		}
		for {
			cur := claimed.Load()
			if cur >= spec.count {
				return 0
			}
			n := min(want, spec.count-cur)
			if claimed.CompareAndSwap(cur, cur+n) {
				return n
			}
		}
	}
	subs := make([]client.Submission, spec.batch)
	for i := range subs {
		subs[i] = client.Submission{Payload: spec.payload}
	}

	progress := startProgress(stderr, spec.label, acked.Load, func(rate float64) string {
		s := fmt.Sprintf("acked %d %.0f/s errors %d", acked.Load(), rate, res.errors.total.Load())
		if spec.extra != nil {
			s += " " + spec.extra()
		}
		return s
	})
	defer progress()
	start := time.Now()
	if spec.duration > 0 {
		t := time.AfterFunc(spec.duration, func() { halt("") })
		defer t.Stop()
	}
	// A rate paces the requests with the server's own token bucket; a whole
	// batch waits for its tokens, so the offered load is jobs per second.
	var pace *ratelimit.Bucket
	if spec.rate > 0 {
		pace = ratelimit.New(spec.rate, max(spec.batch, int(spec.rate/20)))
	}
	var paceMu sync.Mutex
	waitTurn := func(n int) bool {
		if pace == nil {
			return true
		}
		paceMu.Lock()
		defer paceMu.Unlock()
		for got := 0; got < n; {
			took, wait := pace.Take(time.Now(), n-got)
			got += took
			if got < n {
				select {
				case <-ctx.Done():
					return false
				case <-time.After(max(wait, time.Millisecond)):
				}
			}
		}
		return !stopped()
	}
	var wg sync.WaitGroup
	for range spec.concurrency {
		wg.Go(func() {
			for !stopped() {
				n := claim(int64(spec.batch))
				if n == 0 {
					return
				}
				if !waitTurn(int(n)) {
					claimed.Add(-n)
					return
				}
				sent := time.Now()
				var rs []client.Receipt
				var err error
				if spec.single {
					var rc client.Receipt
					if rc, err = c.Submit(ctx, spec.queue, subs[0]); spec.onAck != nil {
						rs = []client.Receipt{rc}
					}
				} else {
					rs, err = c.SubmitBatch(ctx, spec.queue, subs[:n])
				}
				if err != nil {
					claimed.Add(-n)
					if ctx.Err() != nil {
						return // interrupted: not the server's failure
					}
					res.errors.add(err)
					if spec.duration == 0 && res.errors.total.Load() >= maxErrorsWithoutDuration {
						halt(fmt.Sprintf("gave up after %d failed requests", maxErrorsWithoutDuration))
					}
					continue
				}
				res.latency.record(time.Since(sent))
				first := acked.Add(n) - n
				requests.Add(1)
				if spec.onAck != nil {
					spec.onAck(first, rs, sent)
				}
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	halt("")
	res.requests, res.jobs = requests.Load(), acked.Load()
	if why, ok := gaveUp.Load().(string); ok {
		res.gaveUp = why
	}
	return res, nil
}

// loadReport is a load run as --json shows it.
type loadReport struct {
	ElapsedS     float64           `json:"elapsed_s"`
	Requests     int64             `json:"requests"`
	Acked        int64             `json:"acked"`
	RequestsPerS float64           `json:"requests_per_s"`
	JobsPerS     float64           `json:"jobs_per_s"`
	Latency      latencyReport     `json:"latency_ms"`
	Errors       map[string]int64  `json:"errors"`
	ErrorCount   int64             `json:"error_count"`
	ErrorRate    float64           `json:"error_rate"`
	ErrorFirst   map[string]string `json:"error_first,omitempty"`
	GaveUp       string            `json:"gave_up,omitempty"`
}

func (r *loadResult) report() loadReport {
	counts, first := r.errors.snapshot()
	n := r.errors.total.Load()
	rep := loadReport{
		ElapsedS:   r.elapsed.Seconds(),
		Requests:   r.requests,
		Acked:      r.jobs,
		Latency:    r.latency.report(),
		Errors:     counts,
		ErrorCount: n,
		ErrorFirst: first,
		GaveUp:     r.gaveUp,
	}
	if s := r.elapsed.Seconds(); s > 0 {
		rep.RequestsPerS, rep.JobsPerS = float64(r.requests)/s, float64(r.jobs)/s
	}
	if all := r.requests + n; all > 0 {
		rep.ErrorRate = float64(n) / float64(all)
	}
	return rep
}
