package executor

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/ticketq/ticketq/job"
)

const (
	testBucket = "jobs"
	testSecret = "s3cret-key" // must never show up in an error
)

// s3Bundle is a real S3-compatible server: gofakes3 with an in-memory
// backend, holding the bucket testBucket, behind httptest on 127.0.0.1.
type s3Bundle struct {
	srv  *httptest.Server
	opts S3Options // the server's endpoint, testBucket and test keys
}

// newS3 starts the server, closed at cleanup. wrap, if not nil, sits in
// front of gofakes3 to answer what gofakes3 cannot, such as AccessDenied.
func newS3(t *testing.T, wrap func(http.Handler) http.Handler) *s3Bundle {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(testBucket); err != nil {
		t.Fatal(err)
	}
	h := gofakes3.New(backend).Server()
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &s3Bundle{srv: srv, opts: S3Options{
		Endpoint:  srv.URL,
		Bucket:    testBucket,
		AccessKey: "test-access",
		SecretKey: testSecret,
	}}
}

// handler builds the S3 handler for opts, failing the test on an error.
func (b *s3Bundle) handler(t *testing.T, opts S3Options) job.Handler {
	t.Helper()
	h, err := S3(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// client is an independent minio client, to look at what the handler stored.
func (b *s3Bundle) client(t *testing.T) *minio.Client {
	t.Helper()
	c, err := minio.New(strings.TrimPrefix(b.srv.URL, "http://"), &minio.Options{
		Creds:        credentials.NewStaticV4("test-access", testSecret, ""),
		Region:       DefaultS3Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// keys lists every object in the bucket.
func (b *s3Bundle) keys(t *testing.T) []string {
	t.Helper()
	var keys []string
	for obj := range b.client(t).ListObjects(context.Background(), testBucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		keys = append(keys, obj.Key)
	}
	return keys
}

// object returns an object's bytes and what the server says about it.
func (b *s3Bundle) object(t *testing.T, key string) ([]byte, minio.ObjectInfo) {
	t.Helper()
	obj, err := b.client(t).GetObject(context.Background(), testBucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = obj.Close() }()
	body, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	info, err := obj.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return body, info
}

// s3Job is testJob with a fixed creation time.
func s3Job() *job.Job {
	j := testJob()
	j.CreatedAt = time.Date(2024, 2, 29, 23, 30, 0, 0, time.FixedZone("UTC-5", -5*3600)) // 2024-03-01 in UTC
	return j
}

// s3Result is the handler's result.
type s3Result struct {
	Bucket, Key, ETag string
	Size              int64
}

// Ensure that the payload becomes an object at the job's key, with exactly
// its bytes, the content type and the job in the metadata, and that the
// result describes it.
func TestS3_Upload(t *testing.T) {
	for _, tc := range []struct{ name, idem, wire, contentType, wantType string }{
		{"default content type", "key-1", "key-1", "", "application/json"},
		{"own content type", "key-1", "key-1", "text/plain; charset=utf-8", "text/plain; charset=utf-8"},
		{"without idempotency key", "", "", "", "application/json"},
		{"non-ASCII idempotency key", "clé-1", "=?utf-8?q?cl=C3=A9-1?=", "", "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent := make(chan http.Header, 1)
			b := newS3(t, func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodPut {
						sent <- r.Header.Clone()
					}
					next.ServeHTTP(w, r)
				})
			})
			opts := b.opts
			opts.ContentType = tc.contentType
			j := s3Job()
			j.IdempotencyKey = tc.idem
			res, err := call(t, b.handler(t, opts), context.Background(), j)
			if err != nil {
				t.Fatal(err)
			}
			const key = "emails/2024-03-01/42.json"
			body, info := b.object(t, key)
			if string(body) != string(j.Payload) {
				t.Errorf("object = %q, want the payload %q", body, j.Payload)
			}
			if info.ContentType != tc.wantType {
				t.Errorf("content type = %q, want %q", info.ContentType, tc.wantType)
			}
			put := <-sent
			if got := put.Get("X-Amz-Meta-Idempotency-Key"); got != tc.wire {
				t.Errorf("X-Amz-Meta-Idempotency-Key = %q on the wire, want %q", got, tc.wire)
			}
			if put.Get("Content-MD5") == "" { // gofakes3 checks it against the body
				t.Error("the PUT has no Content-MD5")
			}
			// minio-go decodes on reading what the handler Q-encoded.
			want := map[string]string{"Ticket": "42", "Queue": "emails", "Attempt": "3"}
			if tc.idem != "" {
				want["Idempotency-Key"] = tc.idem
			}
			if len(info.UserMetadata) != len(want) {
				t.Errorf("metadata = %v, want %v", info.UserMetadata, want)
			}
			for k, v := range want {
				if info.UserMetadata[k] != v {
					t.Errorf("metadata %s = %q, want %q", k, info.UserMetadata[k], v)
				}
			}
			var r s3Result
			if err := json.Unmarshal(res, &r); err != nil {
				t.Fatalf("result %s: %v", res, err)
			}
			if r.Bucket != testBucket || r.Key != key || r.ETag == "" || r.ETag != info.ETag || r.Size != int64(len(j.Payload)) {
				t.Errorf("result = %s, want bucket %s, key %s, etag %q, size %d", res, testBucket, key, info.ETag, len(j.Payload))
			}
		})
	}
}

// Ensure that a re-run of a job overwrites its object: one object per job,
// holding the latest run's bytes, even when the re-run comes a day later.
func TestS3_Overwrite(t *testing.T) {
	b := newS3(t, nil)
	h := b.handler(t, b.opts)
	j := s3Job()
	if _, err := call(t, h, context.Background(), j); err != nil {
		t.Fatal(err)
	}
	again := s3Job()
	again.Attempt = 4
	again.StartedAt = j.CreatedAt.Add(24 * time.Hour) // the key must not depend on when it runs
	again.Payload = []byte(`{"to":"b@example.com"}`)
	if _, err := call(t, h, context.Background(), again); err != nil {
		t.Fatal(err)
	}
	const key = "emails/2024-03-01/42.json"
	if keys := b.keys(t); !slices.Equal(keys, []string{key}) {
		t.Fatalf("bucket holds %q, want exactly [%q]", keys, key)
	}
	body, info := b.object(t, key)
	if string(body) != string(again.Payload) || info.UserMetadata["Attempt"] != "4" {
		t.Errorf("object = %q from attempt %s, want %q from attempt 4", body, info.UserMetadata["Attempt"], again.Payload)
	}
}

// Ensure that the defaults come from the environment: credentials, session
// token and region (AWS_REGION before AWS_DEFAULT_REGION), and that a
// non-AWS endpoint gets path-style requests.
func TestS3_Environment(t *testing.T) {
	for _, tc := range []struct{ name, field, region, defaultRegion, want string }{
		{"Region field", "eu-north-1", "eu-west-3", "ap-south-1", "eu-north-1"},
		{"AWS_REGION", "", "eu-west-3", "ap-south-1", "eu-west-3"},
		{"AWS_DEFAULT_REGION", "", "", "ap-south-1", "ap-south-1"},
		{"no region", "", "", "", "us-east-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_ACCESS_KEY_ID", "env-access")
			t.Setenv("AWS_SECRET_ACCESS_KEY", testSecret)
			t.Setenv("AWS_SESSION_TOKEN", "env-token")
			t.Setenv("AWS_REGION", tc.region)
			t.Setenv("AWS_DEFAULT_REGION", tc.defaultRegion)
			type seen struct{ path, auth, token string }
			got := make(chan seen, 1)
			b := newS3(t, func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					got <- seen{r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("X-Amz-Security-Token")}
					next.ServeHTTP(w, r)
				})
			})
			h := b.handler(t, S3Options{Endpoint: b.opts.Endpoint, Bucket: testBucket, Region: tc.field})
			if _, err := call(t, h, context.Background(), s3Job()); err != nil {
				t.Fatal(err)
			}
			r := <-got
			if r.path != "/jobs/emails/2024-03-01/42.json" {
				t.Errorf("path = %q, want path-style /jobs/emails/2024-03-01/42.json", r.path)
			}
			if !strings.Contains(r.auth, "Credential=env-access/") || !strings.Contains(r.auth, "/"+tc.want+"/s3/aws4_request") {
				t.Errorf("Authorization = %q, want env-access's key signed for %s", r.auth, tc.want)
			}
			if r.token != "env-token" {
				t.Errorf("X-Amz-Security-Token = %q, want env-token", r.token)
			}
		})
	}
}

