package wal

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
)

// BenchmarkCommitter measures group commit: P producers each append single
// 200-byte jobs; it reports jobs/s and jobs per transaction.
func BenchmarkCommitter(b *testing.B) {
	payload := []byte(`"` + string(make([]byte, 0)) + fmt.Sprintf("%0198d", 0) + `"`)
	for _, producers := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			l, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			req := backend.AppendRequest{Queue: "bench", Jobs: []job.Submission{{Payload: payload, MaxAttempts: 1}}}
			var wg sync.WaitGroup
			per := b.N/producers + 1
			b.ResetTimer()
			for range producers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range per {
						if _, err := l.Append(context.Background(), req); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			commits, ops := l.CommitStats()
			b.ReportMetric(float64(ops)/b.Elapsed().Seconds(), "jobs/s")
			b.ReportMetric(float64(ops)/float64(commits), "jobs/txn")
		})
	}
}
