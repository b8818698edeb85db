package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
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

// manyKeysBody is a submit whose payload is one object of n short keys,
// and sameSizeArray a submit of as many bytes whose payload is an array:
// the duplicate-key check costs memory per key, the array is the baseline.
func manyKeysBody(n int) (manyKeys, sameSizeArray string) {
	var b strings.Builder
	b.WriteString(`{"payload":{`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + strconv.FormatInt(int64(i), 36) + `":0`)
	}
	b.WriteString(`}}`)
	manyKeys = b.String()
	elems := (len(manyKeys) - len(`{"payload":[]}`)) / 2
	sameSizeArray = `{"payload":[` + strings.TrimSuffix(strings.Repeat("0,", elems), ",") + `]}`
	return manyKeys, sameSizeArray
}

// BenchmarkServer_SubmitManyKeys measures the memory of a submit near the
// default body limit whose payload has 400,000 keys, against an array
// payload of the same size (go test -bench SubmitManyKeys -benchmem).
func BenchmarkServer_SubmitManyKeys(b *testing.B) {
	keys, array := manyKeysBody(400_000)
	for _, c := range []struct{ name, body string }{{"Keys", keys}, {"Array", array}} {
		b.Run(c.name, func(b *testing.B) {
			srv := httpapi.New(ackQueue{}, httpapi.Options{})
			b.ReportAllocs()
			b.SetBytes(int64(len(c.body)))
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/v1/queues/bench/jobs", strings.NewReader(c.body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, req)
				if rec.Code != http.StatusAccepted {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
