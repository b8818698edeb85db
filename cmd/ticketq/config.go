package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/executor"
	"github.com/ticketq/ticketq/httpapi"
	"github.com/ticketq/ticketq/job"
)

// Config is everything `ticketq serve` can be told. Every field is filled
// from its flag, else its environment variable, else its default from
// newConfig.
type Config struct {
	Addr     string
	Data     string
	Exec     string
	Webhook  string
	S3Bucket string
	S3       S3Config
	Noop     bool

	Queue       ticketq.QueueOptions // defaults of every queue
	Grace       time.Duration
	RetainOK    time.Duration
	RetainDead  time.Duration
	MaxBody     int64
	MaxWait     time.Duration
	MaxPolls    int // concurrent long-polls
	MetricsOpen bool
	MaxQueues   int
	// Timeouts of the http.Server: a client that sends its headers or
	// body slowly, or keeps an idle connection, is cut off after them.
	HeaderTimeout time.Duration
	ReadTimeout   time.Duration
	IdleTimeout   time.Duration
	MaxBatch      int
	LogLevel      string
	LogFormat     string
	Pprof         string
	QueueConfig   map[string]*QueueConfig // per-queue settings, by queue name

	// Access (tokens.go, tls.go). Tokens come from TICKETQ_TOKENS, which
	// has no flag, and TokensFile; TLS is loaded from TLSCert and TLSKey.
	TokensFile     string
	InsecureNoAuth bool
	TLSCert        string
	TLSKey         string
	Tokens         []httpapi.Token
	TLS            *tls.Config // nil: plain HTTP
}

// QueueConfig is one queue's own settings; zero fields fall back to the
// global ones.
type QueueConfig struct {
	Noop     bool
	Exec     string
	Webhook  string
	S3Bucket string
	S3Key    string
	Options  ticketq.QueueOptions
}

// S3Config is where the s3 executor uploads, shared by every queue that
// uses it (each names its own bucket).
type S3Config struct {
	Endpoint  string
	Region    string
	Key       string
	PathStyle bool
}

// defaultAddr is serve's --addr, and where the client commands look for a
// server by default.
const defaultAddr = "127.0.0.1:8080"

// newConfig returns the defaults: the libraries' (ticketq.DefaultOptions,
// httpapi.DefaultOptions), so that a server and an embedding program start
// alike, and the few that only the binary has (the address, the data
// directory, the http.Server's timeouts, the queue cap).
func newConfig() *Config {
	lib, api := ticketq.DefaultOptions(), httpapi.DefaultOptions()
	return &Config{
		Addr:          defaultAddr,
		Data:          "ticketq-data",
		S3:            S3Config{Endpoint: executor.DefaultS3Endpoint, Region: executor.DefaultS3Region, Key: executor.DefaultS3Key},
		Queue:         lib.Queue,
		Grace:         lib.Grace,
		RetainOK:      lib.RetainSucceeded,
		RetainDead:    lib.RetainDead,
		MaxBody:       api.MaxBodyBytes,
		MaxWait:       api.MaxWait,
		MaxPolls:      api.MaxLongPolls,
		MaxQueues:     10000,
		HeaderTimeout: 10 * time.Second,
		ReadTimeout:   30 * time.Second,
		IdleTimeout:   2 * time.Minute,
		MaxBatch:      api.MaxBatch,
		LogLevel:      "info",
		LogFormat:     "auto",
		QueueConfig:   map[string]*QueueConfig{},
	}
}

// setting binds one field to a flag and its environment variables.
type setting struct {
	flag    string
	env     []string // first is canonical; the rest are accepted aliases
	help    string
	value   flag.Value
	example string // the flag's argument name in --help; "" for a switch
}

