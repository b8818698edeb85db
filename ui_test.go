package ticketq_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The dashboard (/ui/) tested end to end: the real binary, headless
// Chromium, clicks, and the API as the judge of what the page shows.

// uiQueue is a queue as GET /v1/queues describes it.
type uiQueue struct {
	Queue    string         `json:"queue"`
	Paused   bool           `json:"paused"`
	Kind     string         `json:"kind"`
	Counts   map[string]int `json:"counts"`
	InFlight int            `json:"in_flight"`
	Oldest   float64        `json:"oldest_queued_age_seconds"`
	Limits   struct {
		Workers   int     `json:"workers"`
		MaxLeases int     `json:"max_leases"`
		Rate      float64 `json:"rate"`
		Burst     int     `json:"burst"`
		MaxQueue  int     `json:"max_queue"`
	} `json:"limits"`
}

// uiJob is a job as GET /v1/jobs/{ticket} describes it.
type uiJob struct {
	Ticket      string          `json:"ticket"`
	State       string          `json:"state"`
	Attempts    int             `json:"attempts"`
	MaxAttempts int             `json:"max_attempts"`
	Result      json.RawMessage `json:"result"`
	Errors      []struct {
		Error string `json:"error"`
	} `json:"errors"`
}

type uiPage struct {
	Jobs []uiJob `json:"jobs"`
	Next string  `json:"next"`
}

// uiRow is a queue's row of the overview as the page shows it.
type uiRow struct {
	Queue  string            `json:"queue"`
	Paused bool              `json:"paused"`
	Kind   string            `json:"kind"`
	Cells  map[string]string `json:"cells"`
}

const readRowsJS = `[...document.querySelectorAll('#queues tbody tr')].map(tr => ({
	queue: tr.dataset.queue,
	paused: !tr.querySelector('.badge.paused').hidden,
	kind: tr.querySelector('.badge.kind').textContent,
	cells: Object.fromEntries([...tr.querySelectorAll('td[data-field]')].map(td => [td.dataset.field, td.textContent.trim()])),
}))`

const readTotalsJS = `Object.fromEntries([...document.querySelectorAll('#totals .card')].map(c => [c.dataset.field, c.querySelector('.value').textContent]))`

// shownInt reads a count as the page writes it (with thousands separators).
func shownInt(t *testing.T, what, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.ReplaceAll(s, ",", ""))
	if err != nil {
		t.Fatalf("%s shows %q, not a count", what, s)
	}
	return n
}

// shownAge reads an age as the page writes it: "—", "42s", "3m 12s".
func shownAge(t *testing.T, what, s string) float64 {
	t.Helper()
	if s == "—" {
		return 0
	}
	var total float64
	for _, part := range strings.Fields(s) {
		unit := map[byte]float64{'s': 1, 'm': 60, 'h': 3600, 'd': 86400}[part[len(part)-1]]
		n, err := strconv.Atoi(part[:len(part)-1])
		if unit == 0 || err != nil {
			t.Fatalf("%s shows %q, not an age", what, s)
		}
		total += float64(n) * unit
	}
	return total
}

