package ticketq_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// cycleTimeout bounds one life of the server in a chaos run. Its trigger
// fires within seconds even on a loaded machine; a cycle that reaches
// this bound is a timeout, and is repeated.
const cycleTimeout = 30 * time.Second

// trigger kills one life of the server when a running count (acks or
// deliveries) reaches at.
type trigger struct {
	at    int64
	after bool // at the sink: kill after answering instead of before
	p     *proc
	once  sync.Once
	fired atomic.Bool
}

// reached fires the trigger if n has reached at, and reports whether it
// did. At, not only equal to: a count that passed at before the trigger
// was armed must still fire it.
func (tr *trigger) reached(n int64) bool {
	if tr == nil || n < tr.at {
		return false
	}
	tr.once.Do(func() {
		tr.fired.Store(true) // before the kill, so that the exit is never seen first
		_ = tr.p.cmd.Process.Signal(syscall.SIGKILL)
	})
	return true
}

// awaitKill waits for the end of a cycle: the trigger's kill, or, after
// timeout, a kill of its own. It reports whether the trigger fired, and an
// error if the server exited without being killed.
func awaitKill(p *proc, tr *trigger, timeout time.Duration) (bool, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.exited:
		if !tr.fired.Load() {
			return false, fmt.Errorf("the server exited by itself, not killed: %v\n%s", p.exit, tail(p.logs(), 30))
		}
		return true, nil
	case <-timer.C:
		p.kill()
		return tr.fired.Load(), nil
	}
}

// endCycle waits for the end of a chaos cycle and records it in the plan.
func endCycle(t *testing.T, plan *killPlan, mode string, p *proc, tr *trigger) {
	t.Helper()
	fired, err := awaitKill(p, tr, cycleTimeout)
	if err != nil {
		t.Fatalf("cycle %d (%s): %v", plan.cycles()+1, mode, err)
	}
	plan.done(mode, fired)
}

// killPlan deals the kill modes of a chaos run round-robin from a random
// first one, so that each mode gets its share of the cycles, and counts the
// kills that each mode's trigger fired. A cycle whose trigger did not fire
// (a timeout) is repeated with the same mode, within a bound, and a mode
// that ends below its share fails the run.
type killPlan struct {
	modes    []string
	share    map[string]int
	fired    map[string]int
	timeouts map[string]int
	todo     []string // the modes of the cycles still to run
	retries  int      // repeats left
}

// newKillPlan plans cycles kills; there must be one per mode at least.
func newKillPlan(modes []string, cycles int, rng *rand.Rand) (*killPlan, error) {
	if cycles < len(modes) {
		return nil, fmt.Errorf("-chaos.cycles=%d is fewer than the %d kill modes (%s): each must fire", cycles, len(modes), strings.Join(modes, ", "))
	}
	k := &killPlan{modes: modes, share: map[string]int{}, fired: map[string]int{}, timeouts: map[string]int{},
		retries: max(3, cycles/4)}
	first := rng.IntN(len(modes))
	for i := range cycles {
		m := modes[(first+i)%len(modes)]
		k.todo = append(k.todo, m)
		k.share[m]++
	}
	return k, nil
}

// next returns the mode of the next cycle; false when there is none left.
func (k *killPlan) next() (string, bool) {
	if len(k.todo) == 0 {
		return "", false
	}
	return k.todo[0], true
}

// done records how the cycle of mode ended.
func (k *killPlan) done(mode string, fired bool) {
	if fired {
		k.fired[mode]++
		k.todo = k.todo[1:]
		return
	}
	k.timeouts[mode]++
	if k.retries == 0 {
		k.todo = k.todo[1:] // check will name the mode
		return
	}
	k.retries--
}

// shortfall names every mode that fired fewer times than its share.
func (k *killPlan) shortfall() error {
	var errs []error
	for _, m := range k.modes {
		if k.fired[m] < k.share[m] {
			errs = append(errs, fmt.Errorf("kill mode %q fired %d of its %d kills (%d cycles timed out after %s without its trigger): that moment went untested",
				m, k.fired[m], k.share[m], k.timeouts[m], cycleTimeout))
		}
	}
	return errors.Join(errs...)
}

// cycles is the number of server lives the plan killed.
func (k *killPlan) cycles() int {
	n := 0
	for _, m := range k.modes {
		n += k.fired[m] + k.timeouts[m]
	}
	return n
}

// String gives the kills per mode, then the timeouts, for the test's log.
func (k *killPlan) String() string {
	var fired, timeouts []string
	for _, m := range k.modes {
		fired = append(fired, fmt.Sprintf("%s %d", m, k.fired[m]))
		if k.timeouts[m] > 0 {
			timeouts = append(timeouts, fmt.Sprintf("%s %d", m, k.timeouts[m]))
		}
	}
	s := strings.Join(fired, ", ")
	if len(timeouts) > 0 {
		s += "; timeouts, repeated: " + strings.Join(timeouts, ", ")
	}
	return s
}

