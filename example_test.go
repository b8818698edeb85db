package ticketq_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/ticketq/ticketq"
)

// Embed a durable queue in a Go program: open a directory, register a
// handler, run, submit, and wait for the result.
func Example() {
	dir, _ := os.MkdirTemp("", "ticketq-example")
	defer os.RemoveAll(dir)

	q, err := ticketq.Open(dir, ticketq.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
	_ = q.Handle("greet", func(ctx context.Context, j *ticketq.Job) ([]byte, error) {
		return []byte("hello, " + string(j.Payload)), nil
	}, ticketq.QueueOptions{Workers: 2})
	go q.Run(context.Background())

	// Submit returns once the job is fsynced: from here on it survives a crash.
	r, err := q.Submit(context.Background(), "greet", ticketq.Submission{Payload: []byte("world")})
	if err != nil {
		log.Fatal(err)
	}
	j, err := q.Wait(context.Background(), r.Ticket)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(j.State, string(j.Result))
	// Output: succeeded hello, world
}
