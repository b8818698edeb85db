package ticketq_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Ensure that a crash between the upload and the check-off leaves exactly
// one object: the replayed run writes the same key again. The S3-compatible
// server (gofakes3, on 127.0.0.1) stores the first upload, then the test
// kills the ticketq server before it hears the answer.
func TestServe_S3CrashBetweenUploadAndCheckoff(t *testing.T) {
	store := s3mem.New()
	if err := store.CreateBucket("jobs"); err != nil {
		t.Fatal(err)
	}
	s3 := gofakes3.New(store).Server()
	var puts atomic.Int32
	var victim atomic.Pointer[proc]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut || puts.Add(1) > 1 {
			s3.ServeHTTP(w, r)
			return
		}
		// The first upload is stored, but its answer never reaches ticketq.
		rec := httptest.NewRecorder()
		s3.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			t.Errorf("first upload answered %d: %s", rec.Code, rec.Body)
		}
		p := victim.Load()
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
	}))
	defer srv.Close()

	data := t.TempDir()
	args := []string{"--s3-bucket", "jobs", "--s3-endpoint", srv.URL, "--s3-key", "{queue}/{ticket}.json"}
	p := startServer(t, data, args...)
	victim.Store(p)
	var sub jobView
	if status, err := p.do("POST", "/v1/queues/uploads/jobs", `{"payload": {"photo": 1}}`, &sub); err != nil || status != 202 {
		t.Fatalf("submit: %d, %v", status, err)
	}
	<-p.exited

	q := startServer(t, data, args...)
	var j jobView
	if status, err := q.do("GET", "/v1/jobs/"+sub.Ticket+"?wait=30s", "", &j); err != nil || status != 200 {
		t.Fatalf("status: %d, %v", status, err)
	}
	if q.recovered != 1 || j.State != "succeeded" || j.Attempts != 2 || j.Interrupted != 1 {
		t.Fatalf("after the crash: recovered %d, job %+v", q.recovered, j)
	}
	list, err := store.ListBucket("jobs", nil, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("uploads/%s.json", sub.Ticket)
	if len(list.Contents) != 1 || list.Contents[0].Key != want || puts.Load() != 2 {
		keys := []string{}
		for _, o := range list.Contents {
			keys = append(keys, o.Key)
		}
		t.Fatalf("bucket holds %v after %d uploads; want exactly [%s]", keys, puts.Load(), want)
	}
}
