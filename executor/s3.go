package executor

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/ticketq/ticketq/job"
)

// Defaults for S3Options, and the key limit.
const (
	DefaultS3Endpoint    = "https://s3.amazonaws.com"
	DefaultS3Region      = "us-east-1"
	DefaultS3Key         = "{queue}/{date}/{ticket}.json"
	DefaultS3ContentType = "application/json"

	// MaxS3KeyLen is the longest object key S3 accepts, in bytes.
	MaxS3KeyLen = 1024
)

// S3Options configures S3. Only Bucket is required.
type S3Options struct {
	// Endpoint is the server: an https:// URL, an http:// URL (no TLS, for
	// a local server), or host[:port], which means https. It holds no path,
	// query or credentials. Defaults to DefaultS3Endpoint (AWS).
	Endpoint string

	// Region signs the requests. Defaults to $AWS_REGION, else
	// $AWS_DEFAULT_REGION, else DefaultS3Region (us-east-1). Being always
	// set, it spares a GetBucketLocation request.
	Region string

	// Bucket receives the objects. Required.
	Bucket string

	// Key is the object key template; see S3Key. Defaults to DefaultS3Key
	// ({queue}/{date}/{ticket}.json).
	Key string

	// PathStyle forces path-style requests (http://host/bucket/key). When
	// false, endpoints under amazonaws.com put the bucket in the host name
	// where the name allows it, and every other endpoint uses path-style,
	// which is what most S3-compatible servers need.
	PathStyle bool

	// ContentType is the objects' Content-Type. Defaults to
	// DefaultS3ContentType (application/json).
	ContentType string

	// AccessKey, SecretKey and SessionToken sign the requests. When all are
	// empty, S3 reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
	// AWS_SESSION_TOKEN once, when it is called; when those are unset too,
	// the requests are anonymous.
	AccessKey    string
	SecretKey    string
	SessionToken string

	// Transport sends the requests, for example one that trusts a private
	// CA. Defaults to minio-go's transport.
	Transport http.RoundTripper
}

// S3 returns a handler that writes each job's payload to one object in
// opts.Bucket, at the key that opts.Key gives for the job (see S3Key), with
// opts.ContentType and this user metadata: ticket, queue, attempt and, when
// the job has one, idempotency-key (RFC 2047-encoded if not ASCII). The
// result is JSON: {"bucket":…,"key":…,"etag":…,"size":…}.
//
// The client is minio-go rather than the AWS SDK: it is one module with a
// small dependency tree, takes custom endpoints and path-style addressing
// as plain options, and reads the usual AWS credential variables.
//
// The key depends on the job alone, never on the clock, so a run repeated
// after a crash overwrites the object instead of adding one. Each attempt
// is one PUT: the client does not retry, the queue does, with backoff.
//
//   - 408, 429, 5xx but 501, the S3 codes for throttling, timeouts, internal
//     errors, clock skew and expired tokens, and transport failures are plain
//     errors, retried (minio-go does not expose a Retry-After).
//   - Other server errors (AccessDenied, NoSuchBucket, InvalidAccessKeyId,
//     SignatureDoesNotMatch, a wrong region…), an untrusted certificate, a
//     plain-HTTP answer to https, and an invalid key are job.Permanent: the
//     configuration or the job is wrong, and repeating cannot help.
//   - When the context ends the request is aborted and the error wraps
//     context.Cause(ctx).
//
// Errors name the bucket and the key, never the credentials. S3 checks
// opts (errors wrap job.ErrInvalid and name the field) and builds the
// client once; it sends nothing until the first job.
func S3(opts S3Options) (job.Handler, error) {
	if opts.Key == "" {
		opts.Key = DefaultS3Key
	}
	if opts.ContentType == "" {
		opts.ContentType = DefaultS3ContentType
	}
	if opts.Region == "" {
		opts.Region = cmp.Or(os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"), DefaultS3Region)
	}
	if opts.Bucket == "" {
		return nil, fmt.Errorf("%w: s3 Bucket is required", job.ErrInvalid)
	}
	if s3utils.CheckValidBucketName(opts.Bucket) != nil {
		return nil, fmt.Errorf("%w: s3 Bucket %q is not a bucket name: 3 to 63 letters, digits, '.' and '-', starting and ending with a letter or digit", job.ErrInvalid, clipped(opts.Bucket))
	}
	if err := parseKeyTemplate(opts.Key); err != nil {
		return nil, fmt.Errorf("s3 Key: %w", err)
	}
	if _, _, err := mime.ParseMediaType(opts.ContentType); err != nil {
		return nil, fmt.Errorf("%w: s3 ContentType %q: %v", job.ErrInvalid, clipped(opts.ContentType), err)
	}
	u, err := parseEndpoint(opts.Endpoint)
	if err != nil {
		return nil, err
	}
	creds, err := s3Credentials(opts)
	if err != nil {
		return nil, err
	}
	lookup := minio.BucketLookupPath
	if h := strings.ToLower(u.Hostname()); !opts.PathStyle && (strings.HasSuffix(h, ".amazonaws.com") || strings.HasSuffix(h, ".amazonaws.com.cn")) {
		lookup = minio.BucketLookupAuto // virtual-hosted unless the name has dots and TLS is on
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        creds,
		Secure:       u.Scheme == "https",
		Region:       opts.Region,
		BucketLookup: lookup,
		Transport:    opts.Transport,
		MaxRetries:   1, // the queue retries, with backoff and a history
	})
	if err != nil {
		return nil, fmt.Errorf("%w: s3 Endpoint: %v", job.ErrInvalid, err)
	}
	return func(ctx context.Context, j *job.Job) ([]byte, error) {
		return upload(ctx, client, opts, j)
	}, nil
}

