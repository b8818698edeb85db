package ticketq_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketq/ticketq/client"
	"github.com/ticketq/ticketq/job"
)

// freePort finds a loopback port for a server that must keep its address
// across restarts (the pull workers' client has a fixed base URL).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Ensure that kill -9 at random moments — during submits and while pull
// workers run jobs — loses no acknowledged ticket: external workers (the
// client package's Worker) lease and ack across the crashes, and at the end
// every acked submit has succeeded and was run at least once.
func TestChaosPull(t *testing.T) {
	seed := *chaosSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	t.Logf("pull chaos seed %d (replay with -chaos.seed=%d)", seed, seed)
	plan, err := newKillPlan([]string{"submit", "execute"}, *chaosCycles, rng)
	if err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	data := t.TempDir()
	args := []string{"--addr", addr}
	sk := &sink{deliveries: map[string]int{}}
	led := &ledger{acked: map[string]bool{}, keys: map[string]string{}, payloads: map[string]string{}}

	var running atomic.Pointer[trigger] // kills the server mid-run
	c, err := client.New("http://"+addr, client.Options{RetryBase: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	handler := func(ctx context.Context, j *job.Job) ([]byte, error) {
		n := sk.record(j.Ticket.String())
		// The job is mid-run when the trigger fires: its lease must
		// survive the restart.
		running.Load().reached(n)
		if n%5 == 0 {
			time.Sleep(time.Duration(n%4) * time.Millisecond) // some jobs take a moment
		}
		return []byte(fmt.Sprintf(`{"ran":%q}`, j.Ticket)), nil
	}
	wctx, stopWorkers := context.WithCancel(context.Background())
	var workers sync.WaitGroup
	for range 2 {
		w := &client.Worker{Client: c, Queue: "chaos", Handler: handler, Concurrency: 4,
			Visibility: 3 * time.Second, Wait: time.Second, Grace: 10 * time.Second, Logger: slog.New(slog.DiscardHandler)}
		workers.Go(func() {
			if err := w.Run(wctx); err != nil {
				t.Errorf("worker: %v", err)
			}
		})
	}
	defer func() { stopWorkers(); workers.Wait() }()

	var current atomic.Pointer[epoch]
	ready, stop := make(chan struct{}), make(chan struct{})
	// Submitters outrun the workers; a bounded backlog keeps the final
	// drain (and the test) short. This paces the load, it synchronizes nothing.
	pace := func() {
		for led.ackCount.Load()-sk.count.Load() > 500 {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}
	var submitters sync.WaitGroup
	for i := range 4 {
		submitters.Go(func() {
			<-ready
			submitLoop(i, rand.New(rand.NewPCG(seed, uint64(100+i))), &current, led, stop, pace)
		})
	}
	for cycle := 0; ; cycle++ {
		mode, ok := plan.next()
		if !ok {
			break
		}
		p := startServer(t, data, args...)
		e := &epoch{base: p.base, next: make(chan struct{})}
		if prev := current.Swap(e); prev != nil {
			close(prev.next)
		}
		if cycle == 0 {
			close(ready)
		}
		tr := &trigger{p: p}
		switch mode {
		case "submit":
			tr.at = led.ackCount.Load() + 30 + rng.Int64N(200)
			led.trigger.Store(tr)
		default:
			tr.at = sk.count.Load() + 20 + rng.Int64N(150)
			running.Store(tr)
		}
		endCycle(t, plan, mode, p, tr)
		led.trigger.Store(nil)
		running.Store(nil)
	}
	close(stop)
	submitters.Wait()

	p := startServer(t, data, args...)
	resubmitPending(t, p, led)
	lost, unexplained := awaitAll(t, p, led, sk, false)
	stopWorkers()
	workers.Wait()
	if err := p.stop(60 * time.Second); err != nil {
		t.Errorf("final graceful stop: %v", err)
	}
	checkFile(t, data)
	dups := 0
	sk.mu.Lock()
	for tk, n := range sk.deliveries {
		if led.acked[tk] {
			dups += n - 1
		}
	}
	sk.mu.Unlock()
	t.Logf("pull chaos: %d cycles (kills by moment: %v), %d tickets acked, lost %d, %d duplicate runs",
		plan.cycles(), plan, len(led.acked), len(lost), dups)
	if err := plan.shortfall(); err != nil {
		t.Error(err)
	}
	if len(lost) > 0 {
		t.Errorf("%d acked tickets lost: %v", len(lost), first(lost, 20))
	}
	if len(unexplained) > 0 {
		t.Errorf("runs not explained by attempts: %v", first(unexplained, 20))
	}
	if len(led.conflicts) > 0 {
		t.Errorf("idempotency broken across crashes: %v", first(led.conflicts, 10))
	}
	if len(led.acked) == 0 {
		t.Error("nothing was acked: the test exercised nothing")
	}
}