func (c *Config) settings() []setting {
	return []setting{
		{"addr", []string{"TICKETQ_ADDR"}, "listen address; a non-loopback address exposes the API to the network", (*stringValue)(&c.Addr), "HOST:PORT"},
		{"data", []string{"TICKETQ_DATA"}, "data directory (created if missing; holds ticketq.db)", (*stringValue)(&c.Data), "DIR"},
		{"exec", []string{"TICKETQ_EXEC"}, "default executor: run this shell command per job, payload on stdin", (*stringValue)(&c.Exec), "CMD"},
		{"webhook", []string{"TICKETQ_WEBHOOK"}, "default executor: POST each payload to this URL", (*stringValue)(&c.Webhook), "URL"},
		{"noop", []string{"TICKETQ_NOOP"}, "default executor: the built-in no-op, for benchmarks (a job succeeds at once)", (*boolValue)(&c.Noop), ""},
		{"s3-bucket", []string{"TICKETQ_S3_BUCKET"}, "default executor: upload each payload as an object to this S3 bucket", (*stringValue)(&c.S3Bucket), "BUCKET"},
		{"s3-endpoint", []string{"TICKETQ_S3_ENDPOINT"}, "S3-compatible endpoint URL of the s3 executor (credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)", (*stringValue)(&c.S3.Endpoint), "URL"},
		{"s3-region", []string{"TICKETQ_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"}, "region of the s3 executor", (*stringValue)(&c.S3.Region), "REGION"},
		{"s3-key", []string{"TICKETQ_S3_KEY"}, "object key template of the s3 executor: {ticket} {queue} {date} {idempotency_key}", (*stringValue)(&c.S3.Key), "TEMPLATE"},
		{"s3-path-style", []string{"TICKETQ_S3_PATH_STYLE"}, "force path-style S3 addressing (automatic for non-AWS endpoints)", (*boolValue)(&c.S3.PathStyle), ""},
		{"workers", []string{"TICKETQ_WORKERS", "MAX_WORKERS"}, "jobs run at once per queue", (*intValue)(&c.Queue.Workers), "N"},
		{"max-queue", []string{"TICKETQ_MAX_QUEUE", "MAX_QUEUE"}, "queued jobs per queue before submits get 429; 0 = no limit", (*intValue)(&c.Queue.MaxQueued), "N"},
		{"max-leases", []string{"TICKETQ_MAX_LEASES"}, "jobs a pull queue may have leased out at once; 0 = no limit", (*intValue)(&c.Queue.MaxLeases), "N"},
		{"rate", []string{"TICKETQ_RATE"}, "jobs started per second per queue (workers and leases); 0 = no limit", (*floatValue)(&c.Queue.Rate), "PER_SECOND"},
		{"burst", []string{"TICKETQ_BURST"}, "starts the rate allows at once; 0 = the rate rounded up", (*intValue)(&c.Queue.Burst), "N"},
		{"max-attempts", []string{"TICKETQ_MAX_ATTEMPTS"}, "failed runs before a job is dead", (*intValue)(&c.Queue.MaxAttempts), "N"},
		{"timeout", []string{"TICKETQ_TIMEOUT"}, "per-run timeout of jobs that set none", (*durationValue)(&c.Queue.Timeout), "DURATION"},
		{"backoff", []string{"TICKETQ_BACKOFF"}, "delay before the first retry; doubles per failure, with jitter", (*durationValue)(&c.Queue.BackoffBase), "DURATION"},
		{"backoff-max", []string{"TICKETQ_BACKOFF_MAX"}, "longest retry delay", (*durationValue)(&c.Queue.BackoffMax), "DURATION"},
		{"grace", []string{"TICKETQ_GRACE"}, "on SIGTERM/SIGINT, how long running jobs may finish before they are canceled (and replayed at next start)", (*durationValue)(&c.Grace), "DURATION"},
		{"retain-succeeded", []string{"TICKETQ_RETAIN_SUCCEEDED"}, "how long succeeded and canceled jobs are kept; a negative value keeps them forever", (*durationValue)(&c.RetainOK), "DURATION"},
		{"retain-dead", []string{"TICKETQ_RETAIN_DEAD"}, "how long dead jobs are kept; a negative value keeps them forever", (*durationValue)(&c.RetainDead), "DURATION"},
		{"max-body", []string{"TICKETQ_MAX_BODY"}, "largest request body in bytes (suffixes KiB, MiB); a gzipped body counts decompressed; the default holds a full --max-batch of jobs of about 400 bytes", (*sizeValue)(&c.MaxBody), "BYTES"},
		{"max-wait", []string{"TICKETQ_MAX_WAIT"}, "longest ?wait= long-poll a client may ask for", (*durationValue)(&c.MaxWait), "DURATION"},
		{"header-timeout", []string{"TICKETQ_HEADER_TIMEOUT"}, "time a client has to send a request's headers (slowloris guard)", (*durationValue)(&c.HeaderTimeout), "DURATION"},
		{"read-timeout", []string{"TICKETQ_READ_TIMEOUT"}, "time a client has to send a whole request, body included; at least --header-timeout", (*durationValue)(&c.ReadTimeout), "DURATION"},
		{"idle-timeout", []string{"TICKETQ_IDLE_TIMEOUT"}, "how long an idle keep-alive connection stays open", (*durationValue)(&c.IdleTimeout), "DURATION"},
		{"max-queues", []string{"TICKETQ_MAX_QUEUES"}, "queues the server may hold; a submit, pause or PATCH that would create one more gets 409 too_many_queues; 0 = no limit", (*intValue)(&c.MaxQueues), "N"},
		{"metrics-open", []string{"TICKETQ_METRICS_OPEN"}, "serve /metrics without a token when tokens are on (otherwise it needs an admin token)", (*boolValue)(&c.MetricsOpen), ""},
		{"max-long-polls", []string{"TICKETQ_MAX_LONG_POLLS"}, "requests that may wait at once (?wait= and leases with a wait); more get 429", (*intValue)(&c.MaxPolls), "N"},
		{"max-batch", []string{"TICKETQ_MAX_BATCH"}, fmt.Sprintf("most jobs in one batch submit (1..%d)", ticketq.MaxBatch), (*intValue)(&c.MaxBatch), "N"},
		{"log-level", []string{"TICKETQ_LOG_LEVEL"}, "debug, info, warn or error", (*stringValue)(&c.LogLevel), "LEVEL"},
		{"log-format", []string{"TICKETQ_LOG_FORMAT"}, "json, console, or auto (console on a terminal)", (*stringValue)(&c.LogFormat), "FORMAT"},
		{"tokens-file", []string{"TICKETQ_TOKENS_FILE"}, "file of bearer tokens, one 'NAME ROLE SECRET' a line (roles submit, work, admin; # comments; mode 600); adds to TICKETQ_TOKENS", (*stringValue)(&c.TokensFile), "FILE"},
		{"insecure-no-auth", []string{"TICKETQ_INSECURE_NO_AUTH"}, "serve a non-loopback --addr without tokens (only behind another layer that authenticates)", (*boolValue)(&c.InsecureNoAuth), ""},
		{"tls-cert", []string{"TICKETQ_TLS_CERT"}, "PEM certificate (chain) to serve HTTPS with; needs --tls-key", (*stringValue)(&c.TLSCert), "FILE"},
		{"tls-key", []string{"TICKETQ_TLS_KEY"}, "PEM private key of --tls-cert", (*stringValue)(&c.TLSKey), "FILE"},
		{"pprof", []string{"TICKETQ_PPROF"}, "serve Go's profiler (net/http/pprof) on this address, apart from the API; empty = off", (*stringValue)(&c.Pprof), "HOST:PORT"},
	}
}

