// A scatter plot of the training set on two axes, drawn as SVG: points
// coloured by class, the query point, and lines to its k neighbours.

const NS = 'http://www.w3.org/2000/svg';

// Okabe-Ito colours: distinguishable with the common colour-vision
// deficiencies, and dark enough on white.
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#8C6D1F', '#000000'];

/** colour returns the colour of class index i. */
export function colour(i) { return PALETTE[i % PALETTE.length]; }

function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const c of children) e.append(c);
  return e;
}

/** niceStep returns a round tick step that gives about n ticks over span. */
function niceStep(span, n) {
  const raw = span / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

function extent(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo)) return [0, 1];
  if (lo === hi) return [lo - 0.5, hi + 0.5];
  return [lo, hi];
}

const W = 600;
const H = 440;
const M = { left: 60, right: 18, top: 18, bottom: 54 };

/**
 * draw renders the plot into box.
 * @param {HTMLElement} box
 * @param {{samples: {id:number, features:number[]}[], classes: string[],
 *   featureLabels: string[], units: string[], label: string, x: number, y: number, query: number[]|null,
 *   neighbours: {id:number}[]}} p
 */
export function draw(box, p) {
  const { samples, classes, featureLabels, units, label, x, y, query, neighbours } = p;
  const cls = (s) => s[label];
  const withUnit = (i) => (units[i] ? `${featureLabels[i]} (${units[i]})` : featureLabels[i]);
  const classIndex = new Map(classes.map((c, i) => [c, i]));
  const xs = samples.map((s) => s.features[x]);
  const ys = samples.map((s) => s.features[y]);
  if (query) {
    xs.push(query[x]);
    ys.push(query[y]);
  }
  let [x0, x1] = extent(xs);
  let [y0, y1] = extent(ys);
  const xStep = niceStep(x1 - x0, 8);
  const yStep = niceStep(y1 - y0, 6);
  x0 = Math.floor(x0 / xStep) * xStep;
  x1 = Math.ceil(x1 / xStep) * xStep;
  y0 = Math.floor(y0 / yStep) * yStep;
  y1 = Math.ceil(y1 / yStep) * yStep;
  const px = (v) => M.left + ((v - x0) / (x1 - x0)) * (W - M.left - M.right);
  const py = (v) => H - M.bottom - ((v - y0) / (y1 - y0)) * (H - M.top - M.bottom);

  const root = svg('svg', {
    viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'plot-title plot-desc', id: 'plot',
    preserveAspectRatio: 'xMidYMid meet',
  });
  const counts = classes.map((c) => samples.filter((s) => cls(s) === c).length);
  root.append(
    svg('title', { id: 'plot-title' }, `${featureLabels[y]} against ${featureLabels[x]}`),
    svg('desc', { id: 'plot-desc' },
      `${samples.length} training samples (${classes.map((c, i) => `${counts[i]} ${c}`).join(', ')})` +
      (query ? `; the query point at ${query[x]} by ${query[y]}${units[x] && units[x] === units[y] ? ` ${units[x]}` : ''} and lines to its ${neighbours.length} nearest neighbours.` : '.')),
  );

  // Grid and ticks.
  const grid = svg('g', { class: 'grid' });
  const fmt = (v, step) => (step < 1 ? v.toFixed(step < 0.1 ? 2 : 1) : String(Math.round(v)));
  for (let v = x0; v <= x1 + xStep / 2; v += xStep) {
    const X = px(v);
    grid.append(svg('line', { x1: X, x2: X, y1: M.top, y2: H - M.bottom }));
    grid.append(svg('text', { x: X, y: H - M.bottom + 20, 'text-anchor': 'middle', class: 'tick' }, fmt(v, xStep)));
  }
  for (let v = y0; v <= y1 + yStep / 2; v += yStep) {
    const Y = py(v);
    grid.append(svg('line', { x1: M.left, x2: W - M.right, y1: Y, y2: Y }));
    grid.append(svg('text', { x: M.left - 8, y: Y + 5, 'text-anchor': 'end', class: 'tick' }, fmt(v, yStep)));
  }
  grid.append(svg('rect', { x: M.left, y: M.top, width: W - M.left - M.right, height: H - M.top - M.bottom, class: 'frame' }));
  root.append(grid);
  root.append(svg('text', { x: (M.left + W - M.right) / 2, y: H - 12, 'text-anchor': 'middle', class: 'axis-label' }, withUnit(x)));
  root.append(svg('text', {
    x: -(M.top + H - M.bottom) / 2, y: 18, transform: 'rotate(-90)', 'text-anchor': 'middle', class: 'axis-label',
  }, withUnit(y)));

  // Points, in id order so that the drawing is the same every time.
  const points = svg('g', { class: 'points' });
  for (const s of samples) {
    const ci = classIndex.get(cls(s)) ?? 0;
    const c = svg('circle', {
      cx: px(s.features[x]).toFixed(1), cy: py(s.features[y]).toFixed(1), r: 4.5,
      fill: colour(ci), 'data-id': s.id, class: 'pt',
    });
    c.append(svg('title', {}, `#${s.id} ${cls(s)}: ${s.features.join(', ')}`));
    points.append(c);
  }
  root.append(points);

  if (query) {
    const byId = new Map(samples.map((s) => [s.id, s]));
    const links = svg('g', { class: 'links' });
    const rings = svg('g', { class: 'rings' });
    const qx = px(query[x]);
    const qy = py(query[y]);
    for (const n of neighbours) {
      const s = byId.get(n.id);
      if (!s) continue; // the plot's copy is older than the prediction; it reloads soon
      const sx = px(s.features[x]);
      const sy = py(s.features[y]);
      links.append(svg('line', { x1: qx, y1: qy, x2: sx, y2: sy }));
      rings.append(svg('circle', { cx: sx, cy: sy, r: 7.5, 'data-id': s.id }));
    }
    root.append(links, rings);
    const q = svg('g', { class: 'query', transform: `translate(${qx.toFixed(1)} ${qy.toFixed(1)})` });
    q.append(svg('path', { d: 'M0,-10 L2.9,-3.1 10,0 2.9,3.1 0,10 -2.9,3.1 -10,0 -2.9,-3.1Z' }));
    q.append(svg('title', {}, `query: ${query.join(', ')}`));
    root.append(q);
  }
  box.replaceChildren(root);
}

/** legend fills the list with one item per class, the query and the neighbours. */
export function legend(list, classes, queryText = 'your measurements') {
  list.replaceChildren();
  classes.forEach((c, i) => {
    const li = document.createElement('li');
    const sw = svg('svg', { width: 14, height: 14, 'aria-hidden': 'true' }, svg('circle', { cx: 7, cy: 7, r: 6, fill: colour(i) }));
    li.append(sw, ` ${c}`);
    list.append(li);
  });
  const q = document.createElement('li');
  q.append(svg('svg', { width: 16, height: 16, viewBox: '-11 -11 22 22', 'aria-hidden': 'true', class: 'query' },
    svg('path', { d: 'M0,-10 L2.9,-3.1 10,0 2.9,3.1 0,10 -2.9,3.1 -10,0 -2.9,-3.1Z' })), ` ${queryText}`);
  const n = document.createElement('li');
  n.append(svg('svg', { width: 16, height: 16, 'aria-hidden': 'true', class: 'rings' },
    svg('circle', { cx: 8, cy: 8, r: 6 })), ' nearest neighbours');
  list.append(q, n);
}