// checkOverview compares every number of the overview with the API: the
// queues, their kinds, counts, in-flight jobs, limits, paused flags and
// oldest ages, and the totals. The stored state must be still (nothing running), so that
// the page's last poll and the API's answers agree; only the oldest age
// moves, and it must lie between two reads of the API around the page's.
func checkOverview(t *testing.T, b *browser, base, token string) {
	t.Helper()
	var before, after struct{ Queues []uiQueue }
	apiCall(t, base, token, http.MethodGet, "/v1/queues", "", &before)
	rows := evalJS[[]uiRow](b, readRowsJS)
	totals := evalJS[map[string]string](b, readTotalsJS)
	apiCall(t, base, token, http.MethodGet, "/v1/queues", "", &after)

	if len(rows) != len(before.Queues) {
		t.Fatalf("the page shows %d queues, the API %d: %+v", len(rows), len(before.Queues), rows)
	}
	sum := map[string]int{}
	for i, q := range before.Queues {
		row := rows[i]
		if row.Queue != q.Queue {
			t.Fatalf("row %d is queue %q, the API's is %q", i, row.Queue, q.Queue)
		}
		for _, state := range []string{"queued", "running", "succeeded", "dead", "canceled"} {
			sum[state] += q.Counts[state]
			if got := shownInt(t, q.Queue+" "+state, row.Cells[state]); got != q.Counts[state] {
				t.Errorf("queue %s: the page shows %d %s, the API %d", q.Queue, got, state, q.Counts[state])
			}
		}
		if got := shownInt(t, q.Queue+" in flight", row.Cells["in_flight"]); got != q.InFlight {
			t.Errorf("queue %s: the page shows %d in flight, the API %d", q.Queue, got, q.InFlight)
		}
		if row.Paused != q.Paused {
			t.Errorf("queue %s: the page shows paused=%v, the API %v", q.Queue, row.Paused, q.Paused)
		}
		if row.Kind != q.Kind || (q.Kind != "push" && q.Kind != "pull") {
			t.Errorf("queue %s: the page shows kind %q, the API %q", q.Queue, row.Kind, q.Kind)
		}
		if want := limitsText(q); row.Cells["limits"] != want {
			t.Errorf("queue %s: the page shows limits %q, want %q", q.Queue, row.Cells["limits"], want)
		}
		// The page polled up to 2 s before the first read and writes whole
		// seconds: its age is at most 3 s short of the first read.
		age := shownAge(t, q.Queue+" oldest", row.Cells["oldest"])
		if lo, hi := before.Queues[i].Oldest-3, after.Queues[i].Oldest+1; age < lo || age > hi || (q.Oldest > 3 && age == 0) {
			t.Errorf("queue %s: the page shows an oldest age of %q, the API %.1f s then %.1f s", q.Queue, row.Cells["oldest"], before.Queues[i].Oldest, after.Queues[i].Oldest)
		}
	}
	for state, n := range sum {
		if got := shownInt(t, "total "+state, totals[state]); got != n {
			t.Errorf("the %s total shows %d, the API's queues add up to %d", state, got, n)
		}
	}
}

// thousands writes n as the page does, with comma separators.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// stopServer stops the server with SIGTERM and fails the test unless it
// exits cleanly (a race-built server exits 66 on a data race).
func stopServer(t *testing.T, srv *proc) {
	t.Helper()
	if err := srv.stop(30 * time.Second); err != nil {
		t.Errorf("stop the server: %v\n%s", err, tail(srv.logs(), 3000))
	}
}

// awaitFinal waits (server-side, with ?wait=) until a job is final.
func awaitFinal(t *testing.T, base, token, ticket string) uiJob {
	t.Helper()
	var j uiJob
	if code := apiCall(t, base, token, http.MethodGet, "/v1/jobs/"+ticket+"?wait=30s", "", &j); code != http.StatusOK {
		t.Fatalf("GET /v1/jobs/%s = %d", ticket, code)
	}
	if j.State != "succeeded" && j.State != "dead" && j.State != "canceled" {
		t.Fatalf("ticket %s is still %s after 30 s", ticket, j.State)
	}
	return j
}

// submitUI submits payloads to a queue as one batch and returns the tickets.
func submitUI(t *testing.T, base, token, queue string, payloads ...any) []string {
	t.Helper()
	tickets, err := submitBatch(base, token, queue, payloads...)
	if err != nil {
		t.Fatal(err)
	}
	return tickets
}

// submitBatch is submitUI for goroutines other than the test's own.
func submitBatch(base, token, queue string, payloads ...any) ([]string, error) {
	type sub struct {
		Payload any `json:"payload"`
	}
	var body struct {
		Jobs []sub `json:"jobs"`
	}
	for _, p := range payloads {
		body.Jobs = append(body.Jobs, sub{p})
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, base+"/v1/queues/"+queue+"/jobs", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("submit to %s: %w", queue, err)
	}
	defer resp.Body.Close()
	var res struct{ Tickets []string }
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != http.StatusAccepted {
		return nil, fmt.Errorf("submit to %s: status %d (%v)", queue, resp.StatusCode, err)
	}
	return res.Tickets, nil
}

// findTicket types a ticket number into the header's search and submits it.
func findTicket(b *browser, value string) {
	b.t.Helper()
	b.clear("find-ticket")
	b.do("find ticket "+value,
		chromedp.SendKeys(chromedp.CSS("#find-ticket"), value),
		chromedp.Click(chromedp.CSS("#find-form button")))
}

// The payload of a job that tries to run code in the page.
type hostilePayload struct {
	Name string `json:"name"`
	HTML string `json:"html"`
}

