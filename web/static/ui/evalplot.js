// The evaluation's pictures: accuracy against k as an SVG line plot (a line
// per distance and voting), and a confusion matrix as a heat map table.

const NS = 'http://www.w3.org/2000/svg';

// A colour per distance (Okabe-Ito, as the scatter plot) and a dash per
// voting, so that the lines differ by more than colour.
const METRIC_COLOURS = { euclidean: '#0072B2', manhattan: '#D55E00', chebyshev: '#009E73' };
const WEIGHT_DASH = { uniform: '', distance: '6 4' };

function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== '') e.setAttribute(k, String(v));
  }
  for (const c of children) e.append(c);
  return e;
}

/** seriesColour is the line colour of a distance metric. */
export const seriesColour = (metric) => METRIC_COLOURS[metric] ?? '#4b5563';

/** seriesName names a line: "Euclidean, uniform votes". */
export function seriesName(metric, weights) {
  return `${metric.charAt(0).toUpperCase()}${metric.slice(1)}, ${weights === 'distance' ? '1/distance' : 'uniform'} votes`;
}

/** pct formats an accuracy as a percentage with one decimal. */
export const pct = (v) => `${(v * 100).toFixed(1)}%`;

/**
 * series groups the results by (metric, weights), in the order they first
 * appear, each with its points in k order.
 * @param {{k:number, metric:string, weights:string, accuracy:number}[]} results
 */
export function series(results) {
  const out = new Map();
  for (const r of results) {
    const key = `${r.metric}/${r.weights}`;
    if (!out.has(key)) out.set(key, { key, metric: r.metric, weights: r.weights, points: [] });
    out.get(key).points.push(r);
  }
  for (const s of out.values()) s.points.sort((a, b) => a.k - b.k);
  return [...out.values()];
}

const W = 640;
const H = 360;
const M = { left: 62, right: 18, top: 16, bottom: 50 };

/**
 * drawAccuracy renders accuracy against k into box. selected is the result
 * shown in detail (ringed); onSelect(result) is called when a point is
 * clicked, or chosen with the arrow keys on the focused plot (left/right: k,
 * up/down: the line).
 */