// startProc runs a command as a proc, for the tests of awaitKill.
func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, exited: make(chan struct{}), grew: make(chan struct{})}
	go func() {
		p.exit = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.kill()
		}
	})
	return p
}

// Ensure that a cycle ends as fired when its trigger kills the process, as
// not fired when the timeout does, and with an error when the process
// exits by itself: that is a crash, not a kill.
func TestChaos_AwaitKill(t *testing.T) {
	t.Run("trigger", func(t *testing.T) {
		p := startProc(t, "sleep", "600")
		tr := &trigger{at: 5, p: p}
		if tr.reached(4) || tr.fired.Load() {
			t.Fatal("the trigger fired below its count")
		}
		if !tr.reached(7) {
			t.Fatal("the trigger did not fire past its count")
		}
		// Within a minute only the trigger's kill can end this wait.
		if fired, err := awaitKill(p, tr, time.Minute); !fired || err != nil {
			t.Fatalf("awaitKill = %v, %v; want fired", fired, err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		p := startProc(t, "sleep", "600")
		tr := &trigger{at: 1 << 40, p: p}
		if fired, err := awaitKill(p, tr, 10*time.Millisecond); fired || err != nil {
			t.Fatalf("awaitKill = %v, %v; want a timeout", fired, err)
		}
		select {
		case <-p.exited:
		default:
			t.Fatal("the process outlived its timed-out cycle")
		}
	})
	t.Run("exit by itself", func(t *testing.T) {
		p := startProc(t, "sh", "-c", "exit 3")
		tr := &trigger{at: 1, p: p}
		fired, err := awaitKill(p, tr, time.Minute)
		if fired || err == nil || !strings.Contains(err.Error(), "exited by itself") || !strings.Contains(err.Error(), "exit status 3") {
			t.Fatalf("awaitKill = %v, %v; want an error naming the exit", fired, err)
		}
	})
}

// Ensure that the kill plan deals the modes round-robin, repeats a cycle
// whose trigger did not fire, and names a mode that stayed short of its
// share once the repeats ran out.
func TestChaos_KillPlan(t *testing.T) {
	modes := []string{"submit", "execute", "checkoff"}
	// run plays a plan to its end; fires says whether the n-th cycle of a
	// mode fires.
	run := func(k *killPlan, fires func(mode string, n int) bool) []string {
		var seen []string
		count := map[string]int{}
		for len(seen) < 1000 {
			mode, ok := k.next()
			if !ok {
				break
			}
			seen = append(seen, mode)
			count[mode]++
			k.done(mode, fires(mode, count[mode]))
		}
		return seen
	}
	t.Run("every trigger fires", func(t *testing.T) {
		k, err := newKillPlan(modes, 7, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		seen := run(k, func(string, int) bool { return true })
		if len(seen) != 7 || k.cycles() != 7 {
			t.Fatalf("cycles %v (%d counted), want 7", seen, k.cycles())
		}
		for i := 3; i < len(seen); i++ {
			if seen[i] != seen[i-3] {
				t.Fatalf("cycles %v are not round-robin", seen)
			}
		}
		if err := k.shortfall(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a timeout is repeated", func(t *testing.T) {
		k, err := newKillPlan(modes, 6, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		seen := run(k, func(mode string, n int) bool { return mode != "execute" || n != 1 })
		i := slices.Index(seen, "execute")
		if len(seen) != 7 || seen[i+1] != "execute" || k.cycles() != 7 {
			t.Fatalf("cycles %v (%d counted); want 7, the timed-out execute repeated at once", seen, k.cycles())
		}
		if err := k.shortfall(); err != nil {
			t.Fatal(err)
		}
		if s := k.String(); s != "submit 2, execute 2, checkoff 2; timeouts, repeated: execute 1" {
			t.Fatalf("String() = %q", s)
		}
	})
	t.Run("a trigger that never fires", func(t *testing.T) {
		k, err := newKillPlan(modes, 6, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		seen := run(k, func(mode string, _ int) bool { return mode != "checkoff" })
		err = k.shortfall()
		// 6 planned cycles and max(3, 6/4) = 3 repeats.
		if len(seen) != 9 || err == nil || !strings.Contains(err.Error(), `kill mode "checkoff" fired 0 of its 2 kills (5 cycles timed out`) ||
			strings.Contains(err.Error(), `"submit"`) || strings.Contains(err.Error(), `"execute"`) {
			t.Fatalf("cycles %v, shortfall %v; want 9 cycles and only checkoff named", seen, err)
		}
	})
	t.Run("fewer cycles than modes", func(t *testing.T) {
		_, err := newKillPlan(modes, 2, rand.New(rand.NewPCG(1, 1)))
		if err == nil || !strings.Contains(err.Error(), "-chaos.cycles=2 is fewer than the 3 kill modes") {
			t.Fatalf("newKillPlan(2 cycles) = %v", err)
		}
	})
}
