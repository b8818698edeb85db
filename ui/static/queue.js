// A queue's jobs, by state, a page at a time. The API pages by ticket: each
// answer's "next" is the after= of the following page. It has no cursor
// backwards, so the page remembers the cursors it came through.

import { $, el, setText, clip, href, fmtInt, fmtTime, fmtAgo, limitParts, KIND_HELP } from './dom.js';
import { api } from './api.js';

export const PAGE_SIZE = 25;
export const STATES = ['queued', 'running', 'succeeded', 'dead', 'canceled'];

export class QueueView {
  constructor(onToggle) {
    this.route = null; // {name, state, after}
    this.trail = []; // the after= of the pages before this one
    this.shown = ''; // the answer on screen, to skip redrawing the same page
    $('q-pause').addEventListener('click', (ev) => {
      if (this.route) onToggle(this.route.name, ev.currentTarget.dataset.action === 'resume', ev.currentTarget);
    });
    $('page-first').addEventListener('click', () => this.go(''));
    $('page-prev').addEventListener('click', () => this.go(this.trail[this.trail.length - 1] || ''));
    $('page-next').addEventListener('click', () => {
      if (this.next) this.go(this.next, true);
    });
  }

  link(name, state, after) {
    const params = new URLSearchParams();
    if (state) params.set('state', state);
    if (after) params.set('after', after);
    const qs = params.toString();
    return href('queues', name) + (qs ? `?${qs}` : '');
  }

  go(after, forward = false) {
    const r = this.route;
    if (forward) this.trail.push(r.after);
    location.hash = this.link(r.name, r.state, after);
  }

  // open shows the view for a route; the jobs come with load().
  open(route) {
    const same = this.route && this.route.name === route.name && this.route.state === route.state;
    if (!same || route.after === '') this.trail = [];
    // Going back (the browser's or ours) drops the pages after the target.
    const i = this.trail.indexOf(route.after);
    if (i >= 0) this.trail = this.trail.slice(0, i);
    this.route = route;
    this.shown = '';
    setText($('q-name'), route.name);
    document.title = `${route.name} · ticketq`;
    for (const a of $('q-states').querySelectorAll('a')) {
      a.href = this.link(route.name, a.dataset.state, '');
      a.classList.toggle('active', a.dataset.state === route.state);
      a.setAttribute('aria-current', a.dataset.state === route.state ? 'page' : 'false');
    }
  }

  // stats shows the queue's line of GET /v1/queues (undefined when the
  // queue is not, or not yet, known).
  stats(q) {
    const button = $('q-pause');
    const kind = $('q-kind');
    if (!q) {
      setText($('q-stats'), '');
      $('q-paused').hidden = true;
      kind.hidden = true;
      return;
    }
    $('q-paused').hidden = !q.paused;
    kind.hidden = false;
    kind.dataset.kind = q.kind;
    setText(kind, q.kind);
    kind.title = KIND_HELP[q.kind] || '';
    if (!button.disabled) {
      button.dataset.action = q.paused ? 'resume' : 'pause';
      setText(button, q.paused ? 'Resume' : 'Pause');
    }
    let all = 0;
    for (const a of $('q-states').querySelectorAll('a')) {
      const n = a.dataset.state ? q.counts[a.dataset.state] : STATES.reduce((s, k) => s + q.counts[k], 0);
      if (!a.dataset.state) all = n;
      setText(a.querySelector('.count'), fmtInt(n));
    }
    // A pull queue's running jobs are leased out; this server runs none.
    const running = q.kind === 'pull'
      ? `${fmtInt(q.counts.running)} running (leased to workers)`
      : `${fmtInt(q.counts.running)} running, ${fmtInt(q.in_flight)} in flight in this server`;
    const limits = limitParts(q);
    setText($('q-stats'), [`${fmtInt(all)} jobs stored`, running, `limits: ${limits.join(' · ') || 'none'}`].join(' · '));
  }

  // load fetches the page of the current route and shows it; isCurrent()
  // tells whether the route is still the one on screen when it answers.
  async load(isCurrent) {
    const r = this.route;
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (r.state) params.set('state', r.state);
    if (r.after) params.set('after', r.after);
    const page = await api('GET', `queues/${encodeURIComponent(r.name)}/jobs?${params}`);
    if (!isCurrent()) return;
    const key = JSON.stringify(page);
    if (key === this.shown) return;
    this.shown = key;
    this.next = page.next;
    const now = Date.now();
    $('jobs').tBodies[0].replaceChildren(...page.jobs.map((j) => row(j, now)));
    $('jobs-empty').hidden = page.jobs.length > 0;
    $('page-next').disabled = !page.next;
    $('page-prev').disabled = this.trail.length === 0;
    $('page-first').disabled = !r.after;
    // The page number is known only when the trail reaches the first page.
    const known = !r.after || this.trail[0] === '';
    const first = page.jobs[0];
    const last = page.jobs[page.jobs.length - 1];
    setText($('page-info'), first
      ? `${known ? `page ${this.trail.length + 1} · ` : ''}tickets ${first.ticket}–${last.ticket}`
      : '');
  }
}

function row(j, now) {
  const err = j.last_error || '';
  return el('tr', { data: { ticket: j.ticket } },
    el('td', {}, el('a', { href: href('jobs', j.ticket), text: `#${j.ticket}` })),
    el('td', {}, el('span', { class: 'badge', data: { state: j.state }, text: j.state })),
    el('td', { class: 'num', text: `${j.attempts} / ${j.max_attempts}` }),
    el('td', { class: 'num', text: String(j.priority) }),
    el('td', { title: fmtTime(j.created_at), text: fmtAgo(j.created_at, now) }),
    el('td', { title: fmtTime(j.finished_at), text: j.finished_at ? fmtAgo(j.finished_at, now) : '—' }),
    el('td', { class: 'error-cell', title: err, text: clip(err, 100) }));
}
