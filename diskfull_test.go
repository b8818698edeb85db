package ticketq_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/ticketq/ticketq/internal/testfs"
)

// Ensure that the real binary on a full disk refuses submits with 507
// before acking them, keeps running, lets jobs acked before the disk
// filled run and check off (waiting for space if they must), and takes
// submits again once space is freed, without a restart; and that after
// kill -9 every acked job is still there.
func TestServe_DiskFull(t *testing.T) {
	dir := testfs.Tmpfs(t, 8<<20)
	// Results as large as the refused submits, so that recording them
	// needs new space as much as a submit does.
	bigResult := `"` + strings.Repeat("r", 32<<10) + `"`
	gate := make(chan struct{})
	delivered := make(chan string, 100)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		delivered <- r.Header.Get("X-Ticketq-Ticket")
		<-gate
		fmt.Fprint(w, bigResult)
	}))
	defer target.Close()
	defer func() {
		select {
		case <-gate:
		default:
			close(gate)
		}
	}()
	p := startServer(t, dir, "--queue", "push:webhook="+target.URL, "--queue", "push:workers=4")

	// Acked before the disk fills: four push jobs, held mid-run by the
	// target, and four pull jobs, leased.
	var pushed, pulled []string
	for i := range 4 {
		var j jobView
		if status, err := p.do("POST", "/v1/queues/push/jobs", fmt.Sprintf(`{"payload": %d}`, i), &j); err != nil || status != 202 {
			t.Fatalf("submit: %d, %v", status, err)
		}
		pushed = append(pushed, j.Ticket)
		if status, err := p.do("POST", "/v1/queues/pull/jobs", fmt.Sprintf(`{"payload": %d}`, i), &j); err != nil || status != 202 {
			t.Fatalf("submit: %d, %v", status, err)
		}
		pulled = append(pulled, j.Ticket)
	}
	for range pushed {
		<-delivered
	}
	var held leaseAnswer
	if status, err := p.do("POST", "/v1/queues/pull/leases", `{"max": 4, "visibility": "10m"}`, &held); err != nil || status != 200 || len(held.Jobs) != 4 {
		t.Fatalf("lease: %d %+v, %v", status, held, err)
	}

	filler := testfs.Fill(t, dir)
	// Pages freed by earlier commits may take a few more jobs; 32 KiB
	// payloads use them up fast.
	big := `{"payload": "` + strings.Repeat("x", 32<<10) + `"}`
	var bigs []string
	var refusal struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	full := false
	for i := 0; i < 1000 && !full; i++ {
		var j jobView
		status, err := p.do("POST", "/v1/queues/pull/jobs", big, &j)
		switch {
		case err != nil:
			t.Fatalf("submit on a full disk: %v\n%s", err, tail(p.logs(), 2000))
		case status == 202:
			bigs = append(bigs, j.Ticket)
		case status == http.StatusInsufficientStorage:
			if _, err := p.do("POST", "/v1/queues/pull/jobs", big, &refusal); err != nil {
				t.Fatal(err)
			}
			full = true
		default:
			t.Fatalf("submit on a full disk: status %d", status)
		}
	}
	if !full {
		t.Fatalf("1000 submits of 32 KiB fitted on a full 8 MiB filesystem")
	}
	// Small jobs take the last free pages, so that the check-offs below
	// have to wait for space too.
	small := 0
	for ; small < 10000; small++ {
		var j jobView
		status, err := p.do("POST", "/v1/queues/pull/jobs", `{"payload": 1}`, &j)
		if err != nil {
			t.Fatal(err)
		}
		if status == http.StatusInsufficientStorage {
			break
		}
		if status != 202 {
			t.Fatalf("small submit on a full disk: status %d", status)
		}
		bigs = append(bigs, j.Ticket)
	}
	if refusal.Error.Code != "disk_full" || !strings.Contains(refusal.Error.Message, "no space left") {
		t.Fatalf("refusal on a full disk: %+v", refusal)
	}
	if status, _ := p.do("GET", "/readyz", "", nil); status != 200 {
		t.Fatalf("/readyz on a full disk: %d", status)
	}

	// The held push runs end now; their check-offs wait for space.
	close(gate)
	p.awaitLog("outcomes wait for space")
	var j jobView
	if status, err := p.do("GET", "/v1/jobs/"+pushed[0], "", &j); err != nil || status != 200 || j.State != "running" {
		t.Fatalf("push job whose check-off waits: %d %+v, %v", status, j, err)
	}
	// The pull acks are refused with 507, or land in pages freed meanwhile.
	var unacked []int
	ack := func(lj leased) string { return fmt.Sprintf(`{"lease": %q, "result": %s}`, lj.Lease, bigResult) }
	for i, lj := range held.Jobs {
		status, err := p.do("POST", "/v1/jobs/"+lj.Ticket+"/ack", ack(lj), nil)
		switch {
		case err != nil:
			t.Fatal(err)
		case status == http.StatusInsufficientStorage:
			unacked = append(unacked, i)
		case status != 200:
			t.Fatalf("ack on a full disk: %d", status)
		}
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for _, i := range unacked {
		lj := held.Jobs[i]
		if status, err := p.do("POST", "/v1/jobs/"+lj.Ticket+"/ack", ack(lj), nil); err != nil || status != 200 {
			t.Fatalf("ack after space was freed: %d, %v", status, err)
		}
	}
	var after jobView
	if status, err := p.do("POST", "/v1/queues/pull/jobs", `{"payload": "after"}`, &after); err != nil || status != 202 {
		t.Fatalf("submit after space was freed: %d, %v\n%s", status, err, tail(p.logs(), 2000))
	}
	for _, tk := range pushed {
		var j jobView
		if status, err := p.do("GET", "/v1/jobs/"+tk+"?wait=30s", "", &j); err != nil || status != 200 || j.State != "succeeded" {
			t.Fatalf("push job %s after space was freed: %d %+v, %v", tk, status, j, err)
		}
	}
	t.Logf("disk full after %d submits (%d small); %d of 4 acks refused until space was freed", len(bigs), small, len(unacked))
	if !strings.Contains(p.logs(), "disk full") || !strings.Contains(p.logs(), "disk has space again") {
		t.Fatalf("the log does not tell the operator about the full disk:\n%s", tail(p.logs(), 3000))
	}

	p.kill()
	q := startServer(t, dir)
	want := map[string]string{after.Ticket: "queued"}
	for _, tk := range append(pushed, pulled...) {
		want[tk] = "succeeded"
	}
	for _, tk := range bigs {
		want[tk] = "queued"
	}
	for tk, state := range want {
		var j jobView
		if status, err := q.do("GET", "/v1/jobs/"+tk, "", &j); err != nil || status != 200 || j.State != state {
			t.Errorf("acked job %s after kill -9: %d %+v, %v; want %s", tk, status, j, err, state)
		}
	}
	q.kill()
	checkFile(t, dir)
}
