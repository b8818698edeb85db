package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testPKI is a CA and a server certificate for 127.0.0.1 signed by it,
// generated for one test, as PEM files.
type testPKI struct {
	ca, cert, key string
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ticketq test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	must(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	must(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	must(t, err)
	p := testPKI{ca: filepath.Join(dir, "ca.pem"), cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem")}
	for file, block := range map[string]*pem.Block{
		p.ca: {Type: "CERTIFICATE", Bytes: caDER}, p.cert: {Type: "CERTIFICATE", Bytes: leafDER}, p.key: {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		must(t, os.WriteFile(file, pem.EncodeToMemory(block), 0o600))
	}
	return p
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// serveLog is the stderr of an in-process `ticketq serve`: it keeps the
// JSON lines and wakes whoever waits for one.
type serveLog struct {
	mu      sync.Mutex
	lines   []map[string]any
	partial []byte
	changed chan struct{}
}

func (l *serveLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		var m map[string]any
		if json.Unmarshal(l.partial[:i], &m) == nil {
			l.lines = append(l.lines, m)
		}
		l.partial = l.partial[i+1:]
	}
	select {
	case l.changed <- struct{}{}:
	default:
	}
	return len(p), nil
}

// await returns the first line for which match holds, waiting for it to be
// written; it fails if the server exits or nothing comes within a minute.
func (l *serveLog) await(t *testing.T, done <-chan error, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		for _, m := range l.lines {
			if match(m) {
				l.mu.Unlock()
				return m
			}
		}
		l.mu.Unlock()
		select {
		case <-l.changed:
		case err := <-done:
			t.Fatalf("serve exited before %s: %v", what, err)
		case <-deadline.C:
			t.Fatalf("no %s in the log", what)
		}
	}
}

// startServe runs `ticketq serve` in this process on a fresh data
// directory and returns the address it listens on and its log. The server
// stops when the test ends.
func startServe(t *testing.T, env map[string]string, args ...string) (string, *serveLog) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := &serveLog{changed: make(chan struct{}, 1)}
	done := make(chan error, 1)
	args = append([]string{"serve", "--data", t.TempDir(), "--log-format", "json", "--grace", "1s"}, args...)
	go func() { done <- run(ctx, args, env, io.Discard, log) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("serve: %v", err)
		}
	})
	line := log.await(t, done, "listening line", func(m map[string]any) bool { return m["message"] == "listening" })
	_, port, err := net.SplitHostPort(line["addr"].(string))
	must(t, err)
	log.await(t, done, "ready line", func(m map[string]any) bool { return m["message"] == "ready" })
	return net.JoinHostPort("127.0.0.1", port), log
}

// runEnv runs the CLI with env and returns its stdout.
func runEnv(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, env, &stdout, &stderr)
	return stdout.String(), err
}

// Ensure that serve answers HTTPS with the given certificate and tokens,
// that the CLI reaches it with --ca and --token, and that it refuses TLS
// below 1.2, clients without the CA, and plain HTTP.
func TestServe_TLS(t *testing.T) {
	pki := newTestPKI(t)
	addr, log := startServe(t, map[string]string{"TICKETQ_TOKENS": "ci:submit:" + submitSecret + ",ops:admin:" + adminSecret},
		"--addr", "127.0.0.1:0", "--tls-cert", pki.cert, "--tls-key", pki.key)
	line := log.await(t, nil, "listening line", func(m map[string]any) bool { return m["message"] == "listening" })
	if line["tls"] != true || line["tokens"] != float64(2) {
		t.Fatalf("listening line = %v", line)
	}
	url := "https://" + addr
	out, err := runEnv(t, nil, "submit", "--server", url, "--ca", pki.ca, "--token", submitSecret, "--queue", "held", `{"a":1}`)
	if err != nil || !strings.Contains(out, `"state":"queued"`) {
		t.Fatalf("submit over TLS: %q, %v", out, err)
	}
	var r struct{ Ticket string }
	must(t, json.Unmarshal([]byte(out), &r))
	// The CA and the token from the environment.
	st, err := runEnv(t, map[string]string{"TICKETQ_CA": pki.ca, "TICKETQ_TOKEN": adminSecret}, "status", "--server", url, r.Ticket)
	if err != nil || !strings.Contains(st, `"ticket":"`+r.Ticket+`"`) {
		t.Fatalf("status over TLS: %q, %v", st, err)
	}
	if _, err := runEnv(t, nil, "status", "--server", url, "--token", adminSecret, r.Ticket); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("status without --ca: %v", err)
	}
	if _, err := runEnv(t, nil, "status", "--server", "http://"+addr, "--token", adminSecret, r.Ticket); err == nil {
		t.Fatal("plain HTTP to the HTTPS port succeeded")
	}
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(pki.ca)
	must(t, err)
	pool.AppendCertsFromPEM(ca)
	old, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err == nil {
		old.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
	must(t, err)
	if v := conn.ConnectionState().Version; v < tls.VersionTLS12 {
		t.Fatalf("negotiated TLS version %x", v)
	}
	conn.Close()
}

// Ensure that --tls-cert and --tls-key go together and name bad files.
func TestParseServeConfig_TLS(t *testing.T) {
	pki := newTestPKI(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", pki.cert}, "go together"},
		{[]string{"--tls-key", pki.key}, "go together"},
		{[]string{"--tls-cert", pki.cert, "--tls-key", pki.ca}, "--tls-key " + pki.ca},
		{[]string{"--tls-cert", filepath.Join(t.TempDir(), "none.pem"), "--tls-key", pki.key}, "no such file"},
	} {
		if _, err := parseServeConfig(c.args, nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
	c, err := parseServeConfig(nil, map[string]string{"TICKETQ_TLS_CERT": pki.cert, "TICKETQ_TLS_KEY": pki.key}, &bytes.Buffer{})
	if err != nil || c.TLS == nil || c.TLS.MinVersion != tls.VersionTLS12 || len(c.TLS.Certificates) != 1 {
		t.Fatalf("TLS from the environment: %+v, %v", c, err)
	}
	if _, err := runEnv(t, map[string]string{"TICKETQ_CA": pki.key}, "status", "1"); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("a CA file without a certificate: %v", err)
	}
}
