package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// Ensure that each way of calling the binary wrongly gets exit status 2 and
// a message, and that help and version exit 0.
func TestRun_ExitCodes(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		want string // in stderr (or stdout for code 0)
	}{
		{"no command", nil, 2, "no command given"},
		{"unknown command", []string{"launch"}, 2, `unknown command "launch"`},
		{"help", []string{"help"}, 0, "ticketq serve"},
		{"serve help", []string{"serve", "--help"}, 0, "--addr"},
		{"version", []string{"version"}, 0, "ticketq"},
		{"serve bad flag", []string{"serve", "--workers", "x"}, 2, "not a whole number"},
		{"submit bad payload", []string{"submit", "not json"}, 2, "payload is not JSON"},
		{"submit two payloads", []string{"submit", "1", "2"}, 2, "one payload at most"},
		{"status no ticket", []string{"status"}, 2, "exactly one TICKET"},
		{"status bad ticket", []string{"status", "abc"}, 2, "not a positive decimal"},
		{"status zero ticket", []string{"status", "0"}, 2, "ticket 0 does not exist"},
		{"submit unreachable", []string{"submit", "--server", "http://127.0.0.1:1", "{}"}, 1, "connection refused"},
		{"status unreachable", []string{"status", "--server", "http://127.0.0.1:1", "5"}, 1, "connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := exitCode(run(context.Background(), tc.args, nil, &stdout, &stderr), &stderr)
			out := stderr.String()
			if tc.code == 0 {
				out += stdout.String()
			}
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, output %q; want exit %d containing %q", code, out, tc.code, tc.want)
			}
		})
	}
}