// Ensure that the dashboard shows what the API reports — queues, counts,
// pages of jobs, a job in full — and that its actions work: retry of a dead
// job that then succeeds, cancel, pause and resume. Hostile payloads are
// shown as text, and no page error or CSP violation occurs.
func TestUI_Dashboard(t *testing.T) {
	requireChromium(t)
	dir := t.TempDir()
	up := filepath.Join(dir, "downstream-up")
	script := filepath.Join(dir, "deliver.sh")
	// Fails until the file "downstream-up" exists: the test fixes the
	// outage before it retries the dead job.
	if err := os.WriteFile(script, []byte("#!/bin/sh\nif [ -e '"+up+"' ]; then echo '{\"delivered\": true}'; exit 0; fi\necho 'upstream refused the connection' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, filepath.Join(dir, "data"),
		"--queue", "emails:exec=cat",
		"--queue", "reports:exec="+script, "--queue", "reports:max_attempts=1")
	base := srv.base

	var emails []any
	for i := range 30 {
		emails = append(emails, map[string]any{"to": fmt.Sprintf("user%d@example.com", i)})
	}
	emailTickets := submitUI(t, base, "", "emails", emails...)
	hostile := hostilePayload{Name: `<img src=x onerror="document.title='pwned'">`, HTML: `</pre><script>document.title='pwned'</script>`}
	large := map[string]string{"blob": strings.Repeat("0123456789abcdef", 2500)}
	thumbs := submitUI(t, base, "", "thumbnails", hostile, large, map[string]string{"photo": "cat.jpg"}, map[string]string{"photo": "dog.jpg"})
	hostileTicket, largeTicket, catTicket := thumbs[0], thumbs[1], thumbs[2]
	deadTicket := submitUI(t, base, "", "reports", map[string]string{"report": "weekly"})[0]
	for _, tk := range emailTickets {
		awaitFinal(t, base, "", tk)
	}
	if dead := awaitFinal(t, base, "", deadTicket); dead.State != "dead" || dead.Attempts != 1 {
		t.Fatalf("the report job is %s after %d attempts, want dead after 1", dead.State, dead.Attempts)
	}

	b := newBrowser(t, 1280, 900)
	b.do("load /ui/", chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS(`#queues tr[data-queue="reports"]`)))
	b.await("the page is live", `document.getElementById('live').dataset.state === 'ok'`)
	checkOverview(t, b, base, "")
	if help := b.text("#queues-help"); !strings.Contains(help, "In flight counts the runs this server process holds now") {
		t.Errorf("the overview does not say what in flight means next to running: %q", help)
	}
	b.screenshot("overview")

	t.Run("JobsPaged", func(t *testing.T) {
		b := b.as(t)
		var p1, p2 uiPage
		apiCall(t, base, "", http.MethodGet, "/v1/queues/emails/jobs?state=succeeded&limit=25", "", &p1)
		apiCall(t, base, "", http.MethodGet, "/v1/queues/emails/jobs?state=succeeded&limit=25&after="+p1.Next, "", &p2)
		if len(p1.Jobs) != 25 || p1.Next == "" || len(p2.Jobs) != 5 || p2.Next != "" {
			t.Fatalf("the API's pages: %d jobs (next %q), %d jobs (next %q); want 25 and 5", len(p1.Jobs), p1.Next, len(p2.Jobs), p2.Next)
		}
		tickets := func(p uiPage) string {
			var s []string
			for _, j := range p.Jobs {
				s = append(s, j.Ticket)
			}
			return strings.Join(s, ",")
		}
		const shownJS = `[...document.querySelectorAll('#jobs tbody tr')].map(tr => tr.dataset.ticket).join(',')`
		b.do("open queue emails", chromedp.Click(chromedp.CSS(`#queues tr[data-queue="emails"] td.name a`)),
			chromedp.WaitVisible(chromedp.CSS(`#view-queue`)),
			chromedp.Click(chromedp.CSS(`#q-states a[data-state="succeeded"]`)))
		b.awaitText("page 1 of the succeeded emails", shownJS, tickets(p1))
		if info := b.text("#page-info"); !strings.HasPrefix(info, "page 1 ") {
			t.Errorf("page info %q, want page 1", info)
		}
		b.screenshot("queue-emails")
		b.do("next page", chromedp.Click(chromedp.CSS(`#page-next`)))
		b.awaitText("page 2 of the succeeded emails", shownJS, tickets(p2))
		if !evalJS[bool](b, `document.getElementById('page-next').disabled`) {
			t.Error("Next is enabled on the last page")
		}
		b.do("previous page", chromedp.Click(chromedp.CSS(`#page-prev`)))
		b.awaitText("page 1 again", shownJS, tickets(p1))
		b.do("filter queued", chromedp.Click(chromedp.CSS(`#q-states a[data-state="queued"]`)))
		b.await("no queued emails", `!document.getElementById('jobs-empty').hidden`)
	})

	t.Run("FindTicket", func(t *testing.T) {
		b := b.as(t)
		hash := evalJS[string](b, `location.hash`)
		findTicket(b, "12ab")
		b.await("a refusal", `document.getElementById('flash').dataset.kind === 'error'`)
		if msg := b.text("#flash"); !strings.Contains(msg, "not a ticket number") {
			t.Errorf("flash after finding 12ab: %q", msg)
		}
		if got := evalJS[string](b, `location.hash`); got != hash {
			t.Errorf("finding 12ab moved the page from %q to %q", hash, got)
		}
		findTicket(b, "99999")
		b.await("the 404 banner", `!document.getElementById('banner').hidden`)
		if msg := b.text("#banner"); !strings.Contains(msg, "404 not_found") {
			t.Errorf("banner for an unknown ticket: %q", msg)
		}
		findTicket(b, catTicket)
		b.awaitText("the cat job", `document.getElementById('job-ticket').textContent`, catTicket)
		b.await("the 404 is gone", `document.getElementById('banner').hidden`)
	})

	t.Run("HostilePayload", func(t *testing.T) {
		b := b.as(t)
		findTicket(b, hostileTicket)
		b.awaitText("the hostile payload", `document.getElementById('job-payload').textContent`, prettyJSON(t, hostile))
		if n := evalJS[int](b, `document.querySelectorAll('#job-payload *, [onerror], script:not([src])').length`); n != 0 {
			t.Errorf("the payload became %d elements", n)
		}
		if title := evalJS[string](b, `document.title`); title == "pwned" {
			t.Error("the payload ran code in the page")
		}
		b.screenshot("job-hostile")
	})

	t.Run("LargePayload", func(t *testing.T) {
		b := b.as(t)
		full := prettyJSON(t, large)
		findTicket(b, largeTicket)
		b.await("the truncation note", `!document.getElementById('job-payload-note').hidden`)
		shown := b.text("#job-payload")
		if len(shown) >= len(full) || !strings.HasPrefix(full, strings.TrimSuffix(shown, "\n…")) {
			t.Errorf("truncated payload: %d of %d characters, prefix %v", len(shown), len(full), strings.HasPrefix(full, strings.TrimSuffix(shown, "\n…")))
		}
		if note, want := b.text("#job-payload-note"), thousands(len(full)); !strings.Contains(note, want) {
			t.Errorf("note %q does not give the full length %s", note, want)
		}
		b.do("show all", chromedp.Click(chromedp.CSS(`#job-payload-all`)))
		b.awaitText("the whole payload", `document.getElementById('job-payload').textContent`, full)
	})

	t.Run("Cancel", func(t *testing.T) {
		b := b.as(t)
		findTicket(b, catTicket)
		// The ticket too: the job shown before (also queued) must be gone,
		// or the click would cancel it.
		b.awaitText("the cat job is queued", `document.getElementById('job-ticket').textContent + ' ' + document.getElementById('job-state').dataset.state`, catTicket+" queued")
		b.do("cancel", chromedp.Click(chromedp.CSS(`#job-cancel`)))
		b.awaitText("the cat job is canceled", `document.getElementById('job-state').dataset.state`, "canceled")
		var j uiJob
		apiCall(t, base, "", http.MethodGet, "/v1/jobs/"+catTicket, "", &j)
		if j.State != "canceled" {
			t.Errorf("the API says the canceled job is %s", j.State)
		}
		if !evalJS[bool](b, `document.getElementById('job-cancel').hidden && !document.getElementById('job-retry').hidden`) {
			t.Error("a canceled job still offers Cancel, or not Retry")
		}
	})

	t.Run("RetryDead", func(t *testing.T) {
		b := b.as(t)
		b.do("to the dead reports", chromedp.Click(chromedp.CSS(`a.brand`)),
			chromedp.WaitVisible(chromedp.CSS(`#view-overview`)),
			chromedp.Click(chromedp.CSS(`#queues tr[data-queue="reports"] td[data-field="dead"] a`)))
		b.awaitText("the dead job listed", `[...document.querySelectorAll('#jobs tbody tr')].map(tr => tr.dataset.ticket).join(',')`, deadTicket)
		b.do("open the dead job", chromedp.Click(chromedp.CSS(`#jobs tbody tr[data-ticket="`+deadTicket+`"] a`)))
		b.awaitText("the job is dead", `document.getElementById('job-state').dataset.state`, "dead")
		if got := b.text(`#job-fields dd[data-field="attempts"]`); got != "1" {
			t.Errorf("attempts shown %q, want 1", got)
		}
		if errs := b.text("#job-errors tbody"); !strings.Contains(errs, "upstream refused the connection") {
			t.Errorf("errors shown %q, want the command's stderr", errs)
		}
		b.screenshot("job-dead")

		// Record every state the badge shows from here on.
		evalJS[bool](b, `(() => { const s = document.getElementById('job-state'); window.seen = [];
			new MutationObserver(() => window.seen.push(s.dataset.state)).observe(s, {attributes: true}); return true })()`)
		if err := os.WriteFile(up, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		b.do("retry", chromedp.Click(chromedp.CSS(`#job-retry`)))
		b.awaitText("the retried job succeeded", `document.getElementById('job-state').dataset.state`, "succeeded")
		seen := evalJS[[]string](b, `window.seen`)
		if len(seen) < 2 || seen[0] != "queued" {
			t.Errorf("states shown after retry: %v, want queued first, then on to succeeded", seen)
		}
		if msg := b.text("#flash"); !strings.Contains(msg, "queued again") {
			t.Errorf("flash after retry: %q", msg)
		}
		j := awaitFinal(t, base, "", deadTicket)
		// A retry by hand starts the count of attempts afresh.
		if j.State != "succeeded" || j.Attempts != 1 {
			t.Errorf("the API says the retried job is %s after %d attempts, want succeeded after 1", j.State, j.Attempts)
		}
		if got := b.text(`#job-fields dd[data-field="attempts"]`); got != strconv.Itoa(j.Attempts) {
			t.Errorf("attempts shown %q, the API says %d", got, j.Attempts)
		}
		if res := b.text("#job-result"); !strings.Contains(res, `"delivered": true`) {
			t.Errorf("result shown %q", res)
		}
		b.screenshot("job-retried")
	})

	t.Run("PauseResume", func(t *testing.T) {
		b := b.as(t)
		row := `#queues tr[data-queue="thumbnails"]`
		b.do("pause thumbnails", chromedp.Click(chromedp.CSS(`a.brand`)),
			chromedp.WaitVisible(chromedp.CSS(row)),
			chromedp.Click(chromedp.CSS(row+` button[data-action="pause"]`)),
			chromedp.WaitVisible(chromedp.CSS(row+` .badge.paused`)))
		var q uiQueue
		apiCall(t, base, "", http.MethodGet, "/v1/queues/thumbnails", "", &q)
		if !q.Paused {
			t.Fatal("the page shows thumbnails paused, the API says it is not")
		}
		checkOverview(t, b, base, "")
		b.screenshot("overview-paused")
		b.do("resume thumbnails", chromedp.Click(chromedp.CSS(row+` button[data-action="resume"]`)),
			chromedp.WaitNotVisible(chromedp.CSS(row+` .badge.paused`)))
		apiCall(t, base, "", http.MethodGet, "/v1/queues/thumbnails", "", &q)
		if q.Paused {
			t.Fatal("the page shows thumbnails resumed, the API says it is paused")
		}
	})

	b.checkConsole()
	stopServer(t, srv)
}

// Ensure that, with tokens on, the page's files load without a token while
// the API still refuses one; that the page asks for a token and shows 401
// and 403 answers to its actions (which change nothing); and that the
// admin token works. The token stays in sessionStorage, nowhere else.
func TestUI_Tokens(t *testing.T) {
	requireChromium(t)
	secret := func() string {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(b)
	}
	admin, submitter := secret(), secret()
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("ops admin "+admin+"\nci submit "+submitter+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, t.TempDir(), "--tokens-file", tokens)
	base := srv.base
	submitUI(t, base, admin, "thumbnails", map[string]string{"photo": "cat.jpg"}, map[string]string{"photo": "dog.jpg"})

	for path, want := range map[string]int{"/ui/": 200, "/ui/app.js": 200, "/v1/queues": 401, "/uix": 401} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s without a token = %d, want %d", path, resp.StatusCode, want)
		}
		if want == 200 && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, resp.Header.Get("Content-Security-Policy"))
		}
	}

	paused := func() bool {
		t.Helper()
		var q uiQueue
		if code := apiCall(t, base, admin, http.MethodGet, "/v1/queues/thumbnails", "", &q); code != http.StatusOK {
			t.Fatalf("GET /v1/queues/thumbnails as admin = %d", code)
		}
		return q.Paused
	}
	b := newBrowser(t, 1280, 900)
	enter := func(token string) {
		t.Helper()
		if evalJS[bool](b, `document.getElementById('token-panel').hidden`) {
			b.do("open the token form", chromedp.Click(chromedp.CSS(`#token-toggle`)))
		}
		b.clear("token-input")
		b.do("enter a token", chromedp.WaitVisible(chromedp.CSS(`#token-input`)),
			chromedp.SendKeys(chromedp.CSS(`#token-input`), token),
			chromedp.Click(chromedp.CSS(`#token-save`)))
	}
	row := `#queues tr[data-queue="thumbnails"]`

	b.do("load /ui/ without a token", chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS(`#banner`)), chromedp.WaitVisible(chromedp.CSS(`#token-panel`)))
	if msg := b.text("#banner"); !strings.Contains(msg, "401 unauthorized") {
		t.Errorf("banner without a token: %q", msg)
	}
	if n := evalJS[int](b, `document.querySelectorAll('#queues tbody tr').length`); n != 0 {
		t.Errorf("without a token the page shows %d queues", n)
	}
	b.screenshot("no-token")

	enter("not a token!")
	b.await("the refusal", `document.getElementById('flash').dataset.kind === 'error'`)
	if msg := b.text("#flash"); !strings.Contains(msg, "A token holds only") {
		t.Errorf("flash for a malformed token: %q", msg)
	}
	if got := evalJS[string](b, `sessionStorage.getItem('ticketq.token') || ''`); got != "" {
		t.Errorf("a malformed token was stored: %q", got)
	}

	enter(admin)
	b.do("the queues with the admin token", chromedp.WaitVisible(chromedp.CSS(row)))
	b.await("the banner is gone", `document.getElementById('banner').hidden`)
	checkOverview(t, b, base, admin)
	if got := evalJS[string](b, `sessionStorage.getItem('ticketq.token')`); got != admin {
		t.Error("the admin token is not the one in sessionStorage")
	}
	if n := evalJS[int](b, `localStorage.length + document.cookie.length`); n != 0 {
		t.Errorf("the page left %d things in localStorage or cookies", n)
	}

	// A submit token may not pause: 403, shown, and nothing changes.
	enter(submitter)
	b.do("pause with the submit token", chromedp.Click(chromedp.CSS(row+` button[data-action="pause"]`)))
	b.await("the 403", `document.getElementById('flash').textContent.includes('403')`)
	if msg := b.text("#flash"); !strings.Contains(msg, "403 forbidden") || !strings.Contains(msg, "Paused queue thumbnails failed") {
		t.Errorf("flash after a pause with the submit token: %q", msg)
	}
	if paused() {
		t.Fatal("a refused pause paused the queue")
	}
	b.screenshot("forbidden")

	// No token at all: 401, shown, and nothing changes.
	b.do("forget the token", chromedp.Click(chromedp.CSS(`#token-toggle`)), chromedp.Click(chromedp.CSS(`#token-forget`)))
	b.await("the token is gone", `sessionStorage.getItem('ticketq.token') === null`)
	b.do("pause without a token", chromedp.Click(chromedp.CSS(row+` button[data-action="pause"]`)))
	b.await("the 401", `document.getElementById('flash').textContent.includes('401')`)
	if msg := b.text("#flash"); !strings.Contains(msg, "401 unauthorized") {
		t.Errorf("flash after a pause without a token: %q", msg)
	}
	if paused() {
		t.Fatal("a refused pause paused the queue")
	}
	b.screenshot("unauthorized")

	enter(admin)
	b.do("pause with the admin token", chromedp.Click(chromedp.CSS(row+` button[data-action="pause"]`)),
		chromedp.WaitVisible(chromedp.CSS(row+` .badge.paused`)))
	if !paused() {
		t.Fatal("the page shows thumbnails paused, the API says it is not")
	}
	b.screenshot("paused-as-admin")
	b.checkConsole()
	stopServer(t, srv)
}
