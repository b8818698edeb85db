package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/job"
)

// Stats models the part of *ticketq.Queue that QueueCollector reads.
type Stats interface {
	Queues(ctx context.Context) ([]string, error)
	Stats(ctx context.Context, queue string) (ticketq.QueueStats, error)
}

// QueueCollector reports each queue's depth per state, in-flight jobs,
// pause flag and oldest-queued age, read from the store at each scrape:
// counting submits and check-offs instead would be wrong after a restart
// and after retention purges. A scrape costs one small read per queue.
type QueueCollector struct {
	q       Stats
	timeout time.Duration

	jobs, inFlight, paused, oldest, up *prometheus.Desc
}

// NewQueueCollector returns a collector of q's queues; register it on the
// registry that New was given.
func NewQueueCollector(q Stats) *QueueCollector {
	return &QueueCollector{
		q: q, timeout: 5 * time.Second,
		jobs:     prometheus.NewDesc("ticketq_jobs", "Stored jobs by queue and state (finished jobs count until retention purges them).", []string{"queue", "state"}, nil),
		inFlight: prometheus.NewDesc("ticketq_jobs_in_flight", "Jobs this process is running now, by queue (ticketq_jobs{state=\"running\"} also counts jobs leased to pull workers).", []string{"queue"}, nil),
		paused:   prometheus.NewDesc("ticketq_queue_paused", "1 when the queue is paused.", []string{"queue"}, nil),
		oldest:   prometheus.NewDesc("ticketq_oldest_queued_age_seconds", "Age of the longest-waiting due job of the queue, 0 when none waits.", []string{"queue"}, nil),
		up:       prometheus.NewDesc("ticketq_queue_stats_up", "1 when the last scrape could read every queue's stats, 0 when the store refused.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.jobs, c.inFlight, c.paused, c.oldest, c.up} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A store that cannot be read
// (closed, failed) yields ticketq_queue_stats_up 0 rather than a failed
// scrape, so that the process and HTTP metrics still arrive.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	up := 1.0
	defer func() { ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up) }()
	names, err := c.q.Queues(ctx)
	if err != nil {
		up = 0
		return
	}
	for _, name := range names {
		st, err := c.q.Stats(ctx, name)
		if err != nil {
			up = 0
			continue
		}
		for _, s := range job.States {
			ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(st.Counts[s]), name, s.String())
		}
		ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(st.InFlight), name)
		p := 0.0
		if st.Paused {
			p = 1
		}
		ch <- prometheus.MustNewConstMetric(c.paused, prometheus.GaugeValue, p, name)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, st.OldestReadyAge.Seconds(), name)
	}
}
