package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"

	"github.com/ticketq/ticketq/job"
)

const testObject = "s3://jobs/emails/2024-03-01/42.json"

// s3XML answers like S3 does: an XML error document with the status.
func s3XML(status int, code, message string) func(http.Handler) http.Handler {
	body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>%s</Code><Message>%s</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>`, code, message)
	return answer(status, body, "Content-Type", "application/xml")
}

// answer replaces gofakes3 with a fixed response.
func answer(status int, body string, header ...string) func(http.Handler) http.Handler {
	return func(http.Handler) http.Handler { return reply(status, body, header...) }
}

// assertPermanent fails unless err is a job.PermanentError.
func assertPermanent(t *testing.T, err error) {
	t.Helper()
	if _, ok := errors.AsType[*job.PermanentError](err); !ok {
		t.Errorf("error = %v, want a permanent one", err)
	}
}

// Ensure that a bucket that does not exist kills the job: the
// configuration is wrong, and retrying cannot help.
func TestS3_NoSuchBucket(t *testing.T) {
	b := newS3(t, nil)
	opts := b.opts
	opts.Bucket = "missing"
	_, err := call(t, b.handler(t, opts), context.Background(), s3Job())
	assertPermanent(t, err)
	if want := "put s3://missing/emails/2024-03-01/42.json: 404 NoSuchBucket: "; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error = %v, want it to contain %q", err, want)
	}
}

// Ensure that each server error is sorted into retryable or permanent by
// its code and status, with the object and the server's reason, printable
// and without the secret, in the message.
func TestS3_ServerErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		wrap      func(http.Handler) http.Handler
		permanent bool
		want      string
	}{
		{"AccessDenied", s3XML(403, "AccessDenied", "Access Denied"), true, "403 AccessDenied: Access Denied"},
		{"InvalidAccessKeyId", s3XML(403, "InvalidAccessKeyId", "No such key id."), true, "403 InvalidAccessKeyId: No such key id."},
		{"SignatureDoesNotMatch", s3XML(403, "SignatureDoesNotMatch", "Check your key."), true, "403 SignatureDoesNotMatch: Check your key."},
		{"InvalidBucketName", s3XML(400, "InvalidBucketName", "Bad name."), true, "400 InvalidBucketName: Bad name."},
		{"wrong region", s3XML(301, "PermanentRedirect", "Use the bucket's endpoint."), true, "301 PermanentRedirect"},
		{"NotImplemented", s3XML(501, "NotImplemented", "No."), true, "501 NotImplemented: No."},
		{"SlowDown", s3XML(503, "SlowDown", "Please reduce your request rate."), false, "503 SlowDown: Please reduce your request rate."},
		{"InternalError", s3XML(500, "InternalError", "Oops."), false, "500 InternalError: Oops."},
		{"RequestTimeout is a 400", s3XML(400, "RequestTimeout", "Idle."), false, "400 RequestTimeout: Idle."},
		{"clock skew", s3XML(403, "RequestTimeTooSkewed", "Skewed."), false, "403 RequestTimeTooSkewed: Skewed."},
		{"429 without XML", answer(429, "slow down"), false, "429 Too Many Requests: slow down"},
		{"proxy page", answer(502, "<h1>Bad\x1b[31m\ngateway</h1>", "Content-Type", "text/html"), false, "502 Bad Gateway: <h1>Bad[31m gateway</h1>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newS3(t, tc.wrap)
			_, err := call(t, b.handler(t, b.opts), context.Background(), s3Job())
			if tc.permanent {
				assertPermanent(t, err)
			} else {
				assertRetryable(t, err)
			}
			if want := "put " + testObject + ": " + tc.want; err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), testSecret) {
				t.Errorf("error = %q, want it to contain %q and not the secret", err, want)
			}
			if _, ok := errors.AsType[minio.ErrorResponse](err); !ok {
				t.Errorf("error %v does not wrap the minio.ErrorResponse", err)
			}
		})
	}
}

// Ensure that a server that is down is a retryable failure.
func TestS3_ConnectionRefused(t *testing.T) {
	b := newS3(t, nil)
	h := b.handler(t, b.opts)
	b.srv.Close()
	_, err := call(t, h, context.Background(), s3Job())
	assertRetryable(t, err)
	if err == nil || !strings.Contains(err.Error(), "put "+testObject+": ") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error = %v, want connection refused for %s", err, testObject)
	}
}

// Ensure that a job whose key is invalid fails for good before any request.
func TestS3_InvalidKeyIsPermanent(t *testing.T) {
	b := newS3(t, answer(500, "must not be called"))
	opts := b.opts
	opts.Key = "{idempotency_key}"
	j := s3Job()
	j.IdempotencyKey = "/abs"
	_, err := call(t, b.handler(t, opts), context.Background(), j)
	assertPermanent(t, err)
	if err == nil || !strings.Contains(err.Error(), "s3 key for ticket 42") {
		t.Errorf("error = %v, want the key's problem", err)
	}
}

// Ensure that a cancel or a timeout aborts a PUT the server sits on,
// promptly, with an error wrapping the context's cause.
func TestS3_Cancel(t *testing.T) {
	for _, name := range []string{"cancel", "timeout"} {
		t.Run(name, func(t *testing.T) {
			arrived := make(chan struct{}, 1)
			release := make(chan struct{})
			b := newS3(t, func(http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					arrived <- struct{}{}
					<-release
				})
			})
			t.Cleanup(func() { close(release) }) // runs before the server closes

			errStop := errors.New("stopped by the test")
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			if name == "timeout" {
				var stop context.CancelFunc
				ctx, stop = context.WithTimeoutCause(ctx, 100*time.Millisecond, errStop)
				defer stop()
			}
			h := b.handler(t, b.opts)
			done := make(chan error, 1)
			go func() {
				_, err := h(ctx, s3Job())
				done <- err
			}()
			<-arrived
			if name == "cancel" {
				cancel(errStop)
			}
			select {
			case err := <-done:
				if !errors.Is(err, errStop) || !strings.Contains(err.Error(), "put "+testObject+" aborted") {
					t.Errorf("error = %v, want it to name the object and wrap the cause %v", err, errStop)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("handler still running 10s after the context ended")
			}
		})
	}
}

// Ensure that https works with a Transport that trusts the server, and that
// an untrusted certificate or a plain-HTTP server behind a scheme-less
// endpoint (which means https) is permanent: a configuration error.
func TestS3_TLS(t *testing.T) {
	backend := s3mem.New()
	if err := backend.CreateBucket(testBucket); err != nil {
		t.Fatal(err)
	}
	tlsSrv := httptest.NewUnstartedServer(gofakes3.New(backend).Server())
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	plain := newS3(t, nil)

	opts := plain.opts
	opts.Endpoint = tlsSrv.URL
	opts.Transport = tlsSrv.Client().Transport
	t.Run("trusted", func(t *testing.T) {
		if _, err := call(t, plain.handler(t, opts), context.Background(), s3Job()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		opts := opts
		opts.Transport = nil
		_, err := call(t, plain.handler(t, opts), context.Background(), s3Job())
		assertPermanent(t, err)
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("error = %v, want a certificate error", err)
		}
	})
	t.Run("https to a plain server", func(t *testing.T) {
		opts := plain.opts
		opts.Endpoint = strings.TrimPrefix(plain.srv.URL, "http://")
		_, err := call(t, plain.handler(t, opts), context.Background(), s3Job())
		assertPermanent(t, err)
		if !errors.Is(err, http.ErrSchemeMismatch) {
			t.Errorf("error = %v, want http.ErrSchemeMismatch", err)
		}
	})
}
