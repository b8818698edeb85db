package wal

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
)

// Get implements backend.Backend.
func (l *Log) Get(_ context.Context, t job.Ticket) (*job.Job, error) {
	var out *job.Job
	err := l.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketJobs).Get(ticketKey(t))
		if v == nil {
			return fmt.Errorf("%w: ticket %s", job.ErrNotFound, t)
		}
		j, err := decodeRecord(v)
		if err != nil {
			return fmt.Errorf("ticket %s: %w", t, err)
		}
		out = j
		return nil
	})
	return out, err
}

// readQueue opens a queue in a read transaction, answering job.ErrNotFound
// for an unknown one.
func readQueue(tx *bolt.Tx, name string) (*queueTx, error) {
	q, err := openQueue(tx.Bucket(bucketQueues), name)
	if err != nil {
		return nil, err
	}
	if q == nil {
		return nil, fmt.Errorf("%w: queue %q", job.ErrNotFound, name)
	}
	return q, nil
}

// List implements backend.Backend. Without a state it merges the five
// per-state indexes, which are each sorted by ticket.
func (l *Log) List(_ context.Context, req backend.ListRequest) (backend.ListResult, error) {
	if req.Limit <= 0 {
		return backend.ListResult{}, fmt.Errorf("%w: list limit %d", job.ErrInvalid, req.Limit)
	}
	if req.State != 0 && !req.State.Valid() {
		return backend.ListResult{}, fmt.Errorf("%w: unknown state %d", job.ErrInvalid, req.State)
	}
	var res backend.ListResult
	err := l.view(func(tx *bolt.Tx) error {
		q, err := readQueue(tx, req.Queue)
		if err != nil {
			return err
		}
		states := job.States
		if req.State != 0 {
			states = []job.State{req.State}
		}
		if req.After == ^job.Ticket(0) {
			return nil
		}
		start := ticketKey(req.After + 1)
		var cursors []*bolt.Cursor
		var heads [][]byte
		for _, s := range states {
			c := q.states[s].Cursor()
			k, _ := c.Seek(start)
			cursors, heads = append(cursors, c), append(heads, k)
		}
		jobs := tx.Bucket(bucketJobs)
		for {
			min := -1
			for i, k := range heads {
				if k != nil && (min < 0 || bytes.Compare(k, heads[min]) < 0) {
					min = i
				}
			}
			if min < 0 {
				return nil
			}
			if len(res.Jobs) == req.Limit {
				res.Next = res.Jobs[len(res.Jobs)-1].Ticket
				return nil
			}
			t := keyTicket(heads[min])
			j, err := decodeRecord(jobs.Get(heads[min]))
			if err != nil {
				return fmt.Errorf("ticket %s: %w", t, err)
			}
			res.Jobs = append(res.Jobs, j)
			heads[min], _ = cursors[min].Next()
		}
	})
	return res, err
}

// Stats implements backend.Backend.
func (l *Log) Stats(_ context.Context, queue string) (job.QueueStats, error) {
	st := job.QueueStats{Queue: queue, Counts: make(map[job.State]int, len(job.States))}
	now := sortableTime(l.clock.Now())
	err := l.view(func(tx *bolt.Tx) error {
		q, err := readQueue(tx, queue)
		if err != nil {
			return err
		}
		st.Paused, st.Overrides = q.meta.paused, q.meta.overrides
		for _, s := range job.States {
			st.Counts[s] = int(q.meta.counts[s])
		}
		// The first entry of each priority is its longest-waiting job.
		c := q.ready.Cursor()
		for k, _ := c.First(); len(k) == 17; {
			if at := binary.BigEndian.Uint64(k[1:9]); at <= now {
				if t := fromSortableTime(at); st.OldestReadyAt.IsZero() || t.Before(st.OldestReadyAt) {
					st.OldestReadyAt = t
				}
			}
			if k[0] == 0xff {
				break
			}
			k, _ = c.Seek([]byte{k[0] + 1})
		}
		return nil
	})
	return st, err
}

// Queues implements backend.Backend.
func (l *Log) Queues(_ context.Context) ([]string, error) {
	var names []string
	err := l.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketQueues).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if v == nil {
				names = append(names, string(k))
			}
		}
		return nil
	})
	return names, err
}

// Running implements backend.Backend.
func (l *Log) Running(_ context.Context, queue string, after job.Ticket, limit int) ([]*job.Job, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: limit %d", job.ErrInvalid, limit)
	}
	var out []*job.Job
	err := l.view(func(tx *bolt.Tx) error {
		q, err := readQueue(tx, queue)
		if err != nil {
			return err
		}
		if after == ^job.Ticket(0) {
			return nil
		}
		jobs := tx.Bucket(bucketJobs)
		c := q.states[job.Running].Cursor()
		for k, _ := c.Seek(ticketKey(after + 1)); k != nil && len(out) < limit; k, _ = c.Next() {
			j, err := decodeRecord(jobs.Get(k))
			if err != nil {
				return fmt.Errorf("ticket %s: %w", keyTicket(k), err)
			}
			out = append(out, j)
		}
		return nil
	})
	return out, err
}
