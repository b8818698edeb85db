package ticketq_test

import (
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The dashboard's queue kinds and limits: what it shows of each queue's
// kind (push or pull) and of the limits in force, judged by the API.

// limitsText is how the page must show a queue's limits: only those of its
// kind (workers for push, leases for pull), and none that is 0.
func limitsText(q uiQueue) string {
	l := q.Limits
	var parts []string
	switch {
	case q.Kind == "push" && l.Workers == 1:
		parts = append(parts, "1 worker")
	case q.Kind == "push":
		parts = append(parts, thousands(l.Workers)+" workers")
	case q.Kind == "pull" && l.MaxLeases > 0:
		parts = append(parts, "≤ "+thousands(l.MaxLeases)+" leased")
	}
	if l.Rate > 0 {
		parts = append(parts, strconv.FormatFloat(l.Rate, 'f', -1, 64)+"/s, burst "+thousands(l.Burst))
	}
	if l.MaxQueue > 0 {
		parts = append(parts, "≤ "+thousands(l.MaxQueue)+" queued")
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " · ")
}

// Ensure that the dashboard shows each queue's kind and the limits of its
// kind set at run time, in the overview and on the queue's page: a push
// queue's workers and rate, a pull queue's leases and cap, and never a
// number of workers for a pull queue.
func TestUI_QueueKinds(t *testing.T) {
	requireChromium(t)
	srv := startServer(t, filepath.Join(t.TempDir(), "data"), "--queue", "emails:exec=cat")
	base := srv.base
	for _, tk := range submitUI(t, base, "", "emails", map[string]string{"to": "ada@example.com"}) {
		awaitFinal(t, base, "", tk)
	}
	submitUI(t, base, "", "thumbnails", map[string]string{"photo": "cat.jpg"})
	// Limits of each kind to show: a pull queue's leases and cap, a push
	// queue's rate.
	for queue, body := range map[string]string{"thumbnails": `{"max_leases": 5, "max_queue": 1000}`, "emails": `{"rate": 50, "burst": 5}`} {
		if code := apiCall(t, base, "", http.MethodPatch, "/v1/queues/"+queue, body, nil); code != http.StatusOK {
			t.Fatalf("PATCH %s = %d", queue, code)
		}
	}

	b := newBrowser(t, 1280, 900)
	b.do("load /ui/", chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS(`#queues tr[data-queue="thumbnails"]`)))
	b.await("the page is live", `document.getElementById('live').dataset.state === 'ok'`)
	checkOverview(t, b, base, "")

	workers := regexp.MustCompile(`\bworkers? \d|\d+ workers?\b`)
	for queue, want := range map[string][]string{
		"emails":     {"push", "4 workers · 50/s, burst 5", "running, 0 in flight in this server"},
		"thumbnails": {"pull", "limits: ≤ 5 leased · ≤ 1,000 queued", "0 running (leased to workers)"},
	} {
		b.do("open queue "+queue, chromedp.Click(chromedp.CSS(`a.brand`)),
			chromedp.WaitVisible(chromedp.CSS(`#queues tr[data-queue="`+queue+`"]`)),
			chromedp.Click(chromedp.CSS(`#queues tr[data-queue="`+queue+`"] td.name a`)),
			chromedp.WaitVisible(chromedp.CSS(`#view-queue`)))
		b.awaitText(queue+"'s kind", `document.getElementById('q-kind').textContent`, want[0])
		line := b.text("#q-stats")
		for _, part := range want[1:] {
			if !strings.Contains(line, part) {
				t.Errorf("queue %s shows %q, want it to hold %q", queue, line, part)
			}
		}
		if want[0] == "pull" && workers.MatchString(line) {
			t.Errorf("pull queue %s shows a number of workers: %q", queue, line)
		}
	}
	b.screenshot("queue-pull")
	b.checkConsole()
	stopServer(t, srv)
}
