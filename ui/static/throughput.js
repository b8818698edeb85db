// Throughput is computed here, in the browser, from the change of each
// queue's succeeded and dead counts between two polls. The server keeps no
// history for it: the chart starts when the page opens, which is what a
// person watching it needs, and the API stays as it is.
//
// A count can also fall: the sweeper purges old jobs, and a retried dead
// job leaves "dead". Such a fall is taken as zero jobs finished, so the
// rate of that one interval is an undercount, never negative.

export class Throughput {
  constructor(windowMs) {
    this.windowMs = windowMs;
    this.last = new Map(); // queue → {t, ok, dead} of the previous poll
    this.byQueue = new Map(); // queue → [{t, ok, dead}] rates per second
    this.total = []; // [{t, ok, dead}] summed over the queues
  }

  // add records one poll of GET /v1/queues made at time t (ms).
  add(t, queues) {
    let ok = 0;
    let dead = 0;
    let any = false;
    for (const q of queues) {
      const prev = this.last.get(q.queue);
      this.last.set(q.queue, { t, ok: q.counts.succeeded, dead: q.counts.dead });
      if (!prev || t <= prev.t) continue;
      const dt = (t - prev.t) / 1000;
      const s = {
        t,
        ok: Math.max(0, q.counts.succeeded - prev.ok) / dt,
        dead: Math.max(0, q.counts.dead - prev.dead) / dt,
      };
      if (!this.byQueue.has(q.queue)) this.byQueue.set(q.queue, []);
      this.byQueue.get(q.queue).push(s);
      ok += s.ok;
      dead += s.dead;
      any = true;
    }
    if (any) this.total.push({ t, ok, dead });
    const cut = t - this.windowMs;
    const prune = (a) => { while (a.length > 1 && a[1].t < cut) a.shift(); };
    prune(this.total);
    for (const a of this.byQueue.values()) prune(a);
  }

  // samples returns a queue's rates, or the total when name is omitted.
  samples(name) {
    return name === undefined ? this.total : (this.byQueue.get(name) || []);
  }

  // recent is the mean rate of jobs finished per second over the last
  // spanMs, which steadies the number shown beside the chart.
  recent(name, spanMs, now) {
    const a = this.samples(name).filter((s) => s.t > now - spanMs);
    if (a.length === 0) return null;
    return a.reduce((sum, s) => sum + s.ok + s.dead, 0) / a.length;
  }
}
