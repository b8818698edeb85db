package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// authEnv is the server environment of the auth tests: one token per role.
func authEnv() map[string]string {
	return map[string]string{"TICKETQ_TOKENS": "ci:submit:" + submitSecret + ",runner:work:" + workSecret + ",ops:admin:" + adminSecret}
}

// Ensure that submit, status, work and bench reach a server with tokens
// using --token or TICKETQ_TOKEN, and that a missing or wrong token fails
// with the server's 401 or 403.
func TestCLI_Token(t *testing.T) {
	addr, _ := startServe(t, authEnv(), "--addr", "127.0.0.1:0", "--queue", "echo:exec=cat")
	url := "http://" + addr

	if _, err := runEnv(t, nil, "submit", "--server", url, `"x"`); err == nil || !strings.Contains(err.Error(), "401 unauthorized") {
		t.Fatalf("submit without a token: %v", err)
	}
	if _, err := runEnv(t, nil, "submit", "--server", url, "--token", workSecret, `"x"`); err == nil || !strings.Contains(err.Error(), "403 forbidden") {
		t.Fatalf("submit with a work token: %v", err)
	}
	out, err := runEnv(t, map[string]string{"TICKETQ_TOKEN": submitSecret}, "submit", "--server", url, "--queue", "echo", "--wait", "30s", `"hi"`)
	if err != nil || !strings.Contains(out, `"state":"succeeded"`) || !strings.Contains(out, `"result":"hi"`) {
		t.Fatalf("submit --wait with TICKETQ_TOKEN: %q, %v", out, err)
	}

	// A pull queue worked by `ticketq work` with the work token.
	out, err = runEnv(t, nil, "submit", "--server", url, "--token", submitSecret, "--queue", "pull", `"pulled"`)
	if err != nil {
		t.Fatal(err)
	}
	var r struct{ Ticket string }
	must(t, json.Unmarshal([]byte(out), &r))
	ctx, stopWork := context.WithCancel(context.Background())
	workDone := make(chan error, 1)
	go func() {
		var stderr bytes.Buffer
		workDone <- run(ctx, []string{"work", "--server", url, "--token", workSecret, "--queue", "pull", "--exec", "cat", "--wait", "1s", "--log-format", "json"}, nil, &bytes.Buffer{}, &stderr)
	}()
	st, err := runEnv(t, nil, "status", "--server", url, "--token", submitSecret, "--wait", "30s", r.Ticket)
	stopWork()
	if werr := <-workDone; werr != nil {
		t.Fatalf("work: %v", werr)
	}
	if err != nil || !strings.Contains(st, `"state":"succeeded"`) || !strings.Contains(st, `"result":"pulled"`) {
		t.Fatalf("status of the pulled job: %q, %v", st, err)
	}
	if _, err := runEnv(t, nil, "status", "--server", url, "--token", "wrong-secret-0123456789", r.Ticket); err == nil || !strings.Contains(err.Error(), "401 unauthorized") {
		t.Fatalf("status with a wrong token: %v", err)
	}

	out, err = runEnv(t, nil, "bench", "--server", url, "--token", submitSecret, "--concurrency", "2", "--duration", "300ms")
	if err != nil || !strings.Contains(out, "jobs/s") || strings.Contains(out, "submit: 0 acked") {
		t.Fatalf("bench with a submit token: %q, %v", out, err)
	}
	if out, err = runEnv(t, nil, "bench", "--server", url, "--concurrency", "1", "--duration", "100ms"); err == nil || !strings.Contains(out, "unauthorized") {
		t.Fatalf("bench without a token: %q, %v", out, err)
	}
}

