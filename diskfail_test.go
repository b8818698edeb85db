package ticketq_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ticketq/ticketq/internal/testfs"
)

// Ensure that when the disk fails under the real binary (ext4 turning
// read-only after an I/O error), the server refuses the write it could not
// commit without acking it, stops serving from its possibly stale map,
// exits non-zero for its supervisor within seconds, and that after a
// repair every job acked before the failure is back.
func TestServe_DiskFailureStops(t *testing.T) {
	dir, fail := testfs.Ext4(t, 64<<20)
	p := startServer(t, dir)
	var acked []string
	for i := range 20 {
		var j jobView
		if status, err := p.do("POST", "/v1/queues/q/jobs", fmt.Sprintf(`{"payload": %d}`, i), &j); err != nil || status != 202 {
			t.Fatalf("submit: %d, %v", status, err)
		}
		acked = append(acked, j.Ticket)
	}

	fail()
	failed := time.Now()
	var refusal struct {
		Error struct{ Code string } `json:"error"`
	}
	status, err := p.do("POST", "/v1/queues/q/jobs", `{"payload": "after"}`, &refusal)
	// The answer is the refusal, or no answer if the process was quicker
	// to exit; either way the job was not acked.
	if err == nil && (status != 503 || (refusal.Error.Code != "outcome_unknown" && refusal.Error.Code != "store_failed" && refusal.Error.Code != "shutting_down")) {
		t.Fatalf("submit on a failed disk: %d %+v", status, refusal)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("server still running 30s after its disk failed\n%s", tail(p.logs(), 3000))
	}
	t.Logf("exited %s after the failure: %v", time.Since(failed), p.exit)
	if p.exit == nil {
		t.Fatalf("server exited 0 after its disk failed\n%s", tail(p.logs(), 3000))
	}
	if logs := p.logs(); !strings.Contains(logs, "commit failed") || !strings.Contains(logs, "ticketq.db") {
		t.Fatalf("the log does not say which commit failed on which file:\n%s", tail(logs, 3000))
	}

	testfs.Remount(t, dir)
	q := startServer(t, dir)
	for _, tk := range acked {
		var j jobView
		if status, err := q.do("GET", "/v1/jobs/"+tk, "", &j); err != nil || status != 200 || j.State != "queued" {
			t.Errorf("acked job %s after the failure: %d %+v, %v", tk, status, j, err)
		}
	}
	q.kill()
	checkFile(t, dir)
}
