// The dashboard: a router over three views (#/ the queues, #/queues/NAME a
// queue's jobs, #/jobs/TICKET one job), one poll loop, the token, and the
// actions. Polling (not server-sent events) because EventSource cannot send
// an Authorization header, and GET /v1/queues every 2 s is one cheap read.

import { $, setText } from './dom.js';
import { api, apiBase, ApiError, getToken, setToken } from './api.js';
import { Throughput } from './throughput.js';
import { Overview } from './overview.js';
import { QueueView } from './queue.js';
import { JobView } from './job.js';

const POLL_MS = 2000;
const WINDOW_MS = 5 * 60 * 1000; // the chart's five minutes
const TICKET = /^[1-9][0-9]{0,19}$/;
const QUEUE = /^[A-Za-z0-9._-]{1,128}$/;

const throughput = new Throughput(WINDOW_MS);
const overview = new Overview(throughput, WINDOW_MS, toggleQueue);
const queueView = new QueueView(toggleQueue);
const jobView = new JobView(jobAction);

let route = { view: 'overview' };
let generation = 0; // bumped at each navigation: older answers are dropped
let lastQueues = null; // the last answer of GET /v1/queues
let timer = 0;
let polling = false;

// ---- routing

function parseRoute() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return '\u0000'; // matches no name or ticket: reported as not found
    }
  });
  const params = new URLSearchParams(query);
  if (parts[0] === 'queues' && parts.length === 2) {
    return { view: 'queue', name: parts[1], state: params.get('state') || '', after: params.get('after') || '' };
  }
  if (parts[0] === 'jobs' && parts.length === 2) return { view: 'job', ticket: parts[1] };
  if (parts.length === 0) return { view: 'overview' };
  return { view: 'missing', path: raw };
}

// navigate shows the view of the location's hash; load fetches its data at
// once (the first call leaves that to the first poll).
function navigate(load = true) {
  route = parseRoute();
  generation++;
  for (const v of ['overview', 'queue', 'job']) $(`view-${v}`).hidden = route.view !== v;
  $('nav-queues').classList.toggle('active', route.view === 'overview');
  switch (route.view) {
    case 'overview':
      document.title = 'Queues · ticketq';
      if (lastQueues) overview.update(lastQueues, Date.now());
      break;
    case 'queue':
      if (!QUEUE.test(route.name) || (route.state && !['queued', 'running', 'succeeded', 'dead', 'canceled'].includes(route.state))) {
        showBanner('page', `There is no page ${location.hash}: a queue name has 1–128 characters of A–Z a–z 0–9 . _ - and a state is queued, running, succeeded, dead or canceled.`);
        $('view-queue').hidden = true;
        return;
      }
      queueView.open(route);
      queueView.stats(lastQueues && lastQueues.find((q) => q.queue === route.name));
      break;
    case 'job':
      if (!TICKET.test(route.ticket)) {
        showBanner('page', `There is no page ${location.hash}: a ticket is a positive whole number.`);
        $('view-job').hidden = true;
        return;
      }
      jobView.open(route.ticket);
      break;
    default:
      showBanner('page', `There is no page ${location.hash}.`);
      return;
  }
  clearBanner('page');
  if (load) refreshView();
}

// refreshView loads what the view shows beyond GET /v1/queues.
async function refreshView() {
  const gen = generation;
  const isCurrent = () => gen === generation;
  try {
    if (route.view === 'queue') await queueView.load(isCurrent);
    else if (route.view === 'job') await jobView.load(isCurrent);
    else return;
    if (isCurrent()) clearBanner('view');
  } catch (e) {
    if (isCurrent()) showError('view', e);
  }
}

// ---- polling

async function poll() {
  clearTimeout(timer);
  if (polling) return;
  polling = true;
  const started = Date.now();
  try {
    if (!document.hidden) {
      await Promise.all([pollQueues(), refreshView()]);
    }
  } finally {
    polling = false;
    timer = setTimeout(poll, Math.max(0, POLL_MS - (Date.now() - started)));
  }
}

async function pollQueues() {
  try {
    const data = await api('GET', 'queues');
    const now = Date.now();
    lastQueues = data.queues;
    throughput.add(now, data.queues);
    if (route.view === 'overview') overview.update(data.queues, now);
    if (route.view === 'queue') queueView.stats(data.queues.find((q) => q.queue === route.name));
    clearBanner('poll');
    live('ok', `live · ${new Date(now).toLocaleTimeString('en-GB')}`);
  } catch (e) {
    showError('poll', e);
    live('error', e.status ? `${e.status} ${e.code}` : 'offline');
  }
}

function live(state, text) {
  $('live').dataset.state = state;
  setText($('live-text'), text);
}

