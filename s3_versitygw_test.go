package ticketq_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// s3Job is what these tests read of a job.
type s3Job struct {
	Ticket      string          `json:"ticket"`
	State       string          `json:"state"`
	Attempts    int             `json:"attempts"`
	Interrupted int             `json:"interrupted"`
	CreatedAt   time.Time       `json:"created_at"`
	LastError   string          `json:"last_error"`
	Result      json.RawMessage `json:"result"`
}

// submitS3 submits one job and returns its ticket.
func submitS3(t *testing.T, p *proc, queue, body string) string {
	t.Helper()
	var r struct {
		Ticket string `json:"ticket"`
	}
	if status, err := p.do("POST", "/v1/queues/"+queue+"/jobs", body, &r); err != nil || status != 202 {
		t.Fatalf("submit %s to %s: %d, %v", body, queue, status, err)
	}
	return r.Ticket
}

// finalS3 long-polls a job until it is final.
func finalS3(t *testing.T, p *proc, ticket string) s3Job {
	t.Helper()
	var j s3Job
	for range 4 {
		if status, err := p.do("GET", "/v1/jobs/"+ticket+"?wait=30s", "", &j); err != nil || status != 200 {
			t.Fatalf("status of %s: %d, %v", ticket, status, err)
		}
		if j.State == "succeeded" || j.State == "dead" || j.State == "canceled" {
			return j
		}
	}
	t.Fatalf("job %s not final after 2 minutes: %+v\n%s", ticket, j, tail(p.logs(), 20))
	return j
}

// Ensure that against a real S3 server (versitygw, a process on
// 127.0.0.1 with its POSIX backend in a temporary directory), signed with
// the keys in the ticketq server's AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, each job's payload becomes one object at the key
// its template gives for the job: its bytes, its metadata, and a result that
// names it.
func TestServe_S3ServerUpload(t *testing.T) {
	g := startS3(t)
	g.makeBucket(t, "jobs")
	p := startServerEnv(t, t.TempDir(), g.env(), "--s3-bucket", "jobs", "--s3-endpoint", g.endpoint,
		"--queue", "receipts:s3_bucket=jobs", "--queue", "receipts:s3_key=receipts/{idempotency_key}.json")

	type upload struct {
		queue, payload, idem string
		key                  func(j s3Job) string // the key the job must have
	}
	byDate := func(queue string) func(j s3Job) string { // the default {queue}/{date}/{ticket}.json
		return func(j s3Job) string {
			return fmt.Sprintf("%s/%s/%s.json", queue, j.CreatedAt.UTC().Format("2006-01-02"), j.Ticket)
		}
	}
	uploads := []upload{
		{"photos", `{"photo":1}`, "", byDate("photos")},
		{"photos", `{"photo":2,"caption":"été"}`, "", byDate("photos")},
		{"receipts", `{"order":17}`, "order-17", func(s3Job) string { return "receipts/order-17.json" }},
	}
	tickets := make([]string, len(uploads))
	for i, u := range uploads {
		body := fmt.Sprintf(`{"payload":%s}`, u.payload)
		if u.idem != "" {
			body = fmt.Sprintf(`{"payload":%s,"idempotency_key":%q}`, u.payload, u.idem)
		}
		tickets[i] = submitS3(t, p, u.queue, body)
	}
	var want []string
	for i, u := range uploads {
		j := finalS3(t, p, tickets[i])
		if j.State != "succeeded" || j.Attempts != 1 {
			t.Fatalf("job %s of %s: %s after %d attempts: %s", j.Ticket, u.queue, j.State, j.Attempts, j.LastError)
		}
		key := u.key(j)
		want = append(want, key)
		var res struct {
			Bucket, Key, ETag string
			Size              int
		}
		if err := json.Unmarshal(j.Result, &res); err != nil {
			t.Fatalf("result %s: %v", j.Result, err)
		}
		body, info := g.object(t, "jobs", key)
		if string(body) != u.payload {
			t.Errorf("object %s = %q, want the payload %q", key, body, u.payload)
		}
		if res.Bucket != "jobs" || res.Key != key || res.ETag == "" || res.ETag != info.ETag || res.Size != len(u.payload) {
			t.Errorf("result = %s, want bucket jobs, key %s, etag %q, size %d", j.Result, key, info.ETag, len(u.payload))
		}
		meta := info.UserMetadata
		if info.ContentType != "application/json" || meta["Ticket"] != j.Ticket || meta["Queue"] != u.queue || meta["Attempt"] != "1" || meta["Idempotency-Key"] != u.idem {
			t.Errorf("object %s: content type %q, metadata %v; want application/json, ticket %s, queue %s, attempt 1, idempotency key %q",
				key, info.ContentType, meta, j.Ticket, u.queue, u.idem)
		}
	}
	slices.Sort(want)
	if got := g.keys(t, "jobs"); !slices.Equal(got, want) {
		t.Errorf("bucket holds %q, want exactly %q", got, want)
	}
}