const serveAbout = `Usage: ticketq serve [flags]

Runs the queue server. Every flag can also be set by its environment
variable; a flag beats the variable, the variable beats the default.
`

// parseServeConfig fills a Config from args and env (flag beats env beats default).
func parseServeConfig(args []string, env map[string]string, stderr io.Writer) (*Config, error) {
	c := newConfig()
	fs := newCmdFlags("ticketq serve", serveAbout, stderr)
	for _, s := range c.settings() {
		fs.Var(s.value, s.flag, s.help)
		fs.doc(s.flag, s.example, s.env...)
	}
	var queueFlags queueFlag
	fs.Var(&queueFlags, "queue", "a setting of one queue (repeatable); SETTING is one of\n"+
		strings.Join(queueSettings, ", ")+"\n"+
		"env TICKETQ_QUEUE_<NAME>_<SETTING>, e.g. TICKETQ_QUEUE_EMAILS_WORKERS=8 (NAME\n"+
		"upper-cased, '.' and '-' as '_'; list exact names in TICKETQ_QUEUES)")
	fs.doc("queue", "NAME:SETTING=VALUE")
	fs.footer = `
Environment only:
  TICKETQ_TOKENS=NAME:ROLE:SECRET,...   (no flag: a command line is visible in ps)
      bearer tokens; ROLE is submit, work or admin; SECRET at least 16 characters
      of [A-Za-z0-9-._~+/=]. Without tokens the server refuses a non-loopback
      --addr unless --insecure-no-auth is given.
`
	pos, err := fs.parse(args, env)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, usageError{fmt.Errorf("unexpected argument %q", pos[0])}
	}
	if err := parseQueueEnv(c, env); err != nil {
		return nil, usageError{err}
	}
	for _, q := range queueFlags {
		if err := c.setQueue(q.name, q.key, q.value, "--queue "+q.raw); err != nil {
			return nil, usageError{err}
		}
	}
	if err := c.validate(); err != nil {
		return nil, usageError{err}
	}
	if err := c.loadAccess(env["TICKETQ_TOKENS"]); err != nil {
		return nil, usageError{err}
	}
	return c, nil
}

