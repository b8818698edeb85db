// The throughput chart and the sparklines, drawn as SVG.

import { svg, fmtRate } from './dom.js';

// niceStep rounds a step of the grid up to 1, 2 or 5 times a power of
// ten, so that the grid lines fall on round numbers.
function niceStep(v) {
  if (!(v > 0)) return 0.5;
  const exp = 10 ** Math.floor(Math.log10(v));
  const f = v / exp;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * exp;
}

// tick writes a value of the grid with as many decimals as its step needs.
function tick(v, step) {
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return `${v.toFixed(decimals)}/s`;
}

function spanLabel(ms) {
  const s = Math.round(ms / 1000);
  if (s === 0) return 'now';
  const m = Math.floor(s / 60);
  const rest = s % 60;
  return '−' + (m ? `${m}m` : '') + (rest ? `${rest}s` : '');
}

// area is the closed path under points, from the baseline y0.
function area(points, y0) {
  if (points.length === 0) return '';
  const line = points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' L');
  return `M${points[0][0].toFixed(1)},${y0} L${line} L${points[points.length - 1][0].toFixed(1)},${y0} Z`;
}

// band is the closed path between two lines over the same x values.
function band(lower, upper) {
  if (upper.length === 0) return '';
  const pts = upper.concat(lower.slice().reverse());
  return 'M' + pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' L') + ' Z';
}

function polyline(points) {
  return points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
}

// drawChart replaces the content of box with a chart of samples
// ({t, ok, dead} in jobs per second) over the last windowMs before now.
// The time axis covers at least a minute, and at most the window, so that
// the chart is not empty on the left while it fills.
export function drawChart(box, samples, now, windowMs) {
  const width = Math.max(320, Math.floor(box.clientWidth || 800));
  const height = 220;
  const pad = { l: 56, r: 14, t: 12, b: 26 };
  const iw = width - pad.l - pad.r;
  const ih = height - pad.t - pad.b;
  const first = samples.length ? samples[0].t : now;
  const span = Math.min(windowMs, Math.max(60000, now - first));
  const t0 = now - span;
  const shown = samples.filter((s) => s.t >= t0 - 2500);
  const step = niceStep(Math.max(0, ...shown.map((s) => s.ok + s.dead)) * 1.05 / 4);
  const top = step * 4;
  const x = (t) => pad.l + Math.max(0, t - t0) / span * iw;
  const y = (v) => pad.t + ih - v / top * ih;

  const last = shown[shown.length - 1];
  const label = last
    ? `Jobs finished per second over the last ${spanLabel(span).slice(1)}: now ${fmtRate(last.ok)} succeeded, ${fmtRate(last.dead)} dead`
    : 'Jobs finished per second: no samples yet';
  const root = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'chart-svg', role: 'img', 'aria-label': label });
  root.append(svg('title', {}, label));

  for (let i = 0; i <= 4; i++) {
    const v = step * i;
    const gy = y(v).toFixed(1);
    root.append(svg('line', { x1: pad.l, x2: width - pad.r, y1: gy, y2: gy, class: i ? 'grid' : 'axis' }));
    root.append(svg('text', { x: pad.l - 8, y: gy, class: 'tick', 'text-anchor': 'end', 'dominant-baseline': 'middle' }, tick(v, step)));
  }
  const every = span <= 120000 ? 15000 : span <= 180000 ? 30000 : 60000;
  for (let ago = 0; ago <= span; ago += every) {
    const gx = x(now - ago).toFixed(1);
    root.append(svg('text', { x: gx, y: height - 8, class: 'tick', 'text-anchor': ago === span ? 'start' : ago ? 'middle' : 'end' }, spanLabel(ago)));
  }

  if (shown.length === 0) {
    root.append(svg('text', { x: pad.l + iw / 2, y: pad.t + ih / 2, class: 'placeholder', 'text-anchor': 'middle' },
      'Collecting: the chart fills as the page polls, every 2 s'));
  } else {
    // Stacked: succeeded at the bottom, dead on top of it.
    const okPts = shown.map((s) => [x(s.t), y(s.ok)]);
    const allPts = shown.map((s) => [x(s.t), y(s.ok + s.dead)]);
    const y0 = y(0).toFixed(1);
    root.append(svg('path', { d: area(okPts, y0), class: 'area ok' }));
    root.append(svg('path', { d: band(okPts, allPts), class: 'area dead' }));
    root.append(svg('polyline', { points: polyline(allPts), class: 'line dead' }));
    root.append(svg('polyline', { points: polyline(okPts), class: 'line ok' }));
    const [lx, ly] = allPts[allPts.length - 1];
    root.append(svg('circle', { cx: lx.toFixed(1), cy: ly.toFixed(1), r: 3.5, class: 'dot-now' }));
  }
  box.replaceChildren(root);
}

// sparkline draws a queue's finished jobs per second in a small box.
export function sparkline(samples, now, windowMs, width = 120, height = 26) {
  const t0 = now - windowMs;
  const shown = samples.filter((s) => s.t >= t0);
  const top = niceStep(Math.max(0, ...shown.map((s) => s.ok + s.dead)));
  const x = (t) => 1 + (t - t0) / windowMs * (width - 2);
  const y = (v) => height - 2 - v / top * (height - 4);
  const root = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'spark', 'aria-hidden': 'true' });
  root.append(svg('line', { x1: 0, x2: width, y1: height - 1.5, y2: height - 1.5, class: 'axis' }));
  if (shown.length > 0) {
    const pts = shown.map((s) => [x(s.t), y(s.ok + s.dead)]);
    root.append(svg('path', { d: area(pts, (height - 1.5).toFixed(1)), class: 'area ok' }));
    root.append(svg('polyline', { points: polyline(pts), class: shown.some((s) => s.dead > 0) ? 'line mixed' : 'line ok' }));
  }
  return root;
}
