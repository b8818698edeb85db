package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// recoveryReport is what --mode recovery measures. Times after the restart
// count from the start of its process.
type recoveryReport struct {
	Jobs         int64   `json:"jobs"`
	FillS        float64 `json:"fill_s"`
	FillJobsPerS float64 `json:"fill_jobs_per_s"`
	QueuedAtKill int     `json:"queued_at_kill"`
	// ReadyS is when /readyz first answered 200, FirstRunS when the
	// queue's succeeded count first rose, DoneS when it reached Jobs.
	ReadyS    float64 `json:"ready_s"`
	FirstRunS float64 `json:"first_run_s"`
	DoneS     float64 `json:"done_s"`
	// DrainS is DoneS - ReadyS: the time to run every job once ready.
	DrainS        float64 `json:"drain_s"`
	DrainJobsPerS float64 `json:"drain_jobs_per_s"`
	Drained       bool    `json:"drained"`
	Left          int64   `json:"left,omitempty"`
	// RSSRecoveryPeak is the restarted server's peak RSS until ready (its
	// VmHWM then); RSSDrainPeak the peak after that, while it drained.
	RSSRecoveryPeak int64 `json:"rss_recovery_peak_bytes"`
	RSSDrainPeak    int64 `json:"rss_drain_peak_bytes"`
}

// runRecovery fills the queue with unfinished jobs, kills the server with
// SIGKILL, restarts it with the queue set to the no-op executor, and times
// the way back: ready, first run, every job done.
func runRecovery(ctx context.Context, c *benchConfig, rep *benchReport, stderr io.Writer) (err error) {
	dir, err := makeDataDir(c.spawnDir)
	if err != nil {
		return err
	}
	defer func() {
		if c.keep {
			rep.KeptDataDir = dir
		} else {
			_ = os.RemoveAll(dir)
		}
	}()
	flags := slices.Clone(c.serverFlags)
	p, _, err := readyServer(ctx, c.binary, dir, flags, nil)
	if err != nil {
		return err
	}
	rep.Server = p.url()
	rep.Spawned = &spawnReport{Binary: c.binary, DataDir: dir, Flags: flags, Addr: p.addr}

	// The fill: the queue has no executor, so every job stays queued.
	// Eight clients are plenty for batches of a thousand.
	spec := loadSpec{label: "fill", server: p.url(), access: c.access, queue: c.queue, concurrency: min(c.concurrency, 8),
		batch: int(min(recoveryBatch, c.count)), payload: benchPayload(c.payload), count: c.count}
	res, err := runLoad(ctx, spec, stderr)
	if err != nil {
		_ = p.kill()
		return err
	}
	rep.loadReport = res.report()
	rc := &recoveryReport{Jobs: res.jobs, FillS: res.elapsed.Seconds(), FillJobsPerS: rep.JobsPerS}
	rep.Recovery = rc
	stats, str, err := newLoadClient(p.url(), c.access, 2, 0)
	if err != nil {
		_ = p.kill()
		return err
	}
	before, serr := queueCounts(ctx, stats, c.queue)
	str.CloseIdleConnections()
	if err := p.kill(); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("queue stats before the kill: %w", serr)
	}
	if res.jobs < c.count {
		return fmt.Errorf("fill: %d of %d jobs acked", res.jobs, c.count)
	}
	rc.QueuedAtKill = before.queued

	// The restart, with the queue's jobs now run by the no-op executor.
	flags = append(flags, "--queue", c.queue+":noop=true")
	var rss *rssSampler
	p, ready, err := readyServer(ctx, c.binary, dir, flags, func(p *proc) { rss = sampleRSS(p) })
	if err != nil {
		return err
	}
	pid := p.cmd.Process.Pid
	readyHWM := procStatus(pid, "VmHWM")
	rss.draining()
	rep.Server = p.url()
	rep.Spawned.Addr, rep.Spawned.Flags = p.addr, flags
	defer func() {
		if err := p.stop(); err != nil {
			rep.ServerExit = err.Error()
		}
	}()
	rc.ReadyS = ready.Seconds()
	stats, str, err = newLoadClient(p.url(), c.access, 2, 0)
	if err != nil {
		return err
	}
	defer str.CloseIdleConnections()

	var seen atomic.Int64
	progress := startProgress(stderr, "drain", seen.Load, func(rate float64) string {
		return fmt.Sprintf("succeeded %d/%d %.0f/s", seen.Load()-int64(before.succeeded), res.jobs, rate)
	})
	want := int64(before.succeeded)
	if ok, at, _ := waitSucceeded(ctx, stats, c.queue, want+1, 5*time.Millisecond, c.drain, &seen); ok {
		rc.FirstRunS = at.Sub(p.started).Seconds()
	}
	ok, at, last := waitSucceeded(ctx, stats, c.queue, want+res.jobs, 10*time.Millisecond, c.drain, &seen)
	progress()
	rc.Drained, rc.DoneS = ok, at.Sub(p.started).Seconds()
	rc.DrainS = rc.DoneS - rc.ReadyS
	if !ok {
		rc.Left = want + res.jobs - last
	} else if rc.DrainS > 0 {
		rc.DrainJobsPerS = float64(res.jobs) / rc.DrainS
	}
	endHWM := procStatus(pid, "VmHWM")
	peaks := rss.stop()
	rc.RSSRecoveryPeak = max(readyHWM, peaks[0])
	rc.RSSDrainPeak = peaks[1]
	if endHWM > readyHWM {
		// The high-water mark rose after ready: the drain set it.
		rc.RSSDrainPeak = max(rc.RSSDrainPeak, endHWM)
	}
	rep.ServerRSSPeak = endHWM
	return nil
}

// rssSampler reads a process's RSS every 100 ms and keeps the peak of each
// phase: 0 until draining is called, 1 after. Samples catch what VmHWM
// cannot: the peak of the second phase when it stays below the first's.
type rssSampler struct {
	pid   int
	mu    sync.Mutex
	phase int
	peak  [2]int64
	quit  chan struct{}
	done  chan struct{}
}

func sampleRSS(p *proc) *rssSampler {
	s := &rssSampler{pid: p.cmd.Process.Pid, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			s.sample()
			select {
			case <-s.quit:
				return
			case <-p.exited:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) sample() {
	v := procStatus(s.pid, "VmRSS")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peak[s.phase] = max(s.peak[s.phase], v)
}

// draining ends the first phase with a last sample of it.
func (s *rssSampler) draining() {
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phase = 1
}

// stop takes a last sample and returns the peaks.
func (s *rssSampler) stop() [2]int64 {
	s.sample()
	close(s.quit)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}
