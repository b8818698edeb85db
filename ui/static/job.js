// One job in full: its fields, payload, result and error history, with the
// actions its state allows.

import { $, el, setText, href, fmtTime, fmtAgo } from './dom.js';
import { api } from './api.js';

// A payload can be up to the server's body limit (4 MiB by default). The
// page shows the first PREVIEW characters of its pretty form, and all of it
// only when asked.
export const PREVIEW = 10000;

const FINAL = new Set(['succeeded', 'dead', 'canceled']);

export class JobView {
  constructor(onAction) {
    this.ticket = '';
    this.shown = '';
    $('job-cancel').addEventListener('click', (ev) => onAction(this.ticket, 'cancel', ev.currentTarget));
    $('job-retry').addEventListener('click', (ev) => onAction(this.ticket, 'retry', ev.currentTarget));
    this.blocks = {
      payload: new Block('job-payload'),
      result: new Block('job-result'),
    };
  }

  open(ticket) {
    if (ticket !== this.ticket) {
      this.ticket = ticket;
      this.shown = '';
      this.job = null;
      setText($('job-ticket'), ticket);
      setText($('job-queue'), '…');
      document.title = `Ticket ${ticket} · ticketq`;
      for (const id of ['job-state', 'job-payload', 'job-result']) setText($(id), '');
      // The previous job's state must not stand for this one's until it loads.
      delete $('job-state').dataset.state;
      $('job-fields').replaceChildren();
      $('job-errors').tBodies[0].replaceChildren();
      $('job-cancel').hidden = true;
      $('job-retry').hidden = true;
    }
  }

  async load(isCurrent) {
    const j = await api('GET', `jobs/${encodeURIComponent(this.ticket)}`);
    if (isCurrent()) this.show(j);
  }

  // show draws a job, as GET /v1/jobs/{ticket} (or a cancel or retry)
  // answers it; an answer that changed nothing is not drawn again.
  show(j) {
    const key = JSON.stringify(j);
    if (key === this.shown) return;
    this.shown = key;
    this.job = j;
    setText($('job-ticket'), j.ticket);
    const q = $('job-queue');
    setText(q, j.queue);
    q.href = href('queues', j.queue);
    const st = $('job-state');
    setText(st, j.state);
    st.dataset.state = j.state;
    $('job-cancel').hidden = FINAL.has(j.state);
    $('job-retry').hidden = !(j.state === 'dead' || j.state === 'canceled');

    const now = Date.now();
    const fields = [
      ['Attempts', String(j.attempts), 'attempts'],
      ['Max attempts', String(j.max_attempts), 'max_attempts'],
      ['Interrupted', String(j.interrupted), 'interrupted'],
      ['Priority', String(j.priority), 'priority'],
      ['Idempotency key', j.idempotency_key || '—', 'idempotency_key'],
      ['Created', j.created_at, 'created_at', true],
      ['Run at', j.run_at, 'run_at', true],
      ['Started', j.started_at, 'started_at', true],
      ['Finished', j.finished_at, 'finished_at', true],
      ['Updated', j.updated_at, 'updated_at', true],
    ];
    if (j.lease_expires_at) fields.push(['Lease expires', j.lease_expires_at, 'lease_expires_at', true]);
    if (j.last_error) fields.push(['Last error', j.last_error, 'last_error']);
    $('job-fields').replaceChildren(...fields.flatMap(([label, value, field, isTime]) => [
      el('dt', { text: label }),
      el('dd', { data: { field }, title: isTime && value ? value : undefined },
        isTime ? fmtTime(value) : value,
        isTime && value ? el('span', { class: 'muted', text: ` (${fmtAgo(value, now)})` }) : ''),
    ]));

    const hasProgress = j.progress !== undefined && j.progress !== null;
    $('job-progress').hidden = !hasProgress;
    if (hasProgress) {
      $('job-progress-bar').value = j.progress;
      setText($('job-progress-text'), `${j.progress}%${j.progress_message ? ' · ' + j.progress_message : ''}`);
    }

    this.blocks.payload.set(j.payload);
    this.blocks.result.set(j.result);

    const errors = j.errors || [];
    $('job-errors').tBodies[0].replaceChildren(...errors.slice().reverse().map((e) => el('tr', {},
      el('td', { class: 'num', text: String(e.attempt) }),
      el('td', { title: e.at, text: fmtTime(e.at) }),
      el('td', { class: 'error-text', text: e.error }))));
    $('job-errors').hidden = errors.length === 0;
    $('job-errors-empty').hidden = errors.length > 0;
  }

  // final tells whether the job on screen can still change by itself.
  final() {
    return this.job !== null && this.job !== undefined && FINAL.has(this.job.state);
  }
}

// Block is a <pre> showing a JSON value, pretty and cut at PREVIEW
// characters, with a note and a button that shows all of it.
class Block {
  constructor(id) {
    this.pre = $(id);
    this.note = $(`${id}-note`);
    this.all = $(`${id}-all`);
    this.full = '';
    this.all.addEventListener('click', () => {
      setText(this.pre, this.full);
      this.note.hidden = true;
      this.all.hidden = true;
    });
  }

  set(value) {
    // A result that is not JSON comes as a string: show it as it is.
    this.full = value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value, null, 2);
    this.pre.classList.toggle('empty-value', this.full === '');
    const cut = this.full.length > PREVIEW;
    setText(this.pre, this.full === '' ? 'none' : cut ? this.full.slice(0, PREVIEW) + '\n…' : this.full);
    this.note.hidden = !cut;
    this.all.hidden = !cut;
    if (cut) setText(this.note, `truncated: the first ${PREVIEW.toLocaleString('en-US')} of ${this.full.length.toLocaleString('en-US')} characters`);
  }
}