// ---- messages: the banner holds the latest failure of a read, by source,
// until that source succeeds again; the flash holds the outcome of the last
// action.

const failures = new Map();

function showBanner(source, text) {
  failures.set(source, text);
  drawBanner();
}

function clearBanner(source) {
  if (failures.delete(source)) drawBanner();
}

function drawBanner() {
  const texts = [...new Set(failures.values())];
  $('banner').hidden = texts.length === 0;
  setText($('banner'), texts.join('\n'));
}

function showError(source, e) {
  const err = e instanceof ApiError ? e : new ApiError(0, 'error', String(e && e.message || e));
  let text = err.describe();
  if (err.status === 401) text += ' — enter a token (Token, top right).';
  if (err.status === 403) text += ' — this needs a token with the admin role.';
  const repeated = failures.get(source) === text;
  showBanner(source, text);
  // Only a new failure opens the token form, not each poll that repeats it.
  if (err.status === 401 && !repeated) openToken(`The server answered ${err.status} ${err.code}`);
}

function flash(kind, text) {
  const f = $('flash');
  f.dataset.kind = kind;
  setText(f, text);
  f.hidden = false;
}

// ---- actions

async function act(what, button, call) {
  button.disabled = true;
  try {
    const answer = await call();
    flash('ok', what);
    return answer;
  } catch (e) {
    const err = e instanceof ApiError ? e : new ApiError(0, 'error', String(e));
    flash('error', `${what} failed: ${err.describe()}`);
    if (err.status === 401) openToken(`The server answered ${err.status} ${err.code}`);
    return null;
  } finally {
    button.disabled = false;
  }
}

async function toggleQueue(name, paused, button) {
  const verb = paused ? 'resume' : 'pause';
  const q = await act(`${paused ? 'Resumed' : 'Paused'} queue ${name}`, button,
    () => api('POST', `queues/${encodeURIComponent(name)}/${verb}`));
  if (!q) return;
  if (lastQueues) lastQueues = lastQueues.map((x) => (x.queue === q.queue ? q : x));
  overview.updateOne(q);
  if (route.view === 'queue' && route.name === q.queue) queueView.stats(q);
}

async function jobAction(ticket, verb, button) {
  const what = verb === 'cancel' ? `Canceled ticket ${ticket}` : `Ticket ${ticket} is queued again`;
  const j = await act(what, button, () => (verb === 'cancel'
    ? api('DELETE', `jobs/${encodeURIComponent(ticket)}`)
    : api('POST', `jobs/${encodeURIComponent(ticket)}/retry`)));
  if (j && route.view === 'job' && route.ticket === j.ticket) jobView.show(j);
}

// ---- token

function openToken(why) {
  if (why) setText($('token-why'), `${why}. Give a bearer token; lists, pause and resume, cancel and retry need the admin role.`);
  $('token-panel').hidden = false;
  $('token-toggle').setAttribute('aria-expanded', 'true');
}

function tokenLabel() {
  setText($('token-toggle'), getToken() ? 'Token ✓' : 'Token');
}

$('token-toggle').addEventListener('click', () => {
  const panel = $('token-panel');
  panel.hidden = !panel.hidden;
  $('token-toggle').setAttribute('aria-expanded', String(!panel.hidden));
  if (!panel.hidden) $('token-input').focus();
});

$('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const value = $('token-input').value.trim();
  if (value === '') {
    flash('error', 'Enter a token, or use "Forget token" to go on without one.');
    return;
  }
  const problem = setToken(value);
  if (problem) {
    flash('error', problem);
    return;
  }
  $('token-input').value = '';
  $('token-panel').hidden = true;
  $('token-toggle').setAttribute('aria-expanded', 'false');
  tokenLabel();
  flash('ok', 'Token saved for this tab.');
  poll();
});

$('token-forget').addEventListener('click', () => {
  setToken('');
  $('token-input').value = '';
  tokenLabel();
  flash('ok', 'Token forgotten: requests go without one.');
});

// ---- find a ticket

$('find-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = $('find-ticket');
  const value = input.value.trim().replace(/^#/, '');
  if (!TICKET.test(value)) {
    flash('error', `"${value.slice(0, 40)}" is not a ticket number: a ticket is a positive whole number, like 42.`);
    return;
  }
  input.value = '';
  location.hash = `#/jobs/${value}`;
});

// ---- start

setText($('api-base'), apiBase.pathname);
tokenLabel();
window.addEventListener('hashchange', () => {
  // The outcome of an action belongs to the view it was taken on.
  $('flash').hidden = true;
  navigate();
});
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) poll();
});
navigate(false);
poll();