export function drawAccuracy(box, { results, selected, best, onSelect }) {
  const lines = series(results);
  const ks = results.map((r) => r.k);
  const k0 = Math.min(...ks);
  const k1 = Math.max(k0 + 1, Math.max(...ks));
  const lowest = Math.min(...results.map((r) => r.accuracy));
  const a0 = Math.max(0, Math.floor(lowest * 20 - 0.5) / 20); // a 5% step below the lowest
  const a1 = 1;
  const px = (k) => M.left + ((k - k0) / (k1 - k0)) * (W - M.left - M.right);
  const py = (a) => H - M.bottom - ((a - a0) / (a1 - a0)) * (H - M.top - M.bottom);

  const root = svg('svg', {
    viewBox: `0 0 ${W} ${H}`, id: 'eval-svg', role: 'img', tabindex: 0,
    'aria-labelledby': 'eval-plot-title eval-plot-desc', preserveAspectRatio: 'xMidYMid meet',
  });
  const bestText = best ? ` The best is k = ${best.k}, ${seriesName(best.metric, best.weights)}, at ${pct(best.accuracy)}.` : '';
  root.append(
    svg('title', { id: 'eval-plot-title' }, 'Accuracy against k'),
    svg('desc', { id: 'eval-plot-desc' },
      `${lines.length} lines, one per distance and voting, over k = ${k0} to ${Math.max(...ks)}; accuracy from ${pct(a0)} to 100%.${bestText} ` +
      'Arrow keys move the selection: left and right change k, up and down the line. The table below gives every value.'),
  );

  const grid = svg('g', { class: 'grid' });
  const kStep = Math.max(1, Math.ceil((k1 - k0) / 10));
  for (let k = k0; k <= k1; k += kStep) {
    const X = px(k);
    grid.append(svg('line', { x1: X, x2: X, y1: M.top, y2: H - M.bottom }));
    grid.append(svg('text', { x: X, y: H - M.bottom + 20, 'text-anchor': 'middle', class: 'tick' }, String(k)));
  }
  const aStep = a1 - a0 > 0.3 ? 0.1 : 0.05;
  for (let a = a0; a <= a1 + 1e-9; a += aStep) {
    const Y = py(a);
    grid.append(svg('line', { x1: M.left, x2: W - M.right, y1: Y, y2: Y }));
    grid.append(svg('text', { x: M.left - 8, y: Y + 5, 'text-anchor': 'end', class: 'tick' }, `${Math.round(a * 100)}%`));
  }
  grid.append(svg('rect', { x: M.left, y: M.top, width: W - M.left - M.right, height: H - M.top - M.bottom, class: 'frame' }));
  root.append(grid,
    svg('text', { x: (M.left + W - M.right) / 2, y: H - 10, 'text-anchor': 'middle', class: 'axis-label' }, 'k (neighbours)'),
    svg('text', { x: -(M.top + H - M.bottom) / 2, y: 16, transform: 'rotate(-90)', 'text-anchor': 'middle', class: 'axis-label' }, 'Accuracy'));

  for (const s of lines) {
    const g = svg('g', { class: 'series', 'data-series': s.key });
    const d = s.points.map((r, i) => `${i ? 'L' : 'M'}${px(r.k).toFixed(1)},${py(r.accuracy).toFixed(1)}`).join(' ');
    g.append(svg('path', { d, class: 'line', stroke: seriesColour(s.metric), 'stroke-dasharray': WEIGHT_DASH[s.weights] }));
    for (const r of s.points) {
      const c = svg('circle', {
        cx: px(r.k).toFixed(1), cy: py(r.accuracy).toFixed(1), r: 3.2, class: 'eval-pt',
        fill: s.weights === 'distance' ? '#fff' : seriesColour(s.metric), stroke: seriesColour(s.metric),
        'data-k': r.k,
      });
      c.append(svg('title', {}, `k = ${r.k}, ${seriesName(r.metric, r.weights)}: ${pct(r.accuracy)} (${r.correct} of ${r.total})`));
      c.addEventListener('click', () => onSelect(r));
      g.append(c);
    }
    root.append(g);
  }
  if (selected) {
    root.append(svg('circle', {
      cx: px(selected.k).toFixed(1), cy: py(selected.accuracy).toFixed(1), r: 8, class: 'eval-selected',
    }));
  }
  root.addEventListener('keydown', (ev) => {
    if (!selected) return;
    const li = lines.findIndex((s) => s.metric === selected.metric && s.weights === selected.weights);
    const pts = lines[li].points;
    const pi = pts.findIndex((r) => r.k === selected.k);
    let next = null;
    if (ev.key === 'ArrowRight') next = pts[Math.min(pts.length - 1, pi + 1)];
    else if (ev.key === 'ArrowLeft') next = pts[Math.max(0, pi - 1)];
    else if (ev.key === 'ArrowUp' || ev.key === 'ArrowDown') {
      const other = lines[(li + (ev.key === 'ArrowDown' ? 1 : lines.length - 1)) % lines.length];
      next = other.points.find((r) => r.k === selected.k) ?? other.points[0];
    } else return;
    ev.preventDefault();
    onSelect(next, { keepFocus: true });
  });
  box.replaceChildren(root);
}

/** evalLegend lists the lines of the plot. */
export function evalLegend(list, results) {
  list.replaceChildren(...series(results).map((s) => {
    const li = document.createElement('li');
    li.append(svg('svg', { width: 30, height: 12, 'aria-hidden': 'true' },
      svg('line', { x1: 1, y1: 6, x2: 29, y2: 6, class: 'line', stroke: seriesColour(s.metric), 'stroke-dasharray': WEIGHT_DASH[s.weights] })),
    ` ${seriesName(s.metric, s.weights)}`);
    return li;
  }));
}

/**
 * confusion fills table with the confusion matrix (rows: actual class,
 * columns: predicted), each cell shaded by its share of its row.
 */
export function confusion(table, classes, matrix) {
  const head = document.createElement('thead');
  const hr = head.insertRow();
  const corner = document.createElement('th');
  corner.scope = 'col';
  corner.textContent = 'actual \\ predicted';
  hr.append(corner);
  for (const c of classes) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = c;
    hr.append(th);
  }
  const body = document.createElement('tbody');
  matrix.forEach((row, a) => {
    const tr = body.insertRow();
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = classes[a];
    tr.append(th);
    const total = row.reduce((x, y) => x + y, 0) || 1;
    row.forEach((n, p) => {
      const td = tr.insertCell();
      td.textContent = String(n);
      td.className = `num cell${a === p ? ' diag' : ''}`;
      const share = n / total;
      // White to the accent blue by the share of the row; text turns white on dark cells.
      td.style.backgroundColor = `rgba(29, 78, 216, ${(share * 0.9).toFixed(3)})`;
      if (share > 0.5) td.style.color = '#fff';
      td.title = `${n} ${classes[a]} predicted as ${classes[p]} (${pct(share)} of ${classes[a]})`;
    });
  });
  table.replaceChildren(head, body);
}
