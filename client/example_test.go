package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/ticketq/ticketq/client"
	"github.com/ticketq/ticketq/job"
)

// Submit a job with an idempotency key (which makes the submit safe to
// retry) and wait until it is done.
func ExampleClient_Submit() {
	c, err := client.New("http://127.0.0.1:8080", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := c.Submit(ctx, "emails", client.Submission{Payload: json.RawMessage(`{"to":"ada@example.com"}`), IdempotencyKey: "order-42"})
	if errors.Is(err, job.ErrQueueFull) {
		log.Fatal("the queue is full; try again later")
	}
	if err != nil {
		log.Fatal(err)
	}
	j, err := c.Wait(ctx, r.Ticket, 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(j.State, string(j.Result))
}

// Work a pull queue with four jobs at a time until interrupted; running
// jobs may finish for Grace before the worker returns.
func ExampleWorker() {
	c, err := client.New("http://127.0.0.1:8080", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	w := &client.Worker{
		Client:      c,
		Queue:       "thumbnails",
		Concurrency: 4,
		Handler: func(ctx context.Context, j *job.Job) ([]byte, error) {
			var in struct{ URL string }
			if err := json.Unmarshal(j.Payload, &in); err != nil {
				return nil, job.Permanent(err) // bad input: retrying cannot help
			}
			_ = j.ReportProgress(50, "resizing "+in.URL)
			return []byte(`{"ok":true}`), nil
		},
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := w.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
