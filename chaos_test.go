package ticketq_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketq/ticketq/wal"
)

var (
	chaosCycles = flag.Int("chaos.cycles", 6, "kill/restart cycles of TestChaos and TestChaosPull, dealt round-robin to the kill moments, at least one each (a long run: -chaos.cycles=100)")
	chaosSeed   = flag.Uint64("chaos.seed", 0, "random seed of TestChaos; 0 picks one (printed, to replay a failure)")
)

// sink is the webhook target: it records every delivery by ticket and can
// kill the server at the n-th delivery, either before answering (the job is
// executing) or right after answering (the check-off is in flight).
type sink struct {
	mu         sync.Mutex
	deliveries map[string]int
	count      atomic.Int64
	trigger    atomic.Pointer[trigger]
}

// record counts one delivery of a ticket and returns the running total.
func (s *sink) record(tk string) int64 {
	s.mu.Lock()
	s.deliveries[tk]++
	s.mu.Unlock()
	return s.count.Add(1)
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tk := r.Header.Get("X-Ticketq-Ticket")
	n := s.record(tk)
	tr := s.trigger.Load()
	if tr != nil && !tr.after && tr.reached(n) {
		// The job is executing: the server dies without an answer.
		<-tr.p.exited
		return
	}
	// Some jobs take a moment, so that kills find jobs mid-run.
	if n%7 == 0 {
		time.Sleep(time.Duration(n%3) * time.Millisecond)
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"delivered":%q}`, tk)
	if tr != nil && tr.after && n >= tr.at {
		w.(http.Flusher).Flush()
		tr.reached(n)
	}
}

// epoch is one life of the server, as the submitters see it.
type epoch struct {
	base string
	next chan struct{} // closed once the next server is up (or the test stops)
}

// ledger is what the clients were promised.
type ledger struct {
	mu        sync.Mutex
	acked     map[string]bool   // every ticket that got a 2xx
	keys      map[string]string // idempotency key → its acked ticket
	payloads  map[string]string // idempotency key → payload, for re-submits
	pending   []string          // keys whose submit had an unknown outcome
	ackCount  atomic.Int64
	trigger   atomic.Pointer[trigger] // kills the server during submits
	unkeyed   atomic.Int64            // unkeyed submits with an unknown outcome (may or may not exist)
	conflicts []string
}

func (l *ledger) ack(keys []string, tickets []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, tk := range tickets {
		l.acked[tk] = true
		if keys[i] == "" {
			continue
		}
		if prev, ok := l.keys[keys[i]]; ok && prev != tk {
			l.conflicts = append(l.conflicts, fmt.Sprintf("key %s: ticket %s, then %s", keys[i], prev, tk))
		}
		l.keys[keys[i]] = tk
	}
	l.trigger.Load().reached(l.ackCount.Add(int64(len(tickets))))
}

// Ensure that kill -9 at random moments — during submits, during job
// execution and during check-off — loses no acknowledged ticket: after the
// last restart every acked ticket succeeds and reached the sink at least once.
func TestChaos(t *testing.T) {
	seed := *chaosSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("chaos seed %d (replay with -chaos.seed=%d)", seed, seed)
	plan, err := newKillPlan([]string{"submit", "execute", "checkoff"}, *chaosCycles, rng)
	if err != nil {
		t.Fatal(err)
	}

	sk := &sink{deliveries: map[string]int{}}
	target := httptest.NewServer(sk)
	defer target.Close()
	data := t.TempDir()
	args := []string{"--webhook", target.URL, "--workers", "8", "--backoff", "5ms", "--backoff-max", "50ms"}
	led := &ledger{acked: map[string]bool{}, keys: map[string]string{}, payloads: map[string]string{}}

	var current atomic.Pointer[epoch]
	ready := make(chan struct{}) // closed when the first server is up
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const submitters = 8
	for i := range submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready
			submitLoop(i, rand.New(rand.NewPCG(seed, uint64(i+1))), &current, led, stop, nil)
		}()
	}

	var recovered []int
	for cycle := 0; ; cycle++ {
		mode, ok := plan.next()
		if !ok {
			break
		}
		p := startServer(t, data, args...)
		recovered = append(recovered, p.recovered)
		e := &epoch{base: p.base, next: make(chan struct{})}
		if prev := current.Swap(e); prev != nil {
			close(prev.next)
		}
		if cycle == 0 {
			close(ready)
		}
		tr := &trigger{p: p, after: mode == "checkoff"}
		switch mode {
		case "submit":
			tr.at = led.ackCount.Load() + 30 + rng.Int64N(300)
			led.trigger.Store(tr)
		default:
			tr.at = sk.count.Load() + 20 + rng.Int64N(200)
			sk.trigger.Store(tr)
		}
		endCycle(t, plan, mode, p, tr)
		led.trigger.Store(nil)
		sk.trigger.Store(nil)
	}
	close(stop)
	wg.Wait()

	// The last life: settle every unknown outcome, then everything must finish.
	p := startServer(t, data, args...)
	recovered = append(recovered, p.recovered)
	resubmitPending(t, p, led)
	recheckKeys(t, p, led, rng)
	lost, unexplained := awaitAll(t, p, led, sk, true)
	if err := p.stop(60 * time.Second); err != nil {
		t.Errorf("final graceful stop: %v\n%s", err, tail(p.logs(), 30))
	}
	checkFile(t, data)

	dups, extra := 0, 0
	sk.mu.Lock()
	for tk, n := range sk.deliveries {
		if led.acked[tk] {
			dups += n - 1
		} else {
			extra++
		}
	}
	sk.mu.Unlock()
	t.Logf("chaos: %d cycles (kills by moment: %v), %d tickets acked, lost %d, %d duplicate deliveries, "+
		"%d delivered tickets never acked (unknown-outcome submits without key: %d), recovered per start %v",
		plan.cycles(), plan, len(led.acked), len(lost), dups, extra, led.unkeyed.Load(), recovered)
	if err := plan.shortfall(); err != nil {
		t.Error(err)
	}
	if len(lost) > 0 {
		t.Errorf("%d acked tickets lost: %v", len(lost), first(lost, 20))
	}
	if len(unexplained) > 0 {
		t.Errorf("duplicates not explained by an interrupted run (promise 3): %v", first(unexplained, 20))
	}
	if int64(extra) > led.unkeyed.Load() {
		t.Errorf("%d tickets ran that were never acked, but only %d unkeyed submits had an unknown outcome", extra, led.unkeyed.Load())
	}
	if len(led.conflicts) > 0 {
		t.Errorf("idempotency broken across crashes: %v", first(led.conflicts, 10))
	}
	if len(led.acked) == 0 {
		t.Error("nothing was acked: the test exercised nothing")
	}
}

// submitLoop submits singles and batches, half of them keyed, until stop.
// pace, if set, is called before each submit to hold the load back.
func submitLoop(id int, rng *rand.Rand, current *atomic.Pointer[epoch], led *ledger, stop <-chan struct{}, pace func()) {
	client := &http.Client{Timeout: 20 * time.Second}
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		if pace != nil {
			pace()
		}
		e := current.Load()
		n := 1
		if rng.IntN(10) < 4 {
			n = 2 + rng.IntN(19)
		}
		keyed := rng.IntN(2) == 0
		keys := make([]string, n)
		jobs := make([]string, n)
		for i := range jobs {
			payload := fmt.Sprintf(`{"s":%d,"n":%d,"i":%d}`, id, seq, i)
			if keyed {
				keys[i] = fmt.Sprintf("k-%d-%d-%d", id, seq, i)
				led.mu.Lock()
				led.payloads[keys[i]] = payload
				led.mu.Unlock()
				jobs[i] = fmt.Sprintf(`{"payload":%s,"idempotency_key":%q}`, payload, keys[i])
			} else {
				jobs[i] = fmt.Sprintf(`{"payload":%s}`, payload)
			}
		}
		body := jobs[0]
		if n > 1 {
			body = `{"jobs":[` + strings.Join(jobs, ",") + `]}`
		}
		var resp struct {
			Ticket  string   `json:"ticket"`
			Tickets []string `json:"tickets"`
		}
		status, err := doJSON(client, "POST", e.base+"/v1/queues/chaos/jobs", body, &resp)
		switch {
		case err == nil && (status == 200 || status == 202):
			if n == 1 {
				resp.Tickets = []string{resp.Ticket}
			}
			led.ack(keys, resp.Tickets)
			continue
		case err == nil && status < 500:
			led.mu.Lock()
			led.conflicts = append(led.conflicts, fmt.Sprintf("submit answered %d", status))
			led.mu.Unlock()
			return
		}
		// Unknown outcome: the server died under us. Keyed submits are
		// settled after the last restart; unkeyed ones may or may not exist.
		if keyed {
			led.mu.Lock()
			led.pending = append(led.pending, keys...)
			led.mu.Unlock()
		} else {
			led.unkeyed.Add(int64(n))
		}
		// Wait for the next server rather than hammer the dead one.
		select {
		case <-e.next:
		case <-stop:
			return
		}
	}
}

// resubmitPending re-sends every keyed submit whose outcome was unknown: the
// answer names the original ticket if it was stored, or a new one.
func resubmitPending(t *testing.T, p *proc, led *ledger) {
	t.Helper()
	led.mu.Lock()
	pending := led.pending
	led.mu.Unlock()
	for _, key := range pending {
		led.mu.Lock()
		payload := led.payloads[key]
		led.mu.Unlock()
		var r struct {
			Ticket string `json:"ticket"`
		}
		status, err := p.do("POST", "/v1/queues/chaos/jobs", fmt.Sprintf(`{"payload":%s,"idempotency_key":%q}`, payload, key), &r)
		if err != nil || (status != 200 && status != 202) {
			t.Fatalf("re-submit of %s: %d, %v", key, status, err)
		}
		led.ack([]string{key}, []string{r.Ticket})
	}
}

// recheckKeys re-sends a sample of acked keys: each must name its original
// ticket, whatever crashes happened since.
func recheckKeys(t *testing.T, p *proc, led *ledger, rng *rand.Rand) {
	t.Helper()
	led.mu.Lock()
	var keys []string
	for k := range led.keys {
		keys = append(keys, k)
	}
	led.mu.Unlock()
	sort.Strings(keys)
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	for _, key := range first(keys, 50) {
		var r struct {
			Ticket    string `json:"ticket"`
			Duplicate bool   `json:"duplicate"`
		}
		led.mu.Lock()
		payload, want := led.payloads[key], led.keys[key]
		led.mu.Unlock()
		status, err := p.do("POST", "/v1/queues/chaos/jobs", fmt.Sprintf(`{"payload":%s,"idempotency_key":%q}`, payload, key), &r)
		if err != nil || status != 200 || !r.Duplicate || r.Ticket != want {
			t.Errorf("repeat of key %s: %d %+v, %v; want duplicate of %s", key, status, r, err, want)
		}
	}
}

// awaitAll long-polls every acked ticket until it is final. It returns the
// tickets that did not succeed or never reached the sink, and those
// delivered more often than their runs explain. With onlyInterrupted, a
// duplicate is allowed only for a run that a crash cut short (push mode: the
// sink never fails); otherwise for any extra attempt (pull mode: a lease can
// also expire while the server is down).
func awaitAll(t *testing.T, p *proc, led *ledger, sk *sink, onlyInterrupted bool) (lost, unexplained []string) {
	t.Helper()
	led.mu.Lock()
	var tickets []string
	for tk := range led.acked {
		tickets = append(tickets, tk)
	}
	led.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, tk := range tickets {
		var j struct {
			State       string `json:"state"`
			LastError   string `json:"last_error"`
			Attempts    int    `json:"attempts"`
			Interrupted int    `json:"interrupted"`
		}
		for {
			status, err := p.do("GET", "/v1/jobs/"+tk+"?wait=30s", "", &j)
			if err != nil || status != 200 {
				t.Fatalf("status of %s: %d, %v", tk, status, err)
			}
			if j.State == "succeeded" || j.State == "dead" || j.State == "canceled" || ctx.Err() != nil {
				break
			}
		}
		sk.mu.Lock()
		delivered := sk.deliveries[tk]
		sk.mu.Unlock()
		if j.State != "succeeded" || delivered == 0 {
			lost = append(lost, fmt.Sprintf("%s(%s, delivered %d, %s)", tk, j.State, delivered, j.LastError))
		}
		if delivered > j.Attempts || (onlyInterrupted && delivered-1 > j.Interrupted) {
			unexplained = append(unexplained, fmt.Sprintf("%s(delivered %d, attempts %d, interrupted %d)", tk, delivered, j.Attempts, j.Interrupted))
		}
	}
	return lost, unexplained
}

// checkFile verifies every invariant of the data file after the chaos.
func checkFile(t *testing.T, dir string) {
	t.Helper()
	l, err := wal.Open(dir, wal.Options{})
	if err != nil {
		t.Fatalf("open after chaos: %v", err)
	}
	defer l.Close()
	if err := l.Verify(); err != nil {
		t.Errorf("data file broken after chaos:\n%v", err)
	}
}

// Ensure that a second server on the same data directory exits at once with
// a clear error, while the first keeps working.
func TestServe_SecondInstance(t *testing.T) {
	data := t.TempDir()
	first := startServer(t, data)
	start := time.Now()
	second := launch(t, data)
	select {
	case <-second.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("second instance still running after 10s")
	}
	took := time.Since(start)
	var exitErr interface{ ExitCode() int }
	if ee, ok := second.exit.(interface{ ExitCode() int }); ok {
		exitErr = ee
	}
	if exitErr == nil || exitErr.ExitCode() == 0 {
		t.Fatalf("second instance exit = %v", second.exit)
	}
	if out := second.logs(); !strings.Contains(out, "in use by another ticketq process") || !strings.Contains(out, data) {
		t.Fatalf("second instance did not name the held directory:\n%s", out)
	}
	t.Logf("second instance refused in %s", took.Round(time.Millisecond))
	var r struct {
		Ticket string `json:"ticket"`
	}
	if status, err := first.do("POST", "/v1/queues/q/jobs", `{"payload":1}`, &r); err != nil || status != 202 || r.Ticket == "" {
		t.Fatalf("first instance after the refusal: %d %+v, %v", status, r, err)
	}
}

func first[T any](s []T, n int) []T {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(first(lines[max(len(lines)-n, 0):], n), "\n")
}
