package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/httpapi"
	"github.com/ticketq/ticketq/job"
)

// ackQueue answers every submit at once: the benchmark measures the HTTP
// layer alone (routing, decoding, validation, encoding, middleware).
type ackQueue struct{ fakeQueue }

func (ackQueue) SubmitBatch(_ context.Context, _ string, subs []ticketq.Submission) ([]ticketq.Receipt, error) {
	rs := make([]ticketq.Receipt, len(subs))
	for i := range rs {
		rs[i] = ticketq.Receipt{Ticket: job.Ticket(i + 1), State: job.Queued}
	}
	return rs, nil
}

// BenchmarkServer_Submit measures one single-job submit through the HTTP
// layer, without network or storage.
func BenchmarkServer_Submit(b *testing.B) {
	srv := httpapi.New(ackQueue{}, httpapi.Options{})
	body := `{"payload":"` + strings.Repeat("x", 184) + `"}`
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		req := httptest.NewRequest(http.MethodPost, "/v1/queues/bench/jobs", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkServer_SubmitBatch measures a batch of 100 jobs through the HTTP
// layer, without network or storage.
func BenchmarkServer_SubmitBatch(b *testing.B) {
	srv := httpapi.New(ackQueue{}, httpapi.Options{})
	one := `{"payload":"` + strings.Repeat("x", 184) + `"}`
	body := `{"jobs":[` + strings.TrimSuffix(strings.Repeat(one+",", 100), ",") + `]}`
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		req := httptest.NewRequest(http.MethodPost, "/v1/queues/bench/jobs", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
