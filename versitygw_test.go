package ticketq_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// versitygwModule pins versitygw in a module of its own: its dependency
// graph (AWS and Azure SDKs, Kafka, NATS…) would otherwise raise versions
// of modules that the ticketq binary links.
const versitygwModule = "internal/tools/versitygw"

var (
	versitygwOnce sync.Once
	versitygwPath string
	versitygwErr  error
)

// versitygwBinary returns the versitygw executable. `go tool -n` builds it
// once and keeps the linked binary in the build cache, so that later test
// runs find it there instead of linking 60 MB again.
func versitygwBinary(t *testing.T) string {
	t.Helper()
	versitygwOnce.Do(func() {
		cmd := exec.Command("go", "tool", "-C", versitygwModule, "-n", "versitygw")
		stderr := &syncBuf{}
		cmd.Stderr = stderr
		out, err := cmd.Output()
		path := strings.TrimSpace(string(out))
		if err == nil {
			_, err = os.Stat(path)
		}
		if err != nil {
			versitygwErr = fmt.Errorf("build versitygw (go tool -C %s -n versitygw): %v\n%s"+
				"It comes from the Go module proxy; fetch it with: go mod download -C %[1]s",
				versitygwModule, err, stderr)
			return
		}
		versitygwPath = path
	})
	if versitygwErr != nil {
		t.Fatal(versitygwErr)
	}
	return versitygwPath
}

// s3gw is a real S3 server for one test: versitygw with its POSIX backend
// in a temporary directory, a process of its own on 127.0.0.1, killed at
// cleanup. Its only account is the root one, with random keys.
type s3gw struct {
	endpoint  string // http://127.0.0.1:PORT
	accessKey string
	secretKey string
}

// startS3 starts versitygw and waits until it answers a signed request.
func startS3(t *testing.T) *s3gw {
	t.Helper()
	bin := versitygwBinary(t)
	g := &s3gw{accessKey: "TQ" + rand.Text()[:18], secretKey: rand.Text()}
	root, sidecar := t.TempDir(), t.TempDir()
	// freePort's port can be taken before versitygw binds it; then
	// versitygw exits, and another port is tried.
	var failures []string
	for range 3 {
		addr := freePort(t)
		// Metadata in a sidecar directory: the temporary directory's file
		// system may not take the extended attributes of the default.
		cmd := exec.Command(bin, "--port", addr, "--quiet", "posix", "--sidecar", sidecar, root)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
			"ROOT_ACCESS_KEY_ID=" + g.accessKey, "ROOT_SECRET_ACCESS_KEY=" + g.secretKey}
		out := &syncBuf{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start versitygw: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
		g.endpoint = "http://" + addr
		if err := g.awaitReady(exited); err != nil {
			failures = append(failures, fmt.Sprintf("on %s: %v\n%s", addr, err, out))
			continue
		}
		return g
	}
	t.Fatalf("versitygw did not start:\n%s", strings.Join(failures, "\n"))
	return nil
}

// awaitReady polls until the server lists its buckets: versitygw prints
// its banner before it listens, so there is nothing else to wait on.
func (g *s3gw) awaitReady(exited <-chan error) error {
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	c := g.client()
	var last error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, last = c.ListBuckets(ctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %v", err)
		case <-deadline.C:
			return fmt.Errorf("no answer within 60s: %v", last)
		case <-tick.C:
		}
	}
}

// client is an S3 client of the server's root account, apart from ticketq.
func (g *s3gw) client() *minio.Client {
	c, err := minio.New(strings.TrimPrefix(g.endpoint, "http://"), &minio.Options{
		Creds:        credentials.NewStaticV4(g.accessKey, g.secretKey, ""),
		Region:       "us-east-1",
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		panic(err) // the options are constant; an error is a bug in this helper
	}
	return c
}

// env is the environment that gives ticketq the server's keys.
func (g *s3gw) env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + g.accessKey, "AWS_SECRET_ACCESS_KEY=" + g.secretKey}
}

func (g *s3gw) makeBucket(t *testing.T, name string) {
	t.Helper()
	if err := g.client().MakeBucket(context.Background(), name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket %s: %v", name, err)
	}
}

// buckets lists the server's buckets by name.
func (g *s3gw) buckets(t *testing.T) []string {
	t.Helper()
	list, err := g.client().ListBuckets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range list {
		names = append(names, b.Name)
	}
	return names
}

// keys lists every object of a bucket, sorted.
func (g *s3gw) keys(t *testing.T, bucket string) []string {
	t.Helper()
	keys := []string{}
	for obj := range g.client().ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatalf("list %s: %v", bucket, obj.Err)
		}
		keys = append(keys, obj.Key)
	}
	slices.Sort(keys)
	return keys
}

// object reads an object and what the server says about it.
func (g *s3gw) object(t *testing.T, bucket, key string) ([]byte, minio.ObjectInfo) {
	t.Helper()
	obj, err := g.client().GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer func() { _ = obj.Close() }()
	body, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("read %s/%s: %v", bucket, key, err)
	}
	info, err := obj.Stat()
	if err != nil {
		t.Fatalf("stat %s/%s: %v", bucket, key, err)
	}
	return body, info
}