// Ensure that a job that the real S3 server refuses — a bucket that does
// not exist, keys it does not accept, no keys at all — is dead after one
// attempt with an error that says why, and that nothing was stored: no
// bucket appears, and the next queue's uploads are unaffected.
func TestServe_S3ServerJobErrors(t *testing.T) {
	g := startS3(t)
	g.makeBucket(t, "jobs")
	for _, tc := range []struct {
		name, bucket string
		env          []string
		want         string // in the job's last_error, after "permanent: put s3://BUCKET/KEY: "
	}{
		{"no such bucket", "no-such-bucket", g.env(), "404 NoSuchBucket: The specified bucket does not exist"},
		{"wrong secret key", "jobs", []string{"AWS_ACCESS_KEY_ID=" + g.accessKey, "AWS_SECRET_ACCESS_KEY=not-" + g.secretKey}, "403 SignatureDoesNotMatch"},
		// AWS answers 403 InvalidAccessKeyId; versitygw has its own code.
		{"unknown access key", "jobs", []string{"AWS_ACCESS_KEY_ID=NOBODY" + g.accessKey, "AWS_SECRET_ACCESS_KEY=" + g.secretKey}, "404 XAdminUserNotFound: No user exists with the provided access key ID"},
		{"no keys in the environment", "jobs", nil, "403 AccessDenied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Three attempts allowed: one run means the error was
			// rightly taken as permanent.
			p := startServerEnv(t, t.TempDir(), tc.env, "--s3-endpoint", g.endpoint, "--s3-key", "{queue}/{ticket}.json",
				"--max-attempts", "3", "--backoff", "10ms", "--queue", "refused:s3_bucket="+tc.bucket)
			tk := submitS3(t, p, "refused", `{"payload":{"n":1}}`)
			j := finalS3(t, p, tk)
			prefix := fmt.Sprintf("permanent: put s3://%s/refused/%s.json: %s", tc.bucket, tk, tc.want)
			if j.State != "dead" || j.Attempts != 1 || !strings.HasPrefix(j.LastError, prefix) {
				t.Errorf("job = %s after %d attempts, last error %q; want dead after 1, error starting %q", j.State, j.Attempts, j.LastError, prefix)
			}
			if strings.Contains(j.LastError, g.secretKey) {
				t.Errorf("the error quotes the secret key: %q", j.LastError)
			}
			if got := g.buckets(t); !slices.Equal(got, []string{"jobs"}) {
				t.Errorf("buckets after the refusal: %q, want only [jobs]", got)
			}
			if got := g.keys(t, "jobs"); len(got) != 0 {
				t.Errorf("bucket jobs holds %q after the refusal, want nothing", got)
			}
		})
	}
}

// Ensure that a crash between the upload and the check-off leaves exactly
// one object on a real S3 server: the first upload is stored, the ticketq
// server is killed with SIGKILL before it hears the answer, and the run
// replayed after the restart overwrites the same key. A proxy in the test
// stands between the two servers to time the kill.
func TestServe_S3ServerCrashBetweenUploadAndCheckoff(t *testing.T) {
	g := startS3(t)
	g.makeBucket(t, "jobs")
	target, err := url.Parse(g.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	toS3 := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host // the signature covers the Host that ticketq sent
	}}
	var puts atomic.Int32
	var victim atomic.Pointer[proc]
	firstPut := make(chan int, 1)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut || puts.Add(1) > 1 {
			toS3.ServeHTTP(w, r)
			return
		}
		// The first upload reaches the S3 server, but its answer never
		// reaches ticketq.
		rec := httptest.NewRecorder()
		toS3.ServeHTTP(rec, r)
		victim.Load().kill()
		firstPut <- rec.Code
	}))
	defer front.Close()

	data := t.TempDir()
	args := []string{"--s3-bucket", "jobs", "--s3-endpoint", front.URL, "--s3-key", "{queue}/{ticket}.json"}
	p := startServerEnv(t, data, g.env(), args...)
	victim.Store(p)
	const payload = `{"photo":1}`
	tk := submitS3(t, p, "uploads", `{"payload":`+payload+`}`)
	select {
	case code := <-firstPut:
		if code != http.StatusOK {
			t.Fatalf("the S3 server answered the first upload with %d", code)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("no upload within 60s\n%s", tail(p.logs(), 20))
	}
	key := "uploads/" + tk + ".json"
	if got := g.keys(t, "jobs"); !slices.Equal(got, []string{key}) {
		t.Fatalf("after the kill the bucket holds %q, want the first upload [%s]", got, key)
	}
	if _, info := g.object(t, "jobs", key); info.UserMetadata["Attempt"] != "1" {
		t.Fatalf("the first upload's metadata: %v, want attempt 1", info.UserMetadata)
	}

	q := startServerEnv(t, data, g.env(), args...)
	j := finalS3(t, q, tk)
	if q.recovered != 1 || j.State != "succeeded" || j.Attempts != 2 || j.Interrupted != 1 {
		t.Fatalf("after the crash: recovered %d, job %+v", q.recovered, j)
	}
	if got := g.keys(t, "jobs"); !slices.Equal(got, []string{key}) || puts.Load() != 2 {
		t.Fatalf("bucket holds %q after %d uploads; want exactly [%s] after 2", got, puts.Load(), key)
	}
	body, info := g.object(t, "jobs", key)
	if string(body) != payload || info.UserMetadata["Attempt"] != "2" {
		t.Errorf("object = %q from attempt %q, want %q from attempt 2, which overwrote the first", body, info.UserMetadata["Attempt"], payload)
	}
}