func upload(ctx context.Context, client *minio.Client, opts S3Options, j *job.Job) ([]byte, error) {
	key, err := S3Key(opts.Key, j)
	if err != nil {
		return nil, job.Permanent(fmt.Errorf("s3 key for ticket %s: %w", j.Ticket, err)) // the same job gives the same key
	}
	where := "s3://" + opts.Bucket + "/" + key
	meta := map[string]string{
		"ticket":  j.Ticket.String(),
		"queue":   j.Queue,
		"attempt": strconv.Itoa(j.Attempt),
	}
	if j.IdempotencyKey != "" {
		// S3 wants metadata in ASCII; Q-encoding leaves ASCII keys as they are.
		meta["idempotency-key"] = mime.QEncoding.Encode("utf-8", j.IdempotencyKey)
	}
	info, err := client.PutObject(ctx, opts.Bucket, key, bytes.NewReader(j.Payload), int64(len(j.Payload)), minio.PutObjectOptions{
		ContentType:  opts.ContentType,
		UserMetadata: meta,
		// One PUT, never multipart: it replaces the object atomically, and a
		// crash leaves no half-done upload to be billed (limit 5 GiB).
		DisableMultipart: true,
		// Content-MD5 lets the server check the bytes, and replaces minio-go's
		// aws-chunked signing over http, whose reader races when the server
		// answers early (v7.1.0 to v7.4.1; go test -race catches it).
		SendContentMd5:       true,
		DisableContentSha256: true,
	})
	if err != nil {
		return nil, s3Failure(ctx, where, err)
	}
	return json.Marshal(struct {
		Bucket string `json:"bucket"`
		Key    string `json:"key"`
		ETag   string `json:"etag"`
		Size   int64  `json:"size"`
	}{opts.Bucket, key, info.ETag, info.Size})
}

// s3Failure sorts a failed PUT into retryable, permanent or aborted.
func s3Failure(ctx context.Context, where string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("put %s aborted: %w", where, context.Cause(ctx))
	}
	if resp, ok := errors.AsType[minio.ErrorResponse](err); ok {
		// Without an XML body, Code is the server's status line; the
		// reason phrase is then ours, as in Webhook.
		status := strconv.Itoa(resp.StatusCode)
		if resp.Code != "" && !strings.HasPrefix(resp.Code, status) {
			status += " " + printable([]byte(resp.Code), false)
		} else if text := http.StatusText(resp.StatusCode); text != "" {
			status += " " + text
		}
		e := &s3Error{text: "put " + where + ": " + status, resp: resp}
		if s := snippet(strings.NewReader(resp.Message)); s != "" {
			e.text += ": " + s
		}
		if retryableS3(resp) {
			return e
		}
		return job.Permanent(e)
	}
	err = fmt.Errorf("put %s: %w", where, redactURL(err))
	// A certificate the client does not trust, or a plain-HTTP server behind
	// an https endpoint, is a configuration error like AccessDenied.
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok || errors.Is(err, http.ErrSchemeMismatch) {
		return job.Permanent(err)
	}
	return err
}

