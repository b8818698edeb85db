package client

import (
	"context"
	"fmt"
	"net/http"
)

// Queues returns the stats of every known queue, in name order. It is
// retried on network errors, 429 and 503.
func (c *Client) Queues(ctx context.Context) ([]QueueStats, error) {
	var out struct {
		Queues []QueueStats `json:"queues"`
	}
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/queues", out: &out, policy: retrySafe}); err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	return out.Queues, nil
}

// Queue returns one queue's stats, limits and overrides; an unknown queue
// answers an error matching job.ErrNotFound. It is retried on network
// errors, 429 and 503.
func (c *Client) Queue(ctx context.Context, name string) (QueueStats, error) {
	st, err := c.queueCall(ctx, http.MethodGet, name, "", nil, retrySafe)
	if err != nil {
		return QueueStats{}, fmt.Errorf("stats of queue %q: %w", name, err)
	}
	return st, nil
}

// Pause stops the queue's jobs from starting (running ones finish; submits
// are still accepted) and returns its stats. An unknown queue is created
// paused. It is repeated only when the server provably did nothing (see
// Submit).
func (c *Client) Pause(ctx context.Context, name string) (QueueStats, error) {
	st, err := c.queueCall(ctx, http.MethodPost, name, "/pause", nil, retryUnapplied)
	if err != nil {
		return QueueStats{}, fmt.Errorf("pause queue %q: %w", name, err)
	}
	return st, nil
}

// Resume lets a paused queue's jobs start again and returns its stats; an
// unknown queue answers an error matching job.ErrNotFound. It is repeated
// only when the server provably did nothing (see Submit).
func (c *Client) Resume(ctx context.Context, name string) (QueueStats, error) {
	st, err := c.queueCall(ctx, http.MethodPost, name, "/resume", nil, retryUnapplied)
	if err != nil {
		return QueueStats{}, fmt.Errorf("resume queue %q: %w", name, err)
	}
	return st, nil
}

// UpdateLimits changes the queue's run-time limits (PATCH): each field of
// patch is left alone, set, or cleared back to the server's configured
// value. The change is stored with the queue and beats the server's flags.
// It returns the queue's stats with the limits now in force. A patch
// states the values it wants, so a repeat is harmless: it is retried on
// network errors, 429 and 503.
func (c *Client) UpdateLimits(ctx context.Context, name string, patch LimitsPatch) (QueueStats, error) {
	st, err := c.queueCall(ctx, http.MethodPatch, name, "", patch.body(), retrySafe)
	if err != nil {
		return QueueStats{}, fmt.Errorf("update limits of queue %q: %w", name, err)
	}
	return st, nil
}

// queueCall sends a request about a queue that answers its stats.
func (c *Client) queueCall(ctx context.Context, method, name, suffix string, body any, p retryPolicy) (QueueStats, error) {
	path, err := queuePath(name, suffix)
	if err != nil {
		return QueueStats{}, err
	}
	var st QueueStats
	if _, err := c.do(ctx, request{method: method, path: path, body: body, out: &st, policy: p}); err != nil {
		return QueueStats{}, err
	}
	return st, nil
}
