package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ticketq/ticketq/client"
	"github.com/ticketq/ticketq/job"
)

// Ensure that the histogram's percentiles are never below the exact ones
// and at most 1/128 above, and that its maximum is exact.
func TestHistogram_Quantiles(t *testing.T) {
	var h histogram
	if h.quantile(0.5) != 0 || h.report().Max != 0 {
		t.Fatal("an empty histogram reports values")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var exact []time.Duration
	for range 100000 {
		// Log-uniform from 1µs to 10s: every power of two gets samples.
		d := time.Duration(float64(time.Microsecond) * math.Pow(10, 7*rng.Float64()))
		exact = append(exact, d)
		h.record(d)
	}
	slices.Sort(exact)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		want := exact[int(math.Ceil(q*float64(len(exact))))-1]
		got := h.quantile(q)
		if got < want || float64(got-want) > float64(want)/128 {
			t.Errorf("p%g = %v, exact %v", 100*q, got, want)
		}
	}
	if got := time.Duration(h.max.Load()); got != exact[len(exact)-1] {
		t.Errorf("max %v, want %v", got, exact[len(exact)-1])
	}
	for range 10000 {
		v := rng.Int64N(1 << 40)
		if b := bucketOf(v); bucketTop(b) < v || (b > 0 && bucketTop(b-1) >= v) {
			t.Fatalf("%d falls in bucket %d of top %d (previous top %d)", v, b, bucketTop(b), bucketTop(b-1))
		}
	}
}

// Ensure that errors are named by status and code, and everything that is
// not an answer of the server is "network".
func TestErrorKind(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{&client.APIError{Status: 429, Code: "queue_full"}, "429 queue_full"},
		{&client.APIError{Status: 502}, "502 bad_gateway"},
		{errors.New("dial tcp: connection refused"), "network"},
	}
	for _, tc := range cases {
		if got := errorKind(tc.err); got != tc.want {
			t.Errorf("errorKind(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// Ensure that bench-target answers single and batch submits with receipts
// the client decodes, answers the probes, and refuses other routes.
func TestBenchTarget(t *testing.T) {
	srv := httptest.NewServer(&target{})
	defer srv.Close()
	c, err := client.New(srv.URL, client.Options{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rc, err := c.Submit(ctx, "emails", client.Submission{Payload: benchPayload(200)})
	if err != nil || rc.Ticket != 1 || rc.Queue != "emails" || rc.State != job.Queued {
		t.Fatalf("submit: %+v, %v", rc, err)
	}
	subs := make([]client.Submission, 7)
	for i := range subs {
		subs[i].Payload = json.RawMessage(`"a \"payload\": inside"`)
	}
	rs, err := c.SubmitBatch(ctx, "emails", subs)
	if err != nil || len(rs) != 7 || rs[6].Ticket != 7 {
		t.Fatalf("batch: %+v, %v", rs, err)
	}
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("ready: %v", err)
	}
	if _, err := c.Status(ctx, 1); !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("status: %v, want not found", err)
	}
}

// Ensure that bench refuses flags that do not fit together, with exit
// status 2 and a message naming the flag.
func TestBench_Usage(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--mode", "soak"}, `--mode "soak"`},
		{[]string{"--mode", "recovery"}, "needs --spawn"},
		{[]string{"--mode", "recovery", "--spawn", "--baseline"}, "no --baseline"},
		{[]string{"--pull", "4"}, "--pull applies to --mode e2e"},
		{[]string{"--batch", "10"}, "--batch applies to --mode batch and e2e"},
		{[]string{"--mode", "batch", "--batch", "20000"}, "--batch 20000"},
		{[]string{"--spawn", "--server", "http://127.0.0.1:1"}, "exclude each other"},
		{[]string{"--server-flag=--workers=2"}, "apply to --spawn"},
		{[]string{"--payload", "1"}, "--payload 1"},
		{[]string{"--duration", "0"}, "needs a --count"},
		{[]string{"--queue", "a/b"}, "queue"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"bench"}, tc.args...), nil, &stdout, &stderr)
			if code := exitCode(err, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tc.want)
			}
		})
	}
}

// Ensure that --help describes the modes and exits 0.
func TestBench_Help(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"bench", "--help"}, nil, &stdout, &stderr)
	if code := exitCode(err, &stderr); code != 0 || !strings.Contains(stderr.String(), "recovery  fill --count") || !strings.Contains(stderr.String(), "-server-flag") {
		t.Fatalf("exit %d, help %q", code, stderr.String())
	}
}
