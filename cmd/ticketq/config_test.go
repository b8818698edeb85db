package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

// Ensure that zero configuration gives the documented defaults.
func TestParseServeConfig_Defaults(t *testing.T) {
	c, err := parseServeConfig(nil, nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.Data != "ticketq-data" || c.Queue.Workers != 4 || c.Queue.MaxQueued != 0 ||
		c.Grace != 30*time.Second || c.MaxBody != 4<<20 || c.MaxBatch != 10000 || c.Exec != "" || c.Webhook != "" || len(c.QueueConfig) != 0 {
		t.Fatalf("defaults = %+v", c)
	}
}

// Ensure that a flag beats its variable, a variable beats the default, and
// the 1M-requests names MAX_WORKERS and MAX_QUEUE are honoured.
func TestParseServeConfig_Precedence(t *testing.T) {
	env := map[string]string{
		"TICKETQ_ADDR": "127.0.0.1:9000", "TICKETQ_DATA": "/env/data",
		"MAX_WORKERS": "16", "MAX_QUEUE": "500", "TICKETQ_MAX_BODY": "2MiB",
	}
	c, err := parseServeConfig([]string{"--data", "/flag/data", "--grace", "5s"}, env, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9000" || c.Data != "/flag/data" || c.Queue.Workers != 16 || c.Queue.MaxQueued != 500 ||
		c.Grace != 5*time.Second || c.MaxBody != 2<<20 {
		t.Fatalf("config = %+v", c)
	}
	// The canonical name wins over the alias.
	env["TICKETQ_WORKERS"] = "3"
	if c, _ = parseServeConfig(nil, env, &bytes.Buffer{}); c.Queue.Workers != 3 {
		t.Fatalf("TICKETQ_WORKERS did not beat MAX_WORKERS: %d", c.Queue.Workers)
	}
}

// Ensure that per-queue settings come from the environment alone or from
// --queue flags, with exact names from TICKETQ_QUEUES.
func TestParseServeConfig_Queues(t *testing.T) {
	env := map[string]string{
		"TICKETQ_QUEUES":                   "my-queue",
		"TICKETQ_QUEUE_MY_QUEUE_EXEC":      "./run.sh",
		"TICKETQ_QUEUE_MY_QUEUE_WORKERS":   "8",
		"TICKETQ_QUEUE_EMAILS_WEBHOOK":     "http://127.0.0.1:9/hook",
		"TICKETQ_QUEUE_EMAILS_BACKOFF":     "2s",
		"TICKETQ_QUEUE_EMAILS_BACKOFF_MAX": "1m",
		"TICKETQ_QUEUE_EMAILS_MAX_QUEUE":   "100",
	}
	c, err := parseServeConfig([]string{"--queue", "emails:max_attempts=3", "--queue", "reports:timeout=90s"}, env, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	mq, em, rp := c.QueueConfig["my-queue"], c.QueueConfig["emails"], c.QueueConfig["reports"]
	if mq == nil || mq.Exec != "./run.sh" || mq.Options.Workers != 8 {
		t.Fatalf("my-queue = %+v", mq)
	}
	if em == nil || em.Webhook != "http://127.0.0.1:9/hook" || em.Options.BackoffBase != 2*time.Second ||
		em.Options.BackoffMax != time.Minute || em.Options.MaxQueued != 100 || em.Options.MaxAttempts != 3 {
		t.Fatalf("emails = %+v", em)
	}
	if rp == nil || rp.Options.Timeout != 90*time.Second {
		t.Fatalf("reports = %+v", rp)
	}
	if len(c.QueueConfig) != 3 {
		t.Fatalf("queues = %v", c.QueueConfig)
	}
}

// Ensure that every bad setting is refused with a message naming it.
func TestParseServeConfig_Errors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad env number", nil, map[string]string{"MAX_WORKERS": "lots"}, `MAX_WORKERS="lots"`},
		{"negative env", nil, map[string]string{"TICKETQ_MAX_QUEUE": "-1"}, "TICKETQ_MAX_QUEUE"},
		{"bad duration", []string{"--grace", "soon"}, nil, "not a duration"},
		{"bad size", []string{"--max-body", "big"}, nil, "not a size"},
		{"tiny body", []string{"--max-body", "10"}, nil, "at least 1024"},
		{"two executors", []string{"--exec", "true", "--webhook", "http://127.0.0.1:1"}, nil, "choose one"},
		{"queue two executors", nil, map[string]string{"TICKETQ_QUEUE_A_EXEC": "x", "TICKETQ_QUEUE_A_WEBHOOK": "y"}, `queue "a" has more than one`},
		{"exec and s3", []string{"--exec", "true", "--s3-bucket", "b"}, nil, "choose one default executor"},
		{"noop and exec", []string{"--noop", "--exec", "true"}, nil, "choose one default executor"},
		{"queue noop and webhook", nil, map[string]string{"TICKETQ_QUEUE_A_NOOP": "true", "TICKETQ_QUEUE_A_WEBHOOK": "http://127.0.0.1:1"}, `queue "a" has more than one`},
		{"bad rate", []string{"--rate", "fast"}, nil, "not a non-negative number"},
		{"negative queue rate", nil, map[string]string{"TICKETQ_QUEUE_A_RATE": "-2"}, "TICKETQ_QUEUE_A_RATE"},
		{"bad path style", nil, map[string]string{"TICKETQ_S3_PATH_STYLE": "maybe"}, "not true or false"},
		{"unknown queue setting env", nil, map[string]string{"TICKETQ_QUEUE_A_COLOR": "red"}, "TICKETQ_QUEUE_A_COLOR: not a queue setting"},
		{"unknown queue setting flag", []string{"--queue", "a:color=red"}, nil, `unknown queue setting "color"`},
		{"malformed queue flag", []string{"--queue", "a=b"}, nil, "NAME:SETTING=VALUE"},
		{"bad queue name", []string{"--queue", "a b:workers=1"}, nil, "outside [A-Za-z0-9._-]"},
		{"bad exact name", nil, map[string]string{"TICKETQ_QUEUES": "ok,no/slash"}, "TICKETQ_QUEUES"},
		{"bad log level", []string{"--log-level", "loud"}, nil, "--log-level"},
		{"stray argument", []string{"extra"}, nil, `unexpected argument "extra"`},
		{"unknown flag", []string{"--nope"}, nil, "flag provided but not defined"},
		{"attempts out of range", []string{"--max-attempts", "5000"}, nil, "max attempts 5000"},
		{"timeout under a second", []string{"--timeout", "500ms"}, nil, "timeout 500ms is outside 1s..168h0m0s"},
		{"queue timeout under a second", []string{"--queue", "fast:timeout=1ns"}, nil, "timeout 1ns is outside 1s"},
		{"zero retention", []string{"--retain-dead", "0s"}, nil, "negative to keep jobs forever"},
		{"no long-polls", []string{"--max-long-polls", "0"}, nil, "--max-long-polls 0: at least 1"},
		{"batch over the library's", nil, map[string]string{"TICKETQ_MAX_BATCH": "10001"}, "--max-batch 10001: want 1..10000"},
		{"zero batch", []string{"--max-batch", "0"}, nil, "--max-batch 0: want 1..10000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseServeConfig(tc.args, tc.env, &bytes.Buffer{})
			var ue usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want a usage error containing %q", err, tc.want)
			}
		})
	}
}