// s3Error is a server's error with a printable, short text (the message may
// be a proxy's HTML page); errors.As still finds the minio.ErrorResponse.
type s3Error struct {
	text string
	resp minio.ErrorResponse
}

func (e *s3Error) Error() string { return e.text }
func (e *s3Error) Unwrap() error { return e.resp }

// retryableS3 reports whether an error answer may heal by itself. The codes
// are minio-go's own retry list; S3 answers RequestTimeout with 400 and
// clock skew with 403, so the status alone is not enough.
func retryableS3(r minio.ErrorResponse) bool {
	switch r.Code {
	case "RequestTimeout", "RequestError", "InternalError", "ServiceUnavailable",
		"SlowDown", "SlowDownWrite", "SlowDownRead", "Throttling", "ThrottlingException",
		"RequestLimitExceeded", "RequestThrottled", "RequestTimeTooSkewed",
		"ExpiredToken", "ExpiredTokenException":
		return true
	}
	s := r.StatusCode
	return s == http.StatusRequestTimeout || s == http.StatusTooManyRequests ||
		s >= 500 && s != http.StatusNotImplemented
}

// parseEndpoint checks an endpoint and adds https:// to a bare host[:port].
// Errors do not repeat an endpoint that holds credentials.
func parseEndpoint(endpoint string) (*url.URL, error) {
	if endpoint == "" {
		endpoint = DefaultS3Endpoint
	}
	raw := endpoint
	if !strings.Contains(endpoint, "://") {
		endpoint = "https://" + endpoint
	}
	u, err := url.Parse(endpoint)
	switch {
	case strings.Contains(raw, "@") && (err != nil || u.User != nil):
		return nil, fmt.Errorf("%w: s3 Endpoint must not hold credentials; set AccessKey and SecretKey", job.ErrInvalid)
	case err != nil:
		return nil, fmt.Errorf("%w: s3 Endpoint %q is not a URL", job.ErrInvalid, clipped(raw))
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%w: s3 Endpoint %q: the scheme must be http or https", job.ErrInvalid, clipped(raw))
	case u.Hostname() == "":
		return nil, fmt.Errorf("%w: s3 Endpoint %q has no host", job.ErrInvalid, clipped(raw))
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return nil, fmt.Errorf("%w: s3 Endpoint %q must be scheme://host[:port] without a path", job.ErrInvalid, clipped(raw))
	}
	return u, nil
}

// s3Credentials returns the explicit keys, or else those of the
// environment, read now so that a half-set pair fails at start.
func s3Credentials(opts S3Options) (*credentials.Credentials, error) {
	if opts.AccessKey != "" || opts.SecretKey != "" || opts.SessionToken != "" {
		if opts.AccessKey == "" || opts.SecretKey == "" {
			return nil, fmt.Errorf("%w: s3 AccessKey and SecretKey must be set together", job.ErrInvalid)
		}
		return credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, opts.SessionToken), nil
	}
	creds := credentials.NewEnvAWS()
	v, err := creds.GetWithContext(nil) // nil: the env provider sends no request
	if err != nil {
		return nil, fmt.Errorf("read s3 credentials from the environment: %w", err)
	}
	if v.SignerType.IsAnonymous() && (v.AccessKeyID != "" || v.SecretAccessKey != "") {
		return nil, fmt.Errorf("%w: s3 credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together", job.ErrInvalid)
	}
	return creds, nil
}

// clipped keeps a bad value short in a message, which quotes it with %q.
func clipped(s string) string {
	if len(s) > 64 {
		s = string(dropPartialTail([]byte(s[:64]))) + "…"
	}
	return s
}
