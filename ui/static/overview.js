// The overview: totals, the throughput chart and one row per queue. Rows
// are kept and updated in place between polls rather than rebuilt, so a
// button does not vanish under the pointer while it is being clicked.

import { $, el, setText, href, fmtInt, fmtAge, fmtRate, limitParts, overridden, KIND_HELP } from './dom.js';
import { drawChart, sparkline } from './chart.js';

const COUNTS = ['queued', 'running', 'succeeded', 'dead', 'canceled'];

export class Overview {
  // onToggle(queue, paused) is called when a row's Pause or Resume button
  // is pressed.
  constructor(throughput, windowMs, onToggle) {
    this.throughput = throughput;
    this.windowMs = windowMs;
    this.onToggle = onToggle;
    this.rows = new Map(); // queue name → {tr, cells, badge, kind, button, spark}
    this.tbody = $('queues').tBodies[0];
  }

  // update shows one answer of GET /v1/queues, polled at now.
  update(queues, now) {
    const totals = Object.fromEntries(COUNTS.map((k) => [k, 0]));
    for (const q of queues) for (const k of COUNTS) totals[k] += q.counts[k];
    for (const k of COUNTS) setText($('totals').querySelector(`[data-field="${k}"] .value`), fmtInt(totals[k]));
    const rate = this.throughput.recent(undefined, 10000, now);
    setText($('totals').querySelector('[data-field="rate"] .value'), rate === null ? '—' : fmtRate(rate));

    const total = this.throughput.samples();
    const span = Math.min(this.windowMs, Math.max(60000, now - (total.length ? total[0].t : now)));
    drawChart($('chart'), total, now, this.windowMs);
    setText($('chart-note'), total.length ? '' : 'since this page opened');

    const seen = new Set();
    queues.forEach((q, i) => {
      seen.add(q.queue);
      let row = this.rows.get(q.queue);
      if (!row) {
        row = this.makeRow(q.queue);
        this.rows.set(q.queue, row);
      }
      // Keep the API's order (by name) without moving rows that are in place.
      if (this.tbody.children[i] !== row.tr) this.tbody.insertBefore(row.tr, this.tbody.children[i] || null);
      this.fillRow(row, q, now, span);
    });
    for (const [name, row] of this.rows) {
      if (!seen.has(name)) {
        row.tr.remove();
        this.rows.delete(name);
      }
    }
    $('queues-empty').hidden = queues.length > 0;
    setText($('queue-count'), queues.length === 1 ? '1 queue' : `${queues.length} queues`);
  }

  // updateOne shows the stats of one queue, as a pause or resume answers.
  updateOne(q) {
    const row = this.rows.get(q.queue);
    if (row) this.fillRow(row, q, Date.now(), null);
  }

  makeRow(name) {
    const cells = {};
    const tr = el('tr', { data: { queue: name } });
    const badge = el('span', { class: 'badge paused', text: 'paused', hidden: true });
    const kind = el('span', { class: 'badge kind' });
    tr.append(el('td', { class: 'name' }, el('a', { href: href('queues', name), text: name }), ' ', kind, ' ', badge));
    for (const k of COUNTS) {
      // Each count links to the queue's jobs in that state.
      const link = el('a', { href: `${href('queues', name)}?state=${k}` });
      cells[k] = link;
      tr.append(el('td', { class: 'num', data: { field: k } }, link));
    }
    for (const k of ['in_flight', 'oldest']) {
      cells[k] = el('td', { class: 'num', data: { field: k } });
      tr.append(cells[k]);
    }
    cells.limits = el('td', { class: 'limits', data: { field: 'limits' } });
    tr.append(cells.limits);
    const spark = el('span', { class: 'spark-box' });
    cells.rate = el('span', { class: 'rate', data: { field: 'rate' } });
    tr.append(el('td', {}, el('div', { class: 'throughput' }, spark, cells.rate)));
    const button = el('button', { type: 'button', class: 'small', data: { action: 'pause' } });
    button.addEventListener('click', () => this.onToggle(name, button.dataset.action === 'resume', button));
    tr.append(el('td', { class: 'actions' }, button));
    return { tr, cells, badge, kind, button, spark };
  }

  fillRow(row, q, now, span) {
    for (const k of COUNTS) setText(row.cells[k], fmtInt(q.counts[k]));
    row.cells.dead.parentElement.classList.toggle('warn', q.counts.dead > 0);
    setText(row.cells.in_flight, fmtInt(q.in_flight));
    setText(row.cells.oldest, fmtAge(q.oldest_queued_age_seconds));
    row.cells.oldest.title = `${q.oldest_queued_age_seconds.toFixed(1)} s`;
    row.badge.hidden = !q.paused;
    row.kind.dataset.kind = q.kind;
    setText(row.kind, q.kind);
    row.kind.title = KIND_HELP[q.kind] || '';
    const parts = limitParts(q);
    if (row.cells.limits.textContent !== (parts.join(' · ') || 'none')) {
      // One unbreakable piece per limit: the cell wraps between them only.
      const pieces = parts.flatMap((p, i) => [...(i ? [' · '] : []), el('span', { class: 'limit', text: p })]);
      row.cells.limits.replaceChildren(...(pieces.length ? pieces : ['none']));
    }
    const set = overridden(q);
    row.cells.limits.title = set.length ? `set at run time (PATCH): ${set.join(', ')}` : 'from the server\'s flags and environment';
    row.cells.limits.classList.toggle('overridden', set.length > 0);
    row.tr.classList.toggle('is-paused', q.paused);
    if (!row.button.disabled) {
      row.button.dataset.action = q.paused ? 'resume' : 'pause';
      setText(row.button, q.paused ? 'Resume' : 'Pause');
    }
    if (span !== null) {
      const rate = this.throughput.recent(q.queue, 10000, now);
      setText(row.cells.rate, rate === null ? '—' : fmtRate(rate));
      row.spark.replaceChildren(sparkline(this.throughput.samples(q.queue), now, span));
    }
  }
}
