package ticketq_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// screenshotLoad is how long the README screenshot's server runs under
// load with the page open, so that the chart has a minute and a half of
// history.
const screenshotLoad = 90 * time.Second

// Ensure that the README's screenshot can be made again: with
// TICKETQ_UI_SCREENSHOT=docs/dashboard.png, it starts the real binary with
// a few realistic queues, keeps them busy at a varying rate for 90 s while
// the dashboard is open, and saves the overview, 1200 px wide, to that
// path. Without the variable it says so and skips: it takes minutes, and
// the other UI tests already cover what it shows.
func TestUI_ReadmeScreenshot(t *testing.T) {
	out := os.Getenv("TICKETQ_UI_SCREENSHOT")
	if out == "" {
		t.Skip("set TICKETQ_UI_SCREENSHOT=docs/dashboard.png to write the README's screenshot (about 2 minutes)")
	}
	requireChromium(t)
	dir := t.TempDir()
	flaky := filepath.Join(dir, "invoice.sh")
	// One invoice in seven fails for good: the dead count and the red
	// band of the chart.
	if err := os.WriteFile(flaky, []byte("#!/bin/sh\nsleep 0.05\nif [ $((TICKETQ_TICKET % 7)) -eq 0 ]; then echo 'smtp: 451 temporary failure' >&2; exit 1; fi\ncat\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, filepath.Join(dir, "data"),
		"--queue", "emails:noop=true", "--queue", "emails:rate=30",
		"--queue", "thumbnails:exec=sleep 0.4; cat", "--queue", "thumbnails:workers=6",
		"--queue", "invoices:exec="+flaky, "--queue", "invoices:max_attempts=1", "--queue", "invoices:workers=2",
		"--queue", "billing:noop=true",
		// Limits of both kinds for the Limits column.
		"--queue", "webhooks:max_leases=20", "--queue", "thumbnails:max_queue=5000",
	)
	base := srv.base
	if code := apiCall(t, base, "", http.MethodPost, "/v1/queues/billing/pause", "", nil); code != http.StatusOK {
		t.Fatalf("pause billing = %d", code)
	}
	// A pull queue whose workers are away, and a paused queue: backlogs
	// that age.
	for i := range 4 {
		var webhooks, billing []any
		for j := range 40 {
			webhooks = append(webhooks, map[string]any{"url": "https://hooks.example.com/orders", "order": i*40 + j})
			billing = append(billing, map[string]any{"customer": fmt.Sprintf("cus_%04d", i*40+j)})
		}
		submitUI(t, base, "", "webhooks", webhooks...)
		submitUI(t, base, "", "billing", billing[:10+i*5]...)
	}

	b := newBrowser(t, 1200, 900)
	b.do("load /ui/", chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS(`#queues tr[data-queue="webhooks"]`)))

	// The load: batches every 250 ms at a rate that swells and ebbs.
	ctx, stop := context.WithTimeout(context.Background(), screenshotLoad)
	var submitted atomic.Int64
	done := make(chan struct{})
	// The generator reports to t, so it must end before the test does.
	defer func() {
		stop()
		<-done
	}()
	go func() {
		defer close(done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		start := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			phase := time.Since(start).Seconds() / 30 * math.Pi
			for queue, perSecond := range map[string]float64{
				"emails":     28 + 14*math.Sin(phase),
				"thumbnails": 9 + 5*math.Cos(phase/1.7),
				"invoices":   6 + 4*math.Sin(phase/2.3+1),
			} {
				n := int(perSecond/4 + 0.5)
				var batch []any
				for i := range n {
					batch = append(batch, map[string]any{"queue": queue, "n": i})
				}
				if n == 0 {
					continue
				}
				if _, err := submitBatch(base, "", queue, batch...); err != nil {
					t.Error(err)
					return
				}
				submitted.Add(int64(n))
			}
		}
	}()
	// The screenshot is taken while the load still runs, so that jobs are
	// running in it, right after a poll.
	progress := time.NewTicker(15 * time.Second)
	defer progress.Stop()
	start := time.Now()
	ready := time.After(screenshotLoad - 5*time.Second)
	for waiting := true; waiting; {
		select {
		case <-done:
			t.Fatal("the load stopped early")
		case <-progress.C:
			t.Logf("screenshot: %s of %s under load, %d jobs submitted", time.Since(start).Round(time.Second), screenshotLoad, submitted.Load())
		case <-ready:
			waiting = false
		}
	}
	b.do("note the last poll", chromedp.Evaluate[chromedp.Void](`window.__polled = document.getElementById('live-text').textContent`))
	b.await("the next poll", `document.getElementById('live-text').textContent !== window.__polled`)
	shot := b.screenshot("readme")
	stop()
	<-done
	if shot == "" {
		t.Fatal("no screenshot")
	}
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d KiB, %d jobs submitted)", out, len(png)>>10, submitted.Load())
	b.checkConsole()
}
