package httpapi

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/internal/strictjson"
	"github.com/ticketq/ticketq/job"
)

// The views are the JSON shapes of the API. They are separate from the
// stored types so that a change in storage never changes the wire format
// by accident.

// receiptView answers a single submit.
type receiptView struct {
	Ticket    string `json:"ticket"`
	Queue     string `json:"queue"`
	State     string `json:"state"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// jsonAppender is a view that encodes itself without reflection: the
// answers to submits are the hot path of the API.
type jsonAppender interface {
	appendJSON(b []byte) []byte
}

func (v receiptView) appendJSON(b []byte) []byte {
	b = append(b, `{"ticket":"`...)
	b = append(b, v.Ticket...)
	b = append(b, `","queue":`...)
	b = strconv.AppendQuote(b, v.Queue) // queue names are plain ASCII
	b = append(b, `,"state":"`...)
	b = append(b, v.State...)
	b = append(b, '"')
	if v.Duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	return append(b, '}')
}

func (v batchView) appendJSON(b []byte) []byte {
	b = append(b, `{"tickets":[`...)
	for i, t := range v.Tickets {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, t...)
		b = append(b, '"')
	}
	b = append(b, `],"jobs":[`...)
	for i, j := range v.Jobs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"ticket":"`...)
		b = append(b, j.Ticket...)
		b = append(b, `","state":"`...)
		b = append(b, j.State...)
		b = append(b, `","duplicate":`...)
		b = strconv.AppendBool(b, j.Duplicate)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// batchView answers a batch submit.
type batchView struct {
	Tickets []string    `json:"tickets"`
	Jobs    []batchItem `json:"jobs"`
}

type batchItem struct {
	Ticket    string `json:"ticket"`
	State     string `json:"state"`
	Duplicate bool   `json:"duplicate"`
}

// summaryView is a job in a listing: everything but its payload, result
// and error history, which can be large.
type summaryView struct {
	Ticket      string `json:"ticket"`
	Queue       string `json:"queue"`
	State       string `json:"state"`
	Attempts    int    `json:"attempts"`
	MaxAttempts int    `json:"max_attempts"`
	// Timeout bounds one run, as a Go duration ("" for none, which no job
	// stored by this version has): the job's own or its queue's, resolved
	// at the submit.
	Timeout        string    `json:"timeout"`
	Interrupted    int       `json:"interrupted"`
	Priority       int       `json:"priority"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	SubmittedBy    string    `json:"submitted_by,omitempty"` // the token's name; absent without one
	CreatedAt      timestamp `json:"created_at"`
	UpdatedAt      timestamp `json:"updated_at"`
	RunAt          timestamp `json:"run_at"`
	StartedAt      timestamp `json:"started_at"`
	FinishedAt     timestamp `json:"finished_at"`
	LastError      string    `json:"last_error,omitempty"`
	// LeaseExpiresAt is the deadline of a pull worker's lease (the token
	// itself is never shown: it belongs to the worker).
	LeaseExpiresAt  *timestamp `json:"lease_expires_at,omitempty"`
	Progress        *int       `json:"progress,omitempty"`
	ProgressMessage string     `json:"progress_message,omitempty"`
	ProgressAt      *timestamp `json:"progress_at,omitempty"`
}

// jobView is one job in full.
type jobView struct {
	summaryView
	Result  rawJSON            `json:"result"`
	Payload rawJSON            `json:"payload"`
	Errors  []attemptErrorView `json:"errors"`
}

type attemptErrorView struct {
	Attempt int       `json:"attempt"`
	At      timestamp `json:"at"`
	Error   string    `json:"error"`
}

func newSummaryView(j *job.Job) summaryView {
	v := summaryView{
		Ticket:         j.Ticket.String(),
		Queue:          j.Queue,
		State:          j.State.String(),
		Attempts:       j.Attempt,
		MaxAttempts:    j.MaxAttempts,
		Timeout:        durationString(j.Timeout),
		Interrupted:    j.Interrupted,
		Priority:       j.Priority,
		IdempotencyKey: j.IdempotencyKey,
		SubmittedBy:    j.Submitter,
		CreatedAt:      timestamp(j.CreatedAt),
		UpdatedAt:      timestamp(j.UpdatedAt),
		RunAt:          timestamp(j.RunAt),
		StartedAt:      timestamp(j.StartedAt),
		FinishedAt:     timestamp(j.FinishedAt),
		LastError:      j.LastError,
	}
	if !j.LeaseExpiresAt.IsZero() {
		t := timestamp(j.LeaseExpiresAt)
		v.LeaseExpiresAt = &t
	}
	if !j.ProgressAt.IsZero() {
		p, at := j.Progress, timestamp(j.ProgressAt)
		v.Progress, v.ProgressMessage, v.ProgressAt = &p, j.ProgressMessage, &at
	}
	return v
}

func newJobView(j *job.Job) jobView {
	v := jobView{
		summaryView: newSummaryView(j),
		Result:      rawJSON(j.Result),
		Payload:     rawJSON(j.Payload),
		Errors:      make([]attemptErrorView, len(j.Errors)),
	}
	for i, e := range j.Errors {
		v.Errors[i] = attemptErrorView{Attempt: e.Attempt, At: timestamp(e.At), Error: e.Error}
	}
	return v
}

// pageView answers a listing.
type pageView struct {
	Jobs []summaryView `json:"jobs"`
	Next string        `json:"next"`
}

// statsView describes one queue.
type statsView struct {
	Queue  string `json:"queue"`
	Paused bool   `json:"paused"`
	// Kind is "push" when the server runs the queue's jobs itself (an
	// executor or handler), "pull" when they wait for workers that lease
	// them.
	Kind     string     `json:"kind"`
	Counts   countsView `json:"counts"`
	InFlight int        `json:"in_flight"`
	// OldestQueuedAgeSeconds is how long the longest-waiting due job has
	// waited; jobs delayed into the future do not count.
	OldestQueuedAgeSeconds float64 `json:"oldest_queued_age_seconds"`
	// Limits are the limits in force; Overrides those set by PATCH (which
	// beat the server's flags and environment, and survive restarts).
	Limits    limitsView    `json:"limits"`
	Overrides overridesView `json:"overrides"`
}

type limitsView struct {
	Workers   int     `json:"workers"`
	MaxLeases int     `json:"max_leases"`
	Rate      float64 `json:"rate"`
	Burst     int     `json:"burst"`
	MaxQueued int     `json:"max_queue"`
}

// overridesView shows each overridden limit, and null for the others.
type overridesView struct {
	Workers   *int     `json:"workers"`
	MaxLeases *int     `json:"max_leases"`
	Rate      *float64 `json:"rate"`
	Burst     *int     `json:"burst"`
	MaxQueued *int     `json:"max_queue"`
}

// leaseView answers a lease: the jobs with what a worker needs to run and
// settle them.
type leaseView struct {
	Jobs []leasedJobView `json:"jobs"`
}

type leasedJobView struct {
	Ticket      string  `json:"ticket"`
	Queue       string  `json:"queue"`
	Payload     rawJSON `json:"payload"`
	Attempt     int     `json:"attempt"`
	MaxAttempts int     `json:"max_attempts"`
	// Timeout bounds one run ("" for none): a worker cancels its handler
	// after it, as the server does for its own runs.
	Timeout        string    `json:"timeout"`
	IdempotencyKey string    `json:"idempotency_key"`
	Lease          string    `json:"lease"`
	LeaseExpiresAt timestamp `json:"lease_expires_at"`
}

func newLeaseView(js []*job.Job) leaseView {
	v := leaseView{Jobs: make([]leasedJobView, len(js))}
	for i, j := range js {
		v.Jobs[i] = leasedJobView{
			Ticket: j.Ticket.String(), Queue: j.Queue, Payload: rawJSON(j.Payload), Attempt: j.Attempt,
			MaxAttempts: j.MaxAttempts, IdempotencyKey: j.IdempotencyKey, Lease: j.Lease,
			LeaseExpiresAt: timestamp(j.LeaseExpiresAt),
		}
		v.Jobs[i].Timeout = durationString(j.Timeout)
	}
	return v
}

// durationString spells a job's timeout as the API does: a Go duration,
// or "" for none.
func durationString(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return d.String()
}

// countsView has one field per state, so that every state is present and
// in lifecycle order.
type countsView struct {
	Queued    int `json:"queued"`
	Running   int `json:"running"`
	Succeeded int `json:"succeeded"`
	Dead      int `json:"dead"`
	Canceled  int `json:"canceled"`
}

func newStatsView(st ticketq.QueueStats) statsView {
	kind := "push"
	if st.Pull {
		kind = "pull"
	}
	return statsView{
		Queue:  st.Queue,
		Paused: st.Paused,
		Kind:   kind,
		Counts: countsView{
			Queued:    st.Counts[job.Queued],
			Running:   st.Counts[job.Running],
			Succeeded: st.Counts[job.Succeeded],
			Dead:      st.Counts[job.Dead],
			Canceled:  st.Counts[job.Canceled],
		},
		InFlight:               st.InFlight,
		OldestQueuedAgeSeconds: st.OldestReadyAge.Seconds(),
		Limits:                 limitsView(st.Limits),
		Overrides:              overridesView(st.Overrides),
	}
}

// queuesView answers GET /v1/queues.
type queuesView struct {
	Queues []statsView `json:"queues"`
}

// timestamp encodes a time as RFC 3339 with nanoseconds in UTC, and the
// zero time ("not yet") as null.
type timestamp time.Time

// MarshalJSON implements json.Marshaler.
func (t timestamp) MarshalJSON() ([]byte, error) {
	tt := time.Time(t)
	if tt.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(tt.UTC().Format(time.RFC3339Nano))
}

// rawJSON encodes stored bytes: as they are when they are strict JSON, as
// a JSON string otherwise, and as null when empty. A stored payload or
// result that is JSON is strict (the root refuses other payloads and
// stores other results as JSON strings, see job.NormalizeResult), so JSON
// never comes back as a string; the string is for bytes that are not JSON
// at all (an embedding program's payload, an exec command's text output)
// and for values stored by an older version.
type rawJSON []byte

// MarshalJSON implements json.Marshaler.
func (b rawJSON) MarshalJSON() ([]byte, error) {
	if len(b) == 0 {
		return []byte("null"), nil
	}
	return strictjson.AsJSON(b), nil
}
