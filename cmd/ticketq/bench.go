package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// bench is the load generator: concurrent clients submit single jobs for a
// duration, then it prints throughput and ack-latency percentiles. It shows
// a live line while it runs. (Issue 4 grows it: batch, e2e and recovery modes.)
func bench(ctx context.Context, args []string, env map[string]string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ticketq bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := serverFlag(fs, env)
	queue := fs.String("queue", "bench", "queue to submit to (no executor: jobs stay queued)")
	concurrency := fs.Int("concurrency", 64, "concurrent clients")
	duration := fs.Duration("duration", 10*time.Second, "how long to submit")
	size := fs.Int("payload", 200, "payload size in bytes")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if *concurrency < 1 || *duration <= 0 || *size < 16 || fs.NArg() > 0 {
		return usageError{errors.New("want --concurrency ≥ 1, --duration > 0, --payload ≥ 16 and no arguments")}
	}
	body := []byte(`{"payload":"` + strings.Repeat("x", *size-16) + `"}`)
	url := strings.TrimRight(*server, "/") + "/v1/queues/" + *queue + "/jobs"
	tr := &http.Transport{MaxIdleConnsPerHost: *concurrency, MaxConnsPerHost: *concurrency}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	var acked, failed atomic.Int64
	var mu sync.Mutex
	statuses := map[string]int{}
	lat := make([][]time.Duration, *concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range *concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
						mu.Lock()
						statuses["network error"]++
						mu.Unlock()
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					acked.Add(1)
					lat[i] = append(lat[i], time.Since(t0))
					continue
				}
				failed.Add(1)
				mu.Lock()
				statuses[resp.Status]++
				mu.Unlock()
			}
		}()
	}
	live := isTerminal(stderr)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	last, lastAt := int64(0), start
loop:
	for {
		select {
		case <-done:
			break loop
		case now := <-tick.C:
			n := acked.Load()
			line := fmt.Sprintf("%5.1fs  acked %d  %.0f/s  errors %d", now.Sub(start).Seconds(), n, float64(n-last)/now.Sub(lastAt).Seconds(), failed.Load())
			last, lastAt = n, now
			if live {
				fmt.Fprintf(stderr, "\r%-60s", line)
			} else {
				fmt.Fprintln(stderr, line)
			}
		}
	}
	if live {
		fmt.Fprintln(stderr)
	}
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(int(p*float64(len(all))), len(all)-1)]
	}
	fmt.Fprintf(stdout, "submit: %d acked in %s with %d clients, %d-byte payloads: %.0f jobs/s\n",
		acked.Load(), elapsed.Round(time.Millisecond), *concurrency, *size, float64(acked.Load())/elapsed.Seconds())
	fmt.Fprintf(stdout, "ack latency: p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n",
		pct(0.50).Round(time.Microsecond), pct(0.90).Round(time.Microsecond), pct(0.99).Round(time.Microsecond),
		pct(0.999).Round(time.Microsecond), pct(1).Round(time.Microsecond))
	if len(statuses) > 0 {
		fmt.Fprintf(stdout, "errors: %v\n", statuses)
	}
	return nil
}