// Ensure that `ticketq work` with a token the server refuses (unknown: 401;
// the submit role: 403) stops by itself and exits 1 with a message that
// names the refusal and the fix, instead of retrying forever.
func TestWork_RefusedToken(t *testing.T) {
	addr, _ := startServe(t, authEnv(), "--addr", "127.0.0.1:0")
	for _, c := range []struct{ name, token, want string }{
		{"Unknown", "wrong-secret-0123456789", "401 unauthorized"},
		{"SubmitRole", submitSecret, "403 forbidden"},
	} {
		// Ensure that this token stops the worker with its refusal.
		t.Run(c.name, func(t *testing.T) {
			done := make(chan error, 1)
			var stderr bytes.Buffer
			go func() {
				done <- run(context.Background(), []string{"work", "--server", "http://" + addr, "--token", c.token,
					"--queue", "pull", "--exec", "cat", "--wait", "1s", "--log-format", "json"}, nil, &bytes.Buffer{}, &stderr)
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("ticketq work did not stop on a refused token")
			}
			var out bytes.Buffer
			if code := exitCode(err, &out); code != 1 {
				t.Fatalf("exit %d (%v), want 1", code, err)
			}
			for _, want := range []string{"refused the token", c.want, "work or admin role"} {
				if !strings.Contains(out.String(), want) {
					t.Fatalf("message %q lacks %q", out.String(), want)
				}
			}
			if strings.Contains(stderr.String()+out.String(), c.token) {
				t.Fatal("the output holds the token")
			}
		})
	}
}

// Ensure that serve on a non-loopback address without tokens exits with
// status 2 and a message naming the address and the fixes.
func TestServe_RefusesExposedWithoutTokens(t *testing.T) {
	var pout, perr bytes.Buffer
	err := run(context.Background(), []string{"serve", "--pprof", "0.0.0.0:0", "--data", t.TempDir()}, authEnv(), &pout, &perr)
	if code := exitCode(err, &perr); code != 2 || !strings.Contains(perr.String(), "--pprof 0.0.0.0:0 is not a loopback address") {
		t.Fatalf("--pprof on the network with tokens: exit %d, %q; want 2", code, perr.String())
	}
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{"serve", "--addr", "0.0.0.0:0", "--data", t.TempDir()}, nil, &stdout, &stderr)
	if code := exitCode(err, &stderr); code != 2 {
		t.Fatalf("exit %d (%v), want 2", code, err)
	}
	for _, want := range []string{"--addr 0.0.0.0:0 is not a loopback address", "TICKETQ_TOKENS", "--tokens-file", "--insecure-no-auth"} {
		if !strings.Contains(stderr.String(), want) {
			t.Fatalf("stderr %q lacks %q", stderr.String(), want)
		}
	}
}

// Ensure that --insecure-no-auth serves a non-loopback address without
// tokens and says so in a warning, and that tokens without TLS on such an
// address are warned about too.
func TestServe_ExposureWarnings(t *testing.T) {
	addr, log := startServe(t, nil, "--addr", "0.0.0.0:0", "--insecure-no-auth")
	log.await(t, nil, "insecure warning", func(m map[string]any) bool {
		msg, _ := m["message"].(string)
		return m["level"] == "warn" && strings.Contains(msg, "WITHOUT authentication")
	})
	if _, err := runEnv(t, nil, "submit", "--server", "http://"+addr, `1`); err != nil {
		t.Fatalf("submit without a token to an --insecure-no-auth server: %v", err)
	}
	_, log = startServe(t, authEnv(), "--addr", "0.0.0.0:0")
	log.await(t, nil, "clear-text warning", func(m map[string]any) bool {
		msg, _ := m["message"].(string)
		return m["level"] == "warn" && strings.Contains(msg, "clear text")
	})
}

// Ensure that the commands a server or a worker runs per job do not
// inherit the token variables.
func TestServe_JobsDoNotSeeTokens(t *testing.T) {
	env := authEnv()
	t.Setenv("TICKETQ_TOKENS", env["TICKETQ_TOKENS"])
	t.Setenv("TICKETQ_TOKEN", adminSecret)
	addr, _ := startServe(t, env, "--addr", "127.0.0.1:0", "--queue", `envq:exec=printf '"%s"' "${TICKETQ_TOKENS:-none}${TICKETQ_TOKEN:-}"`)
	out, err := runEnv(t, nil, "submit", "--server", "http://"+addr, "--token", submitSecret, "--queue", "envq", "--wait", "30s", `1`)
	if err != nil || !strings.Contains(out, `"result":"none"`) {
		t.Fatalf("the job saw: %q, %v", out, err)
	}
}