// loadAccess reads the tokens and the TLS certificate, and refuses a
// network-facing address without tokens.
func (c *Config) loadAccess(tokens string) error {
	var err error
	if c.Tokens, err = loadTokens(tokens, c.TokensFile); err != nil {
		return err
	}
	if c.TLS, err = loadServerTLS(c.TLSCert, c.TLSKey); err != nil {
		return err
	}
	return c.checkExposure()
}

func (c *Config) validate() error {
	if executors(c.Exec, c.Webhook, c.S3Bucket, noopName(c.Noop)) > 1 {
		return errors.New("more than one of --exec, --webhook, --s3-bucket and --noop is set; choose one default executor")
	}
	if err := c.Queue.Validate(); err != nil {
		return fmt.Errorf("queue defaults: %w", err)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "auto", "json", "console":
	default:
		return fmt.Errorf("--log-format %q: want json, console or auto", c.LogFormat)
	}
	if c.MaxBody < 1024 {
		return fmt.Errorf("--max-body %d: at least 1024 bytes", c.MaxBody)
	}
	if c.HeaderTimeout <= 0 || c.ReadTimeout < c.HeaderTimeout || c.IdleTimeout <= 0 {
		return fmt.Errorf("--header-timeout %s, --read-timeout %s, --idle-timeout %s: want positive durations, the read timeout at least the header timeout", c.HeaderTimeout, c.ReadTimeout, c.IdleTimeout)
	}
	if c.MaxPolls < 1 {
		return fmt.Errorf("--max-long-polls %d: at least 1", c.MaxPolls)
	}
	if c.MaxBatch < 1 || c.MaxBatch > ticketq.MaxBatch {
		return fmt.Errorf("--max-batch %d: want 1..%d", c.MaxBatch, ticketq.MaxBatch)
	}
	if c.MaxWait <= 0 || c.Grace <= 0 {
		return errors.New("--max-wait and --grace must be positive")
	}
	if c.RetainOK == 0 || c.RetainDead == 0 {
		// Zero would read as "purge at once" to some and "default" to others.
		return errors.New("--retain-succeeded and --retain-dead must be positive, or negative to keep jobs forever")
	}
	for name, qc := range c.QueueConfig {
		if executors(qc.Exec, qc.Webhook, qc.S3Bucket, noopName(qc.Noop)) > 1 {
			return fmt.Errorf("queue %q has more than one of exec, webhook, s3_bucket and noop; choose one", name)
		}
		if err := qc.Options.Validate(); err != nil {
			return fmt.Errorf("queue %q: %w", name, err)
		}
	}
	return nil
}

// noopName stands for the no-op executor in executors' count.
func noopName(on bool) string {
	if on {
		return "noop"
	}
	return ""
}

// executors counts the executors a set of settings names.
func executors(names ...string) int {
	n := 0
	for _, s := range names {
		if s != "" {
			n++
		}
	}
	return n
}

// queueSettings are the per-queue keys, in the order --help lists them.
var queueSettings = []string{"exec", "webhook", "noop", "s3_bucket", "s3_key", "workers", "max_attempts", "timeout", "backoff", "backoff_max", "max_queue", "max_leases", "rate", "burst"}