// Ensure that bad options are refused at construction, naming the field,
// without repeating a secret.
func TestS3_Options(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts S3Options
		want string
	}{
		{"no bucket", S3Options{}, "s3 Bucket is required"},
		{"bad bucket", S3Options{Bucket: "No_Such..Bucket"}, `s3 Bucket "No_Such..Bucket" is not a bucket name`},
		{"short bucket", S3Options{Bucket: "ab"}, `s3 Bucket "ab"`},
		{"bad template", S3Options{Bucket: "b-1", Key: "{queue}/{date}.json"}, "s3 Key: invalid input: key template"},
		{"bad scheme", S3Options{Bucket: "b-1", Endpoint: "ftp://s3.local"}, `s3 Endpoint "ftp://s3.local": the scheme must be http or https`},
		{"no host", S3Options{Bucket: "b-1", Endpoint: "http://"}, `s3 Endpoint "http://" has no host`},
		{"path", S3Options{Bucket: "b-1", Endpoint: "http://s3.local/prefix"}, `s3 Endpoint "http://s3.local/prefix" must be scheme://host[:port]`},
		{"not a URL", S3Options{Bucket: "b-1", Endpoint: "http://s3 local"}, `s3 Endpoint "http://s3 local" is not a URL`},
		{"bad port", S3Options{Bucket: "b-1", Endpoint: "s3.local:http"}, `s3 Endpoint "s3.local:http" is not a URL`},
		{"credentials in URL", S3Options{Bucket: "b-1", Endpoint: "https://me:" + testSecret + "@s3.local"}, "s3 Endpoint must not hold credentials"},
		{"secret without access key", S3Options{Bucket: "b-1", SecretKey: testSecret}, "s3 AccessKey and SecretKey must be set together"},
		{"bad content type", S3Options{Bucket: "b-1", ContentType: "json\r\nX-Evil: 1"}, "s3 ContentType"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := S3(tc.opts)
			if h != nil || !errors.Is(err, job.ErrInvalid) {
				t.Fatalf("S3 = %v, want an error wrapping job.ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), testSecret) {
				t.Errorf("error = %q, want it to contain %q and not the secret", err, tc.want)
			}
		})
	}
}

// Ensure that a half-set credential pair in the environment is refused
// rather than silently sending anonymous requests.
func TestS3_Options_HalfSetEnvironment(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "env-access")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_SECRET_KEY", "")
	_, err := S3(S3Options{Bucket: "b-1"})
	if !errors.Is(err, job.ErrInvalid) || !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY") {
		t.Errorf("error = %v, want one naming AWS_SECRET_ACCESS_KEY", err)
	}
}
