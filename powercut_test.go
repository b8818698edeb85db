package ticketq_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ticketq/ticketq/internal/powerfs"
)

var (
	powercutCuts = flag.Int("powercut.cuts", 20, "power cuts of TestPowerCut (a long run: -powercut.cuts=500)")
	powercutSeed = flag.Uint64("powercut.seed", 0, "random seed of TestPowerCut; 0 picks one (printed, to replay a failure)")
)

// powerLedger is what the clients of every life were told: each acked
// ticket with the payload it was acked for.
type powerLedger struct {
	mu      sync.Mutex
	acked   map[string]string // ticket -> payload
	life    map[string]int    // ticket -> the life that acked it
	unknown int               // jobs whose submit had no answer (stored or not)
	refused []string          // submits answered 4xx: a bug in the test or the server
}

func (l *powerLedger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// tickets returns the acked tickets, sorted.
func (l *powerLedger) tickets() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	tks := make([]string, 0, len(l.acked))
	for tk := range l.acked {
		tks = append(tks, tk)
	}
	sort.Strings(tks)
	return tks
}

// powerLoad submits to p from several goroutines, each job with a payload
// of its own (some spanning several pages), until the ledger holds goal
// acked tickets or trigger fires; then it calls cut, which must SIGKILL
// the server (and cut the power), while the other submits are in flight.
// It returns what fired once the server is gone.
func powerLoad(t *testing.T, p *proc, led *powerLedger, goal int, trigger <-chan struct{}, cut func(), rng *rand.Rand, life int) (fired string) {
	t.Helper()
	const submitters = 6
	var once sync.Once
	kill := func(why string) {
		once.Do(func() {
			fired = why
			cut()
		})
	}
	stop := make(chan struct{})
	defer close(stop)
	if trigger != nil {
		go func() {
			select {
			case <-trigger:
				kill("fsync")
			case <-stop:
			}
		}()
	}
	var wg sync.WaitGroup
	for w := range submitters {
		wrng := rand.New(rand.NewPCG(rng.Uint64(), uint64(w)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 20 * time.Second}
			for seq := 0; seq < 100000; seq++ {
				n := 1
				if wrng.IntN(10) < 3 {
					n = 2 + wrng.IntN(7)
				}
				payloads := make([]string, n)
				jobs := make([]string, n)
				for i := range payloads {
					pad := wrng.IntN(300)
					if wrng.IntN(10) == 0 {
						pad = 4000 + wrng.IntN(10000) // an overflow record over several pages
					}
					payloads[i] = fmt.Sprintf(`{"life":%d,"w":%d,"n":%d,"i":%d,"pad":"%s"}`, life, w, seq, i, strings.Repeat(string(rune('a'+(seq+i)%26)), pad))
					jobs[i] = `{"payload":` + payloads[i] + `}`
					if wrng.IntN(2) == 0 {
						jobs[i] = fmt.Sprintf(`{"payload":%s,"idempotency_key":"k-%d-%d-%d-%d"}`, payloads[i], life, w, seq, i)
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
				status, err := doJSON(client, "POST", p.base+"/v1/queues/pc/jobs", body, &resp)
				if err == nil && status == http.StatusAccepted {
					if n == 1 {
						resp.Tickets = []string{resp.Ticket}
					}
					led.mu.Lock()
					for i, tk := range resp.Tickets {
						led.acked[tk] = payloads[i]
						led.life[tk] = life
					}
					reached := len(led.acked) >= goal
					led.mu.Unlock()
					if reached {
						kill("acks")
					}
					continue
				}
				led.mu.Lock()
				if err == nil && status < 500 {
					led.refused = append(led.refused, fmt.Sprintf("%d for %.200s", status, body))
				} else {
					led.unknown += n
				}
				led.mu.Unlock()
				if err != nil || status >= 500 {
					// The server died (or is dying): this life is over.
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		kill("timeout")
		<-done
		t.Fatalf("life %d: %d of %d acks after 2 minutes\n%s", life, led.count(), goal, tail(p.logs(), 20))
	}
	kill("early exit") // every submitter stopped before the goal: the server died
	<-p.exited
	if len(led.refused) > 0 {
		t.Fatalf("submits refused: %v", first(led.refused, 5))
	}
	if fired == "early exit" {
		t.Fatalf("life %d: the server died by itself\n%s", life, tail(p.logs(), 20))
	}
	return fired
}

// cutter returns a cut for powerLoad: SIGKILL, then the power cut at
// once, while the dying process may still have writes in flight.
func cutter(t *testing.T, p *proc, fsys *powerfs.FS, loss powerfs.Loss, rng *rand.Rand, rep *powerfs.CutReport) func() {
	return func() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		r, err := fsys.Cut(loss, rng)
		if err != nil {
			t.Errorf("cut: %v", err)
		}
		*rep = r
	}
}

// verifyAcked lists the queue on p and returns the acked tickets that are
// missing from it, and those of the tickets that read picks that hold
// another payload than the one they were acked for (read nil: all).
func verifyAcked(t *testing.T, p *proc, led *powerLedger, read func(tk string) bool) (lost []string) {
	t.Helper()
	listed := map[string]bool{}
	for after := ""; ; {
		var page struct {
			Jobs []struct{ Ticket string } `json:"jobs"`
			Next string                    `json:"next"`
		}
		status, err := p.do("GET", "/v1/queues/pc/jobs?limit=1000&after="+after, "", &page)
		if err == nil && status == 404 {
			break // no such queue (yet, or any more): it lists nothing
		}
		if err != nil || status != 200 {
			t.Fatalf("list the queue: %d, %v", status, err)
		}
		for _, j := range page.Jobs {
			listed[j.Ticket] = true
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	var toRead []string
	for _, tk := range led.tickets() {
		switch {
		case !listed[tk]:
			lost = append(lost, tk+" (missing)")
		case read == nil || read(tk):
			toRead = append(toRead, tk)
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan string)
	var failure error
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tk := range work {
				var j struct {
					Payload json.RawMessage `json:"payload"`
				}
				status, err := p.do("GET", "/v1/jobs/"+tk, "", &j)
				led.mu.Lock()
				want := led.acked[tk]
				led.mu.Unlock()
				mu.Lock()
				switch {
				case err != nil || status != 200:
					failure = fmt.Errorf("read listed ticket %s: %d, %v", tk, status, err)
				case !sameJSON(j.Payload, want):
					lost = append(lost, fmt.Sprintf("%s (payload %.60s…, acked for %.60s…)", tk, j.Payload, want))
				}
				mu.Unlock()
			}
		}()
	}
	for _, tk := range toRead {
		work <- tk
	}
	close(work)
	wg.Wait()
	if failure != nil {
		t.Fatal(failure)
	}
	sort.Strings(lost)
	return lost
}

func sameJSON(a []byte, b string) bool {
	var ca, cb bytes.Buffer
	return json.Compact(&ca, a) == nil && json.Compact(&cb, []byte(b)) == nil && bytes.Equal(ca.Bytes(), cb.Bytes())
}

// checkData runs `ticketq check` on a data directory, which must pass.
func checkData(t *testing.T, data, when string) {
	t.Helper()
	cmd := exec.Command(binary(t), "check", "--data", data)
	// A race-enabled binary sleeps a second before it exits unless told
	// not to: twenty checks would spend twenty seconds asleep.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GORACE=atexit_sleep_ms=0"}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "\nok") {
		t.Fatalf("ticketq check %s: %v\n%s", when, err, out)
	}
}

// rebooted makes the data directory look as a power cut leaves it: the
// machine rebooted, so the record of the last start (ticketq.db.boot,
// fsynced at that start) names a boot that is over. A cut loses no
// fsynced write, so the test must stand in for the new boot id.
func rebooted(t *testing.T, data string, cut int) {
	t.Helper()
	path := filepath.Join(data, "ticketq.db.boot")
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return // cut before the first start recorded itself: it walks anyway
	}
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "boot_id ") {
			lines[i] = fmt.Sprintf("boot_id the-boot-before-cut-%d", cut)
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
}

// assertWalked fails unless the server walked its data file's pages
// before opening it, as every first start after a power cut must.
func assertWalked(t *testing.T, p *proc, cut int) {
	t.Helper()
	for _, line := range strings.Split(p.logs(), "\n") {
		if strings.Contains(line, `"data file checked before opening"`) {
			if !strings.Contains(line, `"pages_read"`) {
				t.Errorf("the start after cut %d did not walk the pages: %s", cut, line)
			}
			return
		}
	}
	t.Errorf("the start after cut %d logged no start-up check\n%s", cut, p.logs())
}

// powerSetup makes a backing directory (the disk) and a mount point.
func powerSetup(t *testing.T) (backing, mnt string) {
	t.Helper()
	backing = t.TempDir()
	mnt = filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	return backing, mnt
}

// Ensure that a power cut loses no acked job: the real binary runs on a
// filesystem that forgets every write not fsynced; under concurrent
// submits it is SIGKILLed and the power is cut, after a random number of
// acks or in the middle of a random fsync (its pages written, not yet
// durable), dropping every unsynced write or keeping each unsynced page
// with even odds (a torn write-back). After each cut the data file passes
// `ticketq check`, the server starts, and every ticket acked in any life
// is there with its own payload.
func TestPowerCut(t *testing.T) {
	seed := *powercutSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("power-cut seed %d (replay with -powercut.seed=%d)", seed, seed)
	backing, mnt := powerSetup(t)
	data := filepath.Join(mnt, "data")
	led := &powerLedger{acked: map[string]string{}, life: map[string]int{}}
	var lostAll []string
	kinds := map[string]int{}
	var pagesLost, pagesTorn, fsyncs, names, midPages int
	for cut := 0; cut < *powercutCuts; cut++ {
		fsys := powerfs.MountForTest(t, mnt, backing, powerfs.Options{})
		if cut > 0 {
			checkData(t, data, fmt.Sprintf("after cut %d", cut))
			rebooted(t, data, cut)
		}
		p := startServer(t, data)
		if cut > 0 {
			assertWalked(t, p, cut)
		}
		// Every acked ticket must be listed; the payloads are read back of
		// those the last cut put at risk and of a sample of the older ones
		// (a record, once written, never changes here: a payload broken by
		// any cut is still broken at the end, where all are read).
		recent := func(tk string) bool {
			led.mu.Lock()
			defer led.mu.Unlock()
			return led.life[tk] == cut-1 || rng.IntN(20) == 0
		}
		if lost := verifyAcked(t, p, led, recent); len(lost) > 0 {
			lostAll = append(lostAll, lost...)
			t.Errorf("after cut %d: %d acked tickets lost: %v", cut, len(lost), first(lost, 10))
		}
		// Every pair of moment and loss, in turn.
		loss := []powerfs.Loss{powerfs.Drop, powerfs.Torn}[cut%2]
		goal := led.count() + 20 + rng.IntN(120)
		var trigger <-chan struct{}
		if cut%4 >= 2 {
			goal = led.count() + 2000 // a bound: the held fsync comes first
			trigger = fsys.Hold(5 + rng.IntN(50))
		}
		var rep powerfs.CutReport
		fired := powerLoad(t, p, led, goal, trigger, cutter(t, p, fsys, loss, rng, &rep), rng, cut)
		if err := fsys.Unmount(); err != nil {
			t.Fatalf("unmount after cut %d: %v", cut, err)
		}
		kinds[fired+"/"+loss.String()]++
		pagesLost += rep.Lost
		pagesTorn += rep.Written
		fsyncs += rep.Fsyncs
		names += rep.Entries
		if fired == "fsync" {
			midPages += rep.Lost + rep.Written
		}
	}

	// The last life: check, start, read everything, stop cleanly, check.
	fsys := powerfs.MountForTest(t, mnt, backing, powerfs.Options{})
	checkData(t, data, "after the last cut")
	rebooted(t, data, *powercutCuts)
	p := startServer(t, data)
	assertWalked(t, p, *powercutCuts)
	if lost := verifyAcked(t, p, led, nil); len(lost) > 0 {
		lostAll = append(lostAll, lost...)
		t.Errorf("after the last cut: %d acked tickets lost: %v", len(lost), first(lost, 10))
	}
	var st struct {
		Counts struct{ Queued int } `json:"counts"`
	}
	if status, err := p.do("GET", "/v1/queues/pc", "", &st); err != nil || status != 200 {
		t.Fatalf("queue stats: %d, %v", status, err)
	}
	if err := p.stop(60 * time.Second); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
	if err := fsys.Unmount(); err != nil {
		t.Fatal(err)
	}
	checkData(t, filepath.Join(backing, "data"), "after a clean stop")

	acked := led.count()
	t.Logf("power cuts: %d (by moment/loss: %v), %d tickets acked, lost %d; "+
		"%d submitted jobs had no answer (%d of them stored); %d fsyncs, %d dirty pages lost at the cuts, %d written by torn cuts, %d new names lost",
		*powercutCuts, kinds, acked, len(lostAll),
		led.unknown, st.Counts.Queued-acked, fsyncs, pagesLost, pagesTorn, names)
	// Every job in the queue is an acked one or one whose submit had no
	// answer: a cut neither invents nor duplicates jobs.
	if st.Counts.Queued < acked-len(lostAll) || st.Counts.Queued > acked+led.unknown {
		t.Errorf("%d jobs queued; want between %d (acked) and %d (acked + unanswered)", st.Counts.Queued, acked, acked+led.unknown)
	}
	// A cut in the middle of an fsync finds the pages that fsync writes
	// back (bar a file's growth, which bbolt syncs with no page dirty).
	if acked == 0 || (kinds["fsync/drop"]+kinds["fsync/torn"] > 0 && midPages == 0) {
		t.Errorf("%d acked, %d dirty pages at the mid-fsync cuts: the cuts tested nothing", acked, midPages)
	}
}

// Ensure that the power-cut test can fail: on a filesystem that
// acknowledges fsync without writing anything back (a drive that lies
// about flushes), every job acked since the mount is gone after the cut,
// and verifyAcked reports exactly those, while the jobs acked on an
// honest mount before are all there.
func TestPowerCut_LyingFsyncLoses(t *testing.T) {
	backing, mnt := powerSetup(t)
	data := filepath.Join(mnt, "data")
	led := &powerLedger{acked: map[string]string{}, life: map[string]int{}}
	rng := rand.New(rand.NewPCG(1, 2))

	honest := powerfs.MountForTest(t, mnt, backing, powerfs.Options{})
	p := startServer(t, data)
	var rep powerfs.CutReport
	powerLoad(t, p, led, 30, nil, cutter(t, p, honest, powerfs.Drop, nil, &rep), rng, 0)
	if err := honest.Unmount(); err != nil {
		t.Fatal(err)
	}
	kept := map[string]bool{}
	for _, tk := range led.tickets() {
		kept[tk] = true
	}

	lying := powerfs.MountForTest(t, mnt, backing, powerfs.Options{LyingFsync: true})
	p = startServer(t, data)
	powerLoad(t, p, led, len(kept)+30, nil, cutter(t, p, lying, powerfs.Drop, nil, &rep), rng, 1)
	if err := lying.Unmount(); err != nil {
		t.Fatal(err)
	}

	powerfs.MountForTest(t, mnt, backing, powerfs.Options{})
	checkData(t, data, "after the lying cut")
	p = startServer(t, data)
	lost := verifyAcked(t, p, led, nil)
	t.Logf("lying fsync: %d acked before on an honest mount, %d acked on the lying one; lost %d (%d fsyncs lied, %d dirty pages lost)",
		len(kept), led.count()-len(kept), len(lost), rep.Fsyncs, rep.Lost)
	if want := led.count() - len(kept); len(lost) != want {
		t.Fatalf("lost %d acked tickets, want the %d acked on the lying mount: %v", len(lost), want, first(lost, 10))
	}
	for _, l := range lost {
		tk, _, _ := strings.Cut(l, " ")
		if kept[tk] {
			t.Errorf("ticket %s, acked on the honest mount, reported lost: %s", tk, l)
		}
	}
}
