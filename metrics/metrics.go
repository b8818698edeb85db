// Package metrics is ticketq's Prometheus instrumentation. New builds every
// metric on a registry the caller owns and returns a Metrics that the queue
// (ticketq.Observer) and the HTTP API (httpapi.Observer) report to; the
// binary wires them in cmd/ticketq, so no package below keeps a global.
// Queue depths are not counted as events but read from the store at each
// scrape (QueueCollector), so they are right after a restart too.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds ticketq's event metrics. Its methods are safe for
// concurrent use and never block.
type Metrics struct {
	submits      *prometheus.CounterVec
	ackLatency   prometheus.Histogram
	commitOps    prometheus.Histogram
	commitTime   prometheus.Histogram
	writeTime    prometheus.Histogram
	runTime      *prometheus.HistogramVec
	retries      *prometheus.CounterVec
	dead         *prometheus.CounterVec
	expired      prometheus.Counter
	recoveryTime prometheus.Gauge
	recovered    prometheus.Gauge
	requests     *prometheus.CounterVec
	requestTime  *prometheus.HistogramVec
}

// Buckets: a submit's ack and a commit are dominated by fsync, from well
// under a millisecond (a disk with a write cache) to hundreds (a busy
// network disk); job runs span milliseconds to the 12 h timeout cap.
var (
	latencyBuckets = prometheus.ExponentialBuckets(0.0002, 2, 16)                 // 0.2 ms .. 6.6 s
	opsBuckets     = prometheus.ExponentialBuckets(1, 2, 11)                      // 1 .. 1024, the batch cap
	runBuckets     = prometheus.ExponentialBuckets(0.001, 4, 13)                  // 1 ms .. 4.7 h
	httpBuckets    = append(prometheus.ExponentialBuckets(0.0005, 2, 14), 30, 60) // long-polls last up to --max-wait
)

// New builds the metrics and registers them on reg; it panics if reg
// already holds metrics of these names (a wiring mistake).
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		submits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ticketq_submits_total",
			Help: "Jobs submitted, by queue and outcome: accepted, duplicate (a known idempotency key), refused (invalid or queue full), disk_full, failed.",
		}, []string{"queue", "outcome"}),
		ackLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ticketq_submit_ack_seconds",
			Help:    "Time from a submit request's arrival to its jobs being fsynced (answered submits that stored or found their jobs).",
			Buckets: latencyBuckets,
		}),
		commitOps: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ticketq_wal_commit_ops",
			Help:    "Operations (submits, claims, check-offs, ...) carried by one WAL commit: the group-commit batch size.",
			Buckets: opsBuckets,
		}),
		commitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ticketq_wal_commit_seconds",
			Help:    "Duration of one WAL commit, from the start of its transaction to the end of its fsyncs.",
			Buckets: latencyBuckets,
		}),
		writeTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ticketq_wal_write_seconds",
			Help:    "Part of a WAL commit spent writing pages and fsyncing them (bbolt's write time: data pages, fdatasync, meta page, fdatasync).",
			Buckets: latencyBuckets,
		}),
		runTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ticketq_job_run_seconds",
			Help:    "Duration of job runs that ended with a recorded outcome, by queue and outcome (succeeded, retried, dead); pull workers' runs included, measured from the lease to the ack or nack.",
			Buckets: runBuckets,
		}, []string{"queue", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ticketq_job_retries_total",
			Help: "Failed runs (a handler's error, a pull worker's nack) whose job was put back in line to run again, by queue; leases that expired are in ticketq_lease_expirations_total.",
		}, []string{"queue"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ticketq_jobs_dead_total",
			Help: "Jobs that became dead (attempts spent, a permanent failure, an expired last lease), by queue.",
		}, []string{"queue"}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ticketq_lease_expirations_total",
			Help: "Pull leases that passed their deadline without an ack, nack or extend.",
		}),
		recoveryTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ticketq_recovery_duration_seconds",
			Help: "How long the recovery at this process's start took.",
		}),
		recovered: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ticketq_recovery_jobs",
			Help: "Interrupted runs that the recovery at this process's start put back in line.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ticketq_http_requests_total",
			Help: "HTTP requests answered, by route template (\"other\" for no route), method and status code.",
		}, []string{"route", "method", "code"}),
		requestTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ticketq_http_request_duration_seconds",
			Help:    "Duration of HTTP requests, by route template and method (long-polls included: they last up to their wait).",
			Buckets: httpBuckets,
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.submits, m.ackLatency, m.commitOps, m.commitTime, m.writeTime, m.runTime,
		m.retries, m.dead, m.expired, m.recoveryTime, m.recovered, m.requests, m.requestTime)
	return m
}

// Submitted implements ticketq.Observer.
func (m *Metrics) Submitted(queue, outcome string, n int) {
	m.submits.WithLabelValues(queue, outcome).Add(float64(n))
}

// Committed implements ticketq.Observer.
func (m *Metrics) Committed(ops int, commit, write time.Duration) {
	m.commitOps.Observe(float64(ops))
	m.commitTime.Observe(commit.Seconds())
	m.writeTime.Observe(write.Seconds())
}

// Ran implements ticketq.Observer.
func (m *Metrics) Ran(queue, outcome string, d time.Duration) {
	m.runTime.WithLabelValues(queue, outcome).Observe(d.Seconds())
	if outcome == "retried" {
		m.retries.WithLabelValues(queue).Inc()
	}
}

// Died implements ticketq.Observer.
func (m *Metrics) Died(queue string) { m.dead.WithLabelValues(queue).Inc() }

// LeasesExpired implements ticketq.Observer.
func (m *Metrics) LeasesExpired(n int) { m.expired.Add(float64(n)) }

// Recovered implements ticketq.Observer.
func (m *Metrics) Recovered(jobs int, d time.Duration) {
	m.recovered.Set(float64(jobs))
	m.recoveryTime.Set(d.Seconds())
}

// Request implements httpapi.Observer: one answered request.
func (m *Metrics) Request(route, method string, status int, d time.Duration) {
	if route == "" {
		route = "other" // unmatched paths would otherwise be unbounded labels
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.requestTime.WithLabelValues(route, method).Observe(d.Seconds())
}

// Acked implements httpapi.Observer: a submit's jobs are durable, d after
// its request arrived.
func (m *Metrics) Acked(d time.Duration) { m.ackLatency.Observe(d.Seconds()) }
