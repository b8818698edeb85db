package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/client"
	"github.com/ticketq/ticketq/httpapi"
	"github.com/ticketq/ticketq/job"
)

// authServer serves a real queue that needs tokens, counting the requests
// that reach it.
func authServer(t *testing.T, tokens ...httpapi.Token) (string, *atomic.Int64) {
	t.Helper()
	q, err := ticketq.Open(t.TempDir(), ticketq.Options{Grace: time.Second})
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = q.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		must(t, q.Close())
	})
	api := httpapi.New(q, httpapi.Options{Tokens: tokens})
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &hits
}

// Ensure that Options.Token is sent as a bearer token with every request,
// and that no Authorization header is sent without one.
func TestClient_TokenSent(t *testing.T) {
	got := make(chan string, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	defer srv.Close()
	for _, c := range []struct{ token, want string }{{"s3cret-0123456789", "Bearer s3cret-0123456789"}, {"", ""}} {
		cl := newClient(t, srv.URL, client.Options{Token: c.token})
		must(t, cl.Healthy(context.Background()))
		if h := <-got; h != c.want {
			t.Fatalf("Authorization = %q, want %q", h, c.want)
		}
	}
}

// Ensure that 401 and 403 become an *APIError with codes unauthorized and
// forbidden, match ErrUnauthorized or ErrForbidden and no sentinel of
// package job, and are not retried.
func TestClient_Unauthorized(t *testing.T) {
	url, hits := authServer(t,
		httpapi.Token{Name: "ci", Role: httpapi.RoleSubmit, Secret: "submit-secret-0123456789"},
		httpapi.Token{Name: "ops", Role: httpapi.RoleAdmin, Secret: "admin-secret-0123456789a"})
	ctx := context.Background()
	for _, c := range []struct {
		name, token string
		call        func(*client.Client) error
		status      int
		code        string
	}{
		{"NoToken", "", func(c *client.Client) error { _, err := c.Queues(ctx); return err }, 401, "unauthorized"},
		{"WorkerWithSubmitToken", "submit-secret-0123456789", func(c *client.Client) error {
			_, err := c.Lease(ctx, "q", client.LeaseOptions{})
			return err
		}, 403, "forbidden"},
		{"WrongToken", "wrong-secret-0123456789", func(c *client.Client) error {
			_, err := c.Submit(ctx, "q", client.Submission{Payload: []byte("1"), IdempotencyKey: "k"})
			return err
		}, 401, "unauthorized"},
		{"WrongRole", "submit-secret-0123456789", func(c *client.Client) error { _, err := c.Queues(ctx); return err }, 403, "forbidden"},
	} {
		// Ensure that this refusal is reported once, as an APIError.
		t.Run(c.name, func(t *testing.T) {
			cl := newClient(t, url, client.Options{Token: c.token})
			before := hits.Load()
			err := c.call(cl)
			var ae *client.APIError
			if !errors.As(err, &ae) || ae.Status != c.status || ae.Code != c.code {
				t.Fatalf("error = %#v, want an APIError %d %s", err, c.status, c.code)
			}
			is, isNot := client.ErrUnauthorized, client.ErrForbidden
			if c.status == 403 {
				is, isNot = isNot, is
			}
			if !errors.Is(err, is) || errors.Is(err, isNot) {
				t.Fatalf("%v: errors.Is %v = %t, %v = %t", err, is, errors.Is(err, is), isNot, errors.Is(err, isNot))
			}
			for _, s := range []error{job.ErrInvalid, job.ErrNotFound, job.ErrConflict, job.ErrClosed, job.ErrQueueFull} {
				if errors.Is(err, s) {
					t.Fatalf("%v matches %v", err, s)
				}
			}
			if n := hits.Load() - before; n != 1 {
				t.Fatalf("%d requests, want 1 (a refusal is not retried)", n)
			}
		})
	}
	admin := newClient(t, url, client.Options{Token: "admin-secret-0123456789a"})
	if _, err := admin.Queues(ctx); err != nil {
		t.Fatalf("admin: %v", err)
	}
}

// Ensure that a job shows the token that submitted it, and that another
// submit token's Status of it is job.ErrNotFound, as for an unknown ticket.
func TestClient_SubmittedBy(t *testing.T) {
	url, _ := authServer(t,
		httpapi.Token{Name: "ci", Role: httpapi.RoleSubmit, Secret: "submit-secret-0123456789"},
		httpapi.Token{Name: "cd", Role: httpapi.RoleSubmit, Secret: "other-submit-0123456789"},
		httpapi.Token{Name: "ops", Role: httpapi.RoleAdmin, Secret: "admin-secret-0123456789a"})
	ctx := context.Background()
	ci := newClient(t, url, client.Options{Token: "submit-secret-0123456789"})
	r, err := ci.Submit(ctx, "q", client.Submission{Payload: []byte("1")})
	must(t, err)
	for _, c := range []*client.Client{ci, newClient(t, url, client.Options{Token: "admin-secret-0123456789a"})} {
		j, err := c.Status(ctx, r.Ticket)
		if err != nil || j.SubmittedBy != "ci" {
			t.Fatalf("Status = %+v, %v; want SubmittedBy ci", j, err)
		}
	}
	cd := newClient(t, url, client.Options{Token: "other-submit-0123456789"})
	if _, err := cd.Status(ctx, r.Ticket); !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("another submit token's Status: %v, want ErrNotFound", err)
	}
}

// Ensure that a token unfit for a header and TLSConfig next to HTTPClient
// are refused by New, without quoting the token.
func TestNew_AccessOptions(t *testing.T) {
	for _, tok := range []string{"two words", "line\nbreak", "caf\u00e9-secret"} {
		_, err := client.New("http://127.0.0.1:1", client.Options{Token: tok})
		if err == nil || strings.Contains(err.Error(), tok) {
			t.Fatalf("token %q: error %v", tok, err)
		}
	}
	_, err := client.New("https://127.0.0.1:1", client.Options{HTTPClient: http.DefaultClient, TLSConfig: &tls.Config{}})
	if err == nil || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("TLSConfig with HTTPClient: %v", err)
	}
}

// Ensure that TLSConfig.RootCAs lets the client trust a server whose CA
// the system does not know, and that without it the connection fails.
func TestClient_TLSConfig(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	trusted := newClient(t, srv.URL, client.Options{TLSConfig: &tls.Config{RootCAs: pool}})
	must(t, trusted.Healthy(context.Background()))
	untrusted := newClient(t, srv.URL, client.Options{Retries: -1})
	var unknown x509.UnknownAuthorityError
	if err := untrusted.Healthy(context.Background()); !errors.As(err, &unknown) {
		t.Fatalf("without the CA: %v", err)
	}
}