// Ensure that --help documents every flag with its variable and default.
func TestParseServeConfig_Help(t *testing.T) {
	var out bytes.Buffer
	_, err := parseServeConfig([]string{"--help"}, nil, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("error = %v", err)
	}
	for _, s := range newConfig().settings() {
		for _, want := range append([]string{"--" + s.flag}, s.env...) {
			if !strings.Contains(out.String(), want) {
				t.Errorf("--help does not mention %s", want)
			}
		}
	}
	for _, want := range []string{"default 127.0.0.1:8080", "TICKETQ_QUEUE_<NAME>_<SETTING>", "max_queue"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// Ensure that the limits and the s3 executor are configured from flags and
// the environment, globally and per queue.
func TestParseServeConfig_LimitsAndS3(t *testing.T) {
	env := map[string]string{
		"TICKETQ_RATE": "2.5", "TICKETQ_MAX_LEASES": "50",
		"TICKETQ_QUEUE_UPLOADS_S3_BUCKET": "media", "TICKETQ_QUEUE_UPLOADS_S3_KEY": "in/{ticket}",
		"TICKETQ_QUEUE_UPLOADS_RATE": "10", "TICKETQ_QUEUE_UPLOADS_BURST": "20",
		"TICKETQ_S3_ENDPOINT": "http://127.0.0.1:9000", "AWS_REGION": "eu-west-1",
	}
	c, err := parseServeConfig([]string{"--burst", "3", "--s3-path-style"}, env, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Queue.Rate != 2.5 || c.Queue.MaxLeases != 50 || c.Queue.Burst != 3 || !c.S3.PathStyle ||
		c.S3.Endpoint != "http://127.0.0.1:9000" || c.S3.Region != "eu-west-1" {
		t.Fatalf("config = %+v", c)
	}
	up := c.QueueConfig["uploads"]
	if up == nil || up.S3Bucket != "media" || up.S3Key != "in/{ticket}" || up.Options.Rate != 10 || up.Options.Burst != 20 {
		t.Fatalf("uploads = %+v", up)
	}
	h, kind, err := handlerFor(c, false, "", "", up.S3Bucket, up.S3Key)
	if err != nil || h == nil || kind != "s3" {
		t.Fatalf("handler = %v %q %v", h != nil, kind, err)
	}
}

// Ensure that a bad s3 setting is refused when the server starts, naming it.
func TestHandlerFor_BadS3(t *testing.T) {
	c := newConfig()
	if _, _, err := handlerFor(c, false, "", "", "Not_A_Bucket!", ""); err == nil || !strings.Contains(err.Error(), "Bucket") {
		t.Fatalf("bad bucket: %v", err)
	}
	if _, _, err := handlerFor(c, false, "", "", "media", "no-placeholder"); err == nil || !strings.Contains(err.Error(), "{ticket}") {
		t.Fatalf("bad key template: %v", err)
	}
}