// setQueue applies one per-queue setting; where names the source for errors.
func (c *Config) setQueue(name, key, value, where string) error {
	if err := job.ValidateQueueName(name); err != nil {
		return fmt.Errorf("%s: %v", where, err)
	}
	qc := c.QueueConfig[name]
	if qc == nil {
		qc = &QueueConfig{}
		c.QueueConfig[name] = qc
	}
	var v flag.Value
	switch key {
	case "exec":
		v = (*stringValue)(&qc.Exec)
	case "webhook":
		v = (*stringValue)(&qc.Webhook)
	case "noop":
		v = (*boolValue)(&qc.Noop)
	case "s3_bucket":
		v = (*stringValue)(&qc.S3Bucket)
	case "s3_key":
		v = (*stringValue)(&qc.S3Key)
	case "max_leases":
		v = (*intValue)(&qc.Options.MaxLeases)
	case "rate":
		v = (*floatValue)(&qc.Options.Rate)
	case "burst":
		v = (*intValue)(&qc.Options.Burst)
	case "workers":
		v = (*intValue)(&qc.Options.Workers)
	case "max_attempts":
		v = (*intValue)(&qc.Options.MaxAttempts)
	case "timeout":
		v = (*durationValue)(&qc.Options.Timeout)
	case "backoff":
		v = (*durationValue)(&qc.Options.BackoffBase)
	case "backoff_max":
		v = (*durationValue)(&qc.Options.BackoffMax)
	case "max_queue":
		v = (*intValue)(&qc.Options.MaxQueued)
	default:
		return fmt.Errorf("%s: unknown queue setting %q (want one of %s)", where, key, strings.Join(queueSettings, ", "))
	}
	if err := v.Set(value); err != nil {
		return fmt.Errorf("%s: %v", where, err)
	}
	return nil
}

// parseQueueEnv reads TICKETQ_QUEUE_<NAME>_<SETTING> variables. NAME is the
// queue name upper-cased with '.' and '-' as '_'; TICKETQ_QUEUES lists names
// whose exact spelling matters (e.g. "my-queue"), otherwise the lower-cased
// NAME is used.
func parseQueueEnv(c *Config, env map[string]string) error {
	exact := map[string]string{}
	for _, n := range strings.Split(env["TICKETQ_QUEUES"], ",") {
		if n = strings.TrimSpace(n); n != "" {
			if err := job.ValidateQueueName(n); err != nil {
				return fmt.Errorf("TICKETQ_QUEUES: %v", err)
			}
			exact[envName(n)] = n
			c.QueueConfig[n] = &QueueConfig{}
		}
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// Longer setting names first, so BACKOFF_MAX is not read as BACKOFF.
	suffixes := append([]string(nil), queueSettings...)
	sort.Slice(suffixes, func(i, j int) bool { return len(suffixes[i]) > len(suffixes[j]) })
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, "TICKETQ_QUEUE_")
		if !ok {
			continue
		}
		matched := false
		for _, s := range suffixes {
			upper := "_" + strings.ToUpper(s)
			if mid, ok := strings.CutSuffix(rest, upper); ok && mid != "" {
				name, known := exact[mid]
				if !known {
					name = strings.ToLower(mid)
				}
				if err := c.setQueue(name, s, env[k], k); err != nil {
					return err
				}
				matched = true
				break
			}
		}
		if !matched {
			return fmt.Errorf("%s: not a queue setting (want TICKETQ_QUEUE_<NAME>_<%s>)", k, strings.ToUpper(strings.Join(queueSettings, "|")))
		}
	}
	return nil
}

func envName(queue string) string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(queue))
}

// queueFlag collects repeated --queue NAME:SETTING=VALUE flags.
type queueFlag []struct{ name, key, value, raw string }

func (q *queueFlag) String() string { return "" }

func (q *queueFlag) Set(s string) error {
	name, kv, ok := strings.Cut(s, ":")
	key, value, ok2 := strings.Cut(kv, "=")
	if !ok || !ok2 || name == "" || key == "" {
		return fmt.Errorf("want NAME:SETTING=VALUE, e.g. emails:workers=8")
	}
	*q = append(*q, struct{ name, key, value, raw string }{name, key, value, s})
	return nil
}

// usageError marks errors caused by how ticketq was invoked (exit status 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// exitDataFile is the exit status of a serve that refuses its data file
// (damaged, or from a newer ticketq): only an operator can fix that (check,
// salvage or restore, or the newer binary), so a supervisor should not
// restart it in a loop. scripts/ticketq.service lists it in
// RestartPreventExitStatus. A server that stops on an inconsistency while
// serving exits 1 instead: its next start checks the file and either serves
// or exits with this status.
const exitDataFile = 3

// dataFileError is an error that exits with exitDataFile.
type dataFileError struct{ error }

func (e dataFileError) Unwrap() error { return e.error }
