// DOM and formatting helpers. Everything shown comes from the API, and
// payloads, results and errors are written by whoever submits jobs, so text
// only ever goes in through textContent and attributes (the page's
// Content-Security-Policy enforces Trusted Types, so the browser would
// refuse innerHTML anyway).

const SVG = 'http://www.w3.org/2000/svg';

// el builds an element. props: class, text, href, title, hidden, data
// (dataset entries), attrs (other attributes) and on (event listeners);
// children are nodes or strings (strings become text nodes).
export function el(tag, props = {}, ...children) {
  return build(document.createElement(tag), props, children);
}

// svg builds an SVG element; attrs are set as attributes.
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  node.append(...children);
  return node;
}

function build(node, props, children) {
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    switch (k) {
      case 'class': node.className = v; break;
      case 'text': node.textContent = v; break;
      case 'hidden': node.hidden = Boolean(v); break;
      case 'data': Object.assign(node.dataset, v); break;
      case 'attrs': for (const [a, av] of Object.entries(v)) node.setAttribute(a, String(av)); break;
      case 'on': for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn); break;
      default: node.setAttribute(k, String(v));
    }
  }
  node.append(...children);
  return node;
}

// $ finds one element by id; a missing one is a bug in the page.
export function $(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`element #${id} is missing`);
  return node;
}

// setText changes a node's text only when it differs, so that a poll that
// brings nothing new does not disturb a selection or a hover.
export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

// clip shortens text for a table cell; the full text goes in a title.
export function clip(s, n) {
  return s.length > n ? s.slice(0, n - 1) + '…' : s;
}

// href builds a link to a view of the page.
export function href(...parts) {
  return '#/' + parts.map(encodeURIComponent).join('/');
}

export function fmtInt(n) {
  return Number(n).toLocaleString('en-US');
}

// fmtAge writes a duration in seconds as 42s, 3m 12s, 2h 5m or 1d 3h.
export function fmtAge(sec) {
  if (!(sec > 0)) return '—';
  const s = Math.floor(sec);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor(s % 3600 / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor(s % 86400 / 3600)}h`;
}

// fmtRate writes jobs per second.
export function fmtRate(r) {
  if (!(r > 0)) return '0/s';
  if (r < 10) return `${r.toFixed(1)}/s`;
  return `${fmtInt(Math.round(r))}/s`;
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

// fmtTime writes an RFC 3339 time in the browser's time zone; null is "—".
export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// fmtAgo writes how long ago (or how far ahead) a time is.
export function fmtAgo(iso, now = Date.now()) {
  if (!iso) return '';
  const ms = new Date(iso).getTime() - now;
  if (Number.isNaN(ms)) return '';
  const txt = fmtAge(Math.abs(ms) / 1000);
  if (Math.abs(ms) < 1000) return 'just now';
  return ms < 0 ? `${txt} ago` : `in ${txt}`;
}

// limitParts lists a queue's limits in force as short phrases, only those
// that apply to its kind: workers run a push queue's jobs, leases hand out
// a pull queue's. A limit at 0 (none) is left out.
export function limitParts(q) {
  const l = q.limits || {};
  const parts = [];
  if (q.kind === 'push') parts.push(`${fmtInt(l.workers)} ${l.workers === 1 ? 'worker' : 'workers'}`);
  if (q.kind === 'pull' && l.max_leases > 0) parts.push(`≤ ${fmtInt(l.max_leases)} leased`);
  if (l.rate > 0) parts.push(`${l.rate}/s, burst ${fmtInt(l.burst)}`);
  if (l.max_queue > 0) parts.push(`≤ ${fmtInt(l.max_queue)} queued`);
  return parts;
}

// overridden names the limits set at run time (PATCH), which beat the
// server's flags and environment.
export function overridden(q) {
  const names = { workers: 'workers', max_leases: 'max leases', rate: 'rate', burst: 'burst', max_queue: 'max queued' };
  return Object.entries(q.overrides || {}).filter(([, v]) => v !== null && v !== undefined).map(([k]) => names[k] || k);
}

// KIND_HELP says what a queue's kind means, for a tooltip.
export const KIND_HELP = {
  push: 'push: this server runs the jobs with its own executor',
  pull: 'pull: jobs wait for workers that lease them over HTTP (ticketq work, client.Worker)',
};
