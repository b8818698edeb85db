package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowConn is a client that opens a request and then sends it a little at
// a time, the way a slowloris attack holds a server's connections.
type slowConn struct {
	conn   net.Conn
	opened time.Time
}

func dialSlow(t *testing.T, addr, start string) *slowConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := io.WriteString(c, start); err != nil {
		t.Fatal(err)
	}
	return &slowConn{conn: c, opened: time.Now()}
}

// trickle sends piece every interval until the server stops taking it,
// and returns what the server answered (empty when it only closed the
// connection) and how long after the start that was. A server that never
// ends the connection is caught by a 10-second read deadline.
func (s *slowConn) trickle(piece string, interval time.Duration) (answer string, after time.Duration, err error) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := io.WriteString(s.conn, piece); err != nil {
					return // the server closed the connection
				}
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	_ = s.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(s.conn)
	after = time.Since(s.opened)
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return string(b), after, fmt.Errorf("the server still held the connection after %s", after)
	}
	// A reset instead of a clean close is also the server letting go.
	return string(b), after, nil
}

// Ensure that slow clients cannot hold the server: a client that sends its
// headers a line at a time is cut off after --header-timeout, one that
// trickles its body gets 408 after --read-timeout, headers over the limit
// get 431, other clients are served meanwhile, and nothing is stored.
func TestServe_SlowClients(t *testing.T) {
	srv, _, err := readyServer(context.Background(), benchBinary, t.TempDir(), []string{"--header-timeout", "300ms", "--read-timeout", "600ms"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := srv.stop(); err != nil {
			t.Error(err)
		}
	}()

	const slowHeaders = 32
	type outcome struct {
		answer string
		after  time.Duration
		err    error
	}
	results := make(chan outcome, slowHeaders+1)
	for range slowHeaders {
		c := dialSlow(t, srv.addr, "POST /v1/queues/q/jobs HTTP/1.1\r\nHost: ticketq\r\nContent-Type: application/json\r\n")
		go func() {
			answer, after, err := c.trickle("X-Slow: 1\r\n", 20*time.Millisecond)
			results <- outcome{answer, after, err}
		}()
	}
	body := dialSlow(t, srv.addr, "POST /v1/queues/q/jobs HTTP/1.1\r\nHost: ticketq\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"payload\": \"")
	bodyDone := make(chan outcome, 1)
	go func() {
		answer, after, err := body.trickle("x", 20*time.Millisecond)
		bodyDone <- outcome{answer, after, err}
	}()

	// Served while the slow clients hold their connections.
	res, err := http.Post(srv.url()+"/v1/queues/q/jobs", "application/json", strings.NewReader(`{"payload": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("a submit beside the slow clients: %s", res.Status)
	}

	var slowest time.Duration
	for range slowHeaders {
		o := <-results
		if o.err != nil {
			t.Fatal(o.err)
		}
		if o.answer != "" && !strings.HasPrefix(o.answer, "HTTP/1.1 408") {
			t.Fatalf("a slow-header client got %q", o.answer)
		}
		slowest = max(slowest, o.after)
	}
	t.Logf("%d slow-header clients cut off, the last %s after it opened (--header-timeout 300ms)", slowHeaders, slowest.Round(time.Millisecond))

	o := <-bodyDone
	if o.err != nil {
		t.Fatal(o.err)
	}
	if !strings.HasPrefix(o.answer, "HTTP/1.1 408") || !strings.Contains(o.answer, `"code":"request_timeout"`) {
		t.Fatalf("the slow-body client got %q, want 408 request_timeout", o.answer)
	}
	t.Logf("slow-body client answered 408 %s after it opened (--read-timeout 600ms)", o.after.Round(time.Millisecond))

	big := dialSlow(t, srv.addr, "GET /healthz HTTP/1.1\r\nHost: ticketq\r\nX-Big: "+strings.Repeat("a", 100<<10)+"\r\n\r\n")
	status, err := bufio.NewReader(big.conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 431") {
		t.Fatalf("100 KiB of headers: %q, %v; want 431", status, err)
	}

	res, err = http.Get(srv.url() + "/v1/queues/q")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var q struct {
		Counts map[string]int `json:"counts"`
	}
	if err := json.NewDecoder(res.Body).Decode(&q); err != nil {
		t.Fatal(err)
	}
	if total := q.Counts["queued"] + q.Counts["running"] + q.Counts["succeeded"]; total != 1 {
		t.Fatalf("queue q holds %v, want only the one good submit", q.Counts)
	}
}
