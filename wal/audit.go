package wal

import (
	"cmp"
	"slices"

	"github.com/ticketq/ticketq/job"
	"github.com/ticketq/ticketq/wal/internal/boltfile"
)

// audit checks ticketq's records and state indexes during a walk of a
// page tree that bbolt cannot be trusted to read (a cycle, a bad page):
// every job record decodes under its own ticket, no ticket is above the
// ticket counter, and the queues' state indexes and the records agree.
// The other indexes (ready, finished, leases, idempotency keys) are left
// to the bbolt stages of a sound file; 'ticketq salvage' rebuilds them all.
//
// Its memory is 16 bytes per record and per index entry, less than each
// takes in the file.
type audit struct {
	rep     *Report
	seq     uint64 // the jobs bucket's sequence, the ticket counter
	jobs    []auditEntry
	indexed []auditEntry
	queues  []string // the names that auditEntry.queue indexes
	queueNo map[string]uint32
	// Jobs-bucket keys that are not tickets, by page: another bucket's
	// page where a jobs page should be.
	foreign map[uint64]int
	bad     int // records that do not decode
}

// auditEntry is a job as its record or an index entry has it.
type auditEntry struct {
	ticket uint64
	queue  uint32
	state  job.State
}

// maxRecordFindings is how many bad records an audit names one by one,
// leaving room in the report for the findings that follow.
const maxRecordFindings = 10

func newAudit(rep *Report) *audit {
	return &audit{rep: rep, queueNo: map[string]uint32{}, foreign: map[uint64]int{}}
}

func (a *audit) queue(name string) uint32 {
	n, ok := a.queueNo[name]
	if !ok {
		n = uint32(len(a.queues))
		a.queues = append(a.queues, name)
		a.queueNo[name] = n
	}
	return n
}

// visitor returns the callbacks that feed the audit.
func (a *audit) visitor() boltfile.Visitor {
	return boltfile.Visitor{
		Bucket: func(b *boltfile.Bucket) {
			switch {
			case b.Is(string(bucketJobs)):
				a.seq = b.Seq
			case b.Parent != nil && b.Parent.Is(string(bucketQueues)):
				a.queue(string(b.Name))
			}
		},
		Value: a.value,
	}
}

func (a *audit) value(b *boltfile.Bucket, k, v []byte, page uint64) {
	switch {
	case b.Is(string(bucketJobs)):
		if len(k) != 8 {
			a.foreign[page]++
			return
		}
		j, err := decodeRecord(v)
		switch {
		case err != nil:
			if a.bad++; a.bad <= maxRecordFindings {
				a.rep.add("job %s (page %d): %v", keyTicket(k), page, err)
			}
		case j.Ticket != keyTicket(k):
			if a.bad++; a.bad <= maxRecordFindings {
				a.rep.add("job %s (page %d): the record says ticket %s", keyTicket(k), page, j.Ticket)
			}
		default:
			a.jobs = append(a.jobs, auditEntry{ticket: uint64(j.Ticket), queue: a.queue(j.Queue), state: j.State})
		}
	case b.Parent != nil && b.Parent.Parent != nil && b.Parent.Parent.Is(string(bucketQueues)) && len(k) == 8:
		if s, ok := stateOfBucket(b.Name); ok {
			a.indexed = append(a.indexed, auditEntry{ticket: uint64(keyTicket(k)), queue: a.queue(string(b.Parent.Name)), state: s})
		}
	}
}

// finish adds the findings that need the whole walk, and the counts.
func (a *audit) finish() {
	rep := a.rep
	rep.Jobs, rep.Queues = len(a.jobs), len(a.queues)
	if a.bad > maxRecordFindings {
		rep.add("jobs: %d more records do not decode", a.bad-maxRecordFindings)
	}
	pages := make([]uint64, 0, len(a.foreign))
	for p := range a.foreign {
		pages = append(pages, p)
	}
	slices.Sort(pages)
	for _, p := range pages {
		rep.add("jobs: page %d holds %d keys that are not tickets: another bucket's page where job records should be", p, a.foreign[p])
	}
	byTicket := func(x, y auditEntry) int { return cmp.Compare(x.ticket, y.ticket) }
	slices.SortFunc(a.jobs, byTicket)
	slices.SortFunc(a.indexed, byTicket)
	if n := len(a.jobs); n > 0 && a.jobs[n-1].ticket > a.seq {
		rep.add("jobs: ticket %d is above the ticket counter %d; new submits would reuse it", a.jobs[n-1].ticket, a.seq)
	}

	// Walk both lists in ticket order: an index entry without its record,
	// with a record in another state or queue, and a record in no index.
	type group struct {
		queue uint32
		state job.State
	}
	orphans, unindexed := map[group][]uint64{}, map[group][]uint64{}
	mismatched := 0
	i, j := 0, 0
	for i < len(a.indexed) || j < len(a.jobs) {
		switch {
		case j == len(a.jobs) || (i < len(a.indexed) && a.indexed[i].ticket < a.jobs[j].ticket):
			e := a.indexed[i]
			orphans[group{e.queue, e.state}] = append(orphans[group{e.queue, e.state}], e.ticket)
			i++
		case i == len(a.indexed) || a.jobs[j].ticket < a.indexed[i].ticket:
			e := a.jobs[j]
			unindexed[group{e.queue, e.state}] = append(unindexed[group{e.queue, e.state}], e.ticket)
			j++
		default:
			rec, found := a.jobs[j], false
			for ; i < len(a.indexed) && a.indexed[i].ticket == rec.ticket; i++ {
				e := a.indexed[i]
				if e.queue == rec.queue && e.state == rec.state {
					found = true
				} else {
					mismatched++
				}
			}
			if !found {
				unindexed[group{rec.queue, rec.state}] = append(unindexed[group{rec.queue, rec.state}], rec.ticket)
			}
			j++
		}
	}
	sortedGroups := func(m map[group][]uint64) []group {
		gs := make([]group, 0, len(m))
		for g := range m {
			gs = append(gs, g)
		}
		slices.SortFunc(gs, func(x, y group) int {
			return cmp.Or(cmp.Compare(a.queues[x.queue], a.queues[y.queue]), cmp.Compare(x.state, y.state))
		})
		return gs
	}
	for _, g := range sortedGroups(orphans) {
		ts := orphans[g]
		rep.add("queue %q: %d ticket(s) in the %s index have no readable job record: %s", a.queues[g.queue], len(ts), g.state, ticketRanges(ts, 10))
	}
	for _, g := range sortedGroups(unindexed) {
		ts := unindexed[g]
		rep.add("queue %q: %d %s job record(s) are missing from the %s index: %s", a.queues[g.queue], len(ts), g.state, g.state, ticketRanges(ts, 10))
	}
	if mismatched > 0 {
		rep.add("indexes: %d entries name a job in another state or queue than its record says", mismatched)
	}
	rep.add("indexes: the ready, finished, lease and idempotency indexes and the counters were not checked: bbolt cannot read this tree safely; 'ticketq salvage' rebuilds them from the records")
}
