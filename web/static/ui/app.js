// The irisknn page: measurements in, a prediction, its neighbours and a plot
// out, and an editor for the training set. It talks to the API at ?api=
// (default: the page's own origin) through CORS.

import { ApiError, Client, apiBase } from './api.js';
import { initEvaluation } from './evaluate.js';
import { colour, draw, legend } from './plot.js';

const $ = (id) => document.getElementById(id);

/** el builds an element with attributes (on* as listeners) and children. */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  e.append(...children);
  return e;
}

/** label turns "petal_length" into "Petal length". */
const label = (name) => (name.charAt(0).toUpperCase() + name.slice(1)).replaceAll('_', ' ');

// Units of the features whose unit is known: the Iris measurements are in
// centimetres. Other datasets' features get no unit.
const UNITS = { sepal_length: 'cm', sepal_width: 'cm', petal_length: 'cm', petal_width: 'cm' };
const unit = (name) => UNITS[name] ?? '';

/** cls returns the class of a sample, prediction or neighbour: the value under the schema's label key. */
const cls = (x) => x[state.label];

const PAGE = 10; // rows per editor page
const DEBOUNCE_MS = 200;
// How long the page waits after a change in the feed before it reloads, so
// that a burst of changes (a script, several clients) costs one reload.
const LIVE_COALESCE_MS = 100;
// How long the page waits before it follows the feed again once the server
// has refused or ended it.
const WATCH_MS = 2000;

const state = {
  client: null,
  classes: [],
  features: [],
  label: 'species', // the label's name (GET /dataset's label; species for Iris)
  ranges: [], // per feature [lo, hi] for the sliders, from the data
  samples: [],
  version: 0,
  prediction: null,
  query: null,
  offset: 0,
  editing: null, // {id, etag} while a sample is being edited
  evaluation: null, // the evaluation view (evaluate.js)
};

// ---- status banner and field errors -------------------------------------

function showStatus(message, { retry = false } = {}) {
  const s = $('status');
  s.replaceChildren(el('p', { text: message }));
  if (retry) s.append(el('button', { type: 'button', id: 'retry', onclick: () => location.reload() }, 'Try again'));
  s.hidden = false;
}

function clearStatus() {
  $('status').hidden = true;
  $('status').replaceChildren();
}

function setApiState(text, ok) {
  const p = $('api-state');
  p.textContent = text;
  p.className = `pill ${ok ? 'ok' : 'bad'}`;
}

/** setFieldError shows msg under the input with the given id ("" clears). */
function setFieldError(id, msg) {
  const input = $(id);
  const err = $(`err-${id}`);
  if (err) err.textContent = msg;
  if (input && (input.tagName === 'INPUT' || input.tagName === 'SELECT')) {
    if (msg) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
}

function clearErrors(ids) { for (const id of ids) setFieldError(id, ''); }

/**
 * fieldFor maps a problem's field name to the id of the input that shows
 * it. prefix is "" for the query form and "f-" for the sample form.
 */
function fieldFor(field, prefix) {
  if (field === 'api-key') return 'api-key';
  const m = /^(?:features|instances\[\d+\])\[(\d+)\]$/.exec(field);
  if (m && state.features[+m[1]]) return prefix + state.features[+m[1]];
  if (state.features.includes(field)) return prefix + field;
  if (prefix === '' && ['k', 'metric', 'weights'].includes(field)) return field;
  if (prefix === 'f-' && field === state.label) return 'f-species';
  return null;
}

/**
 * showApiError puts each field error next to its input and returns the
 * text left for a general message (the detail, when no field took it).
 */
function showApiError(err, prefix) {
  if (!(err instanceof ApiError)) return String(err?.message ?? err);
  if (err.network) {
    setApiState('unreachable', false);
    showStatus(err.message, { retry: true });
    return err.message;
  }
  let placed = false;
  for (const f of err.fields) {
    const id = fieldFor(f.field, prefix);
    if (id) {
      setFieldError(id, f.message);
      placed = placed || id !== 'api-key';
    }
  }
  return placed ? '' : err.message;
}

// ---- the query form -------------------------------------------------------

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  return v.length ? v[Math.floor(v.length / 2)] : 0;
}

/** niceStep returns a power of ten near span / 50: a slider step. */
const sliderStep = (span) => 10 ** Math.floor(Math.log10(span > 0 ? span / 50 : 1));

/**
 * featureRanges returns [lo, hi] per feature for the sliders: GET /dataset's
 * feature_ranges when the server gives them ({min, max} per feature, as a
 * list in schema order or an object by name), else the samples' own, padded.
 */
function featureRanges(d) {
  return state.features.map((name, i) => {
    const given = Array.isArray(d.feature_ranges) ? d.feature_ranges[i] : d.feature_ranges?.[name];
    let lo;
    let hi;
    if (given && Number.isFinite(given.min) && Number.isFinite(given.max)) {
      [lo, hi] = [given.min, given.max];
    } else {
      const vals = state.samples.map((s) => s.features[i]);
      [lo, hi] = vals.length ? [Math.min(...vals), Math.max(...vals)] : [0, 10];
    }
    const step = sliderStep(hi - lo);
    const pad = Math.max(step * 5, 0);
    return [Math.floor((lo - pad) / step) * step, Math.ceil((hi + pad) / step) * step, step];
  });
}

/** fieldLabel is a feature's label with its unit, when known. */
function fieldLabel(name, forId, id) {
  const u = unit(name);
  return el('label', { for: forId, id }, `${label(name)} `, ...(u ? [el('span', { class: 'hint' }, `(${u})`)] : []));
}

/** notANumber is the error of a feature field that holds no number. */
const notANumber = (name) => (unit(name) === 'cm' ? 'Enter a number of centimetres.' : 'Enter a number.');

/** buildMeasurements makes a slider and a number field per feature. */
function buildMeasurements() {
  const box = $('measurements');
  box.replaceChildren();
  state.features.forEach((name, i) => {
    const vals = state.samples.map((s) => s.features[i]);
    const [lo, hi, step] = state.ranges[i];
    const start = vals.length ? median(vals) : (lo + hi) / 2;
    const labelId = `${name}-label`;
    const range = el('input', {
      id: `${name}-range`, type: 'range', min: lo, max: hi, step, value: start,
      'aria-labelledby': labelId,
    });
    const num = el('input', {
      id: name, type: 'number', step: 'any', value: start, inputmode: 'decimal',
      'aria-describedby': `err-${name}`, 'data-feature': i,
    });
    range.addEventListener('input', () => { num.value = range.value; setFieldError(name, ''); schedulePredict(); });
    num.addEventListener('input', () => {
      if (num.value !== '' && Number.isFinite(num.valueAsNumber)) range.value = String(num.valueAsNumber);
      schedulePredict();
    });
    box.append(el('div', { class: 'row' },
      fieldLabel(name, name, labelId),
      range, num,
      el('p', { class: 'field-error', id: `err-${name}`, 'aria-live': 'polite' })));
  });
}

/** readQuery validates the form; it returns the request body, or null after showing what is wrong. */
function readQuery() {
  let ok = true;
  const features = state.features.map((name) => {
    const v = $(name).valueAsNumber;
    if ($(name).value === '' || !Number.isFinite(v)) {
      setFieldError(name, notANumber(name));
      ok = false;
    }
    return v;
  });
  const k = $('k').valueAsNumber;
  if (!Number.isInteger(k) || k < 1) {
    setFieldError('k', 'k must be a whole number, 1 or more.');
    ok = false;
  }
  if (!ok) return null;
  return { features, k, metric: $('metric').value, weights: $('weights').value };
}

let timer = 0;
let inflight = null;
let seq = 0;

function schedulePredict() {
  clearTimeout(timer);
  timer = setTimeout(predict, DEBOUNCE_MS);
}

/** predict asks the API for the current form; only the newest answer is shown. */
async function predict() {
  clearTimeout(timer);
  clearErrors([...state.features, 'k', 'metric', 'weights']);
  const body = readQuery();
  if (inflight) inflight.abort();
  const mine = ++seq; // an answer still on its way is for an older form: it is dropped
  if (!body) {
    state.prediction = null;
    renderNoPrediction('Fix the highlighted field to get a prediction.');
    drawPlot();
    return;
  }
  const ctl = new AbortController();
  inflight = ctl;
  $('result').setAttribute('aria-busy', 'true');
  try {
    const p = await state.client.predict(body, { signal: ctl.signal });
    if (mine !== seq) return;
    clearStatus();
    setApiState('connected', true);
    state.prediction = p;
    state.query = body.features;
    renderPrediction(p);
    if (p.dataset_version !== state.version) {
      // The training set changed (here or elsewhere): follow it.
      await loadSamples();
      loadPage();
    }
    drawPlot();
  } catch (err) {
    if (err?.name === 'AbortError' || mine !== seq) return;
    const rest = showApiError(err, '');
    state.prediction = null;
    renderNoPrediction(rest || 'Fix the highlighted field to get a prediction.');
    drawPlot();
  } finally {
    if (mine === seq) $('result').removeAttribute('aria-busy');
  }
}

function renderNoPrediction(why) {
  $('species').textContent = '—';
  $('species').removeAttribute('data-class');
  $('tie').hidden = true;
  $('exact').hidden = true;
  $('unusual').hidden = true;
  $('novelty').textContent = '';
  $('probs').replaceChildren();
  $('result-meta').textContent = why;
  $('k-caption').textContent = 'k';
  $('neighbours').tBodies[0].replaceChildren();
}

/** share formats a vote share as a percentage. */
const share = (v) => `${(v * 100).toFixed(v > 0 && v < 0.1 ? 1 : 0)}%`;

/** listing joins names as "a", "a and b", "a, b and c". */
const listing = (xs) => (xs.length < 2 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`);

/**
 * tieNotice says what tied, what decided it and what would break the tie:
 * another k, or votes by distance (unless only exact matches voted, where
 * only uniform votes let the other neighbours count).
 */
function tieNotice(p) {
  const top = Math.max(...Object.values(p.probabilities));
  const classes = state.classes.length ? state.classes : Object.keys(p.probabilities);
  const tied = classes.filter((c) => p.probabilities[c] === top);
  const what = `Tie: ${listing(tied)} had equal shares of the vote (${share(top)} each), so the tie rule picked ${cls(p)}, the first of them in the data's class order.`;
  const other = [p.k - 1, p.k + 1].filter((k) => k >= 1 && k <= Math.max(1, state.samples.length));
  const otherK = other.length ? `a different k (such as ${other.join(' or ')})` : 'a different k';
  if (p.exact_match) {
    return `${what} The samples at exactly these measurements disagree, and with 1/distance votes only they count: ` +
      'uniform votes would let all the neighbours vote.';
  }
  if (p.weights === 'uniform') {
    return `${what} To break it, try ${otherK}, or 1/distance votes so that nearer neighbours count for more.`;
  }
  return `${what} The neighbours' 1/distance weights summed to the same total: ${otherK} changes who votes.`;
}

/** exactNotice explains an answer in which only the neighbours at distance 0 voted (the server's exact_match). */
function exactNotice(p) {
  return 'Only exact matches voted: with 1/distance votes a neighbour at distance 0 from these measurements ' +
    'outweighs every other, so the neighbours at distance 0 decided alone and the others in the table had no say. ' +
    `The shares are theirs alone; uniform votes would count all ${p.neighbors.length}.`;
}

function renderPrediction(p) {
  const sp = $('species');
  sp.textContent = cls(p);
  sp.dataset.class = cls(p);
  sp.style.setProperty('--c', colour(state.classes.indexOf(cls(p))));
  const tie = $('tie');
  tie.hidden = !p.tie;
  tie.textContent = p.tie ? tieNotice(p) : '';
  const exact = $('exact');
  exact.hidden = !p.exact_match;
  exact.textContent = p.exact_match ? exactNotice(p) : '';
  const nov = p.novelty;
  const near = p.neighbors.length ? p.neighbors[0].distance : 0;
  const unusual = $('unusual');
  unusual.hidden = !nov?.unusual;
  unusual.textContent = nov?.unusual
    ? `Unlike any sample in the training set: the answer is a guess. The nearest training sample is ${near.toFixed(2)} away, ` +
      `farther than ${Math.round(nov.percentile)}% of training samples are from their own nearest neighbour.`
    : '';
  $('novelty').textContent = nov
    ? `How usual: the nearest training sample is ${near.toFixed(3)} away, farther than ${nov.percentile.toFixed(0)}% of training samples are from theirs` +
      `${nov.unusual ? ' (unusual)' : ''}.`
    : '';
  const probs = $('probs');
  probs.replaceChildren();
  const classes = state.classes.length ? state.classes : Object.keys(p.probabilities);
  classes.forEach((c, i) => {
    const v = p.probabilities[c] ?? 0;
    const pct = share(v);
    const bar = el('span', { class: 'bar', 'aria-hidden': 'true' }, el('span', { class: 'fill' }));
    bar.firstChild.style.width = `${(v * 100).toFixed(2)}%`;
    bar.firstChild.style.background = colour(i);
    probs.append(el('div', { class: 'prob', role: 'listitem', id: `prob-${c}`, 'data-value': v },
      el('span', { class: 'name' }, c), bar, el('span', { class: 'pct' }, pct)));
  });
  $('result-meta').textContent = `k = ${p.k} · ${p.metric} distance · ${p.weights} votes · training set version ${p.dataset_version}`;
  $('k-caption').textContent = String(p.neighbors.length);
  const rows = p.neighbors.map((n, i) => el('tr', {},
    el('td', {}, String(i + 1)),
    el('td', {}, `#${n.id}`),
    el('td', {}, dot(cls(n)), cls(n)),
    el('td', { class: 'num' }, n.distance.toFixed(3))));
  $('neighbours').tBodies[0].replaceChildren(...rows);
}

function dot(c) {
  const d = el('span', { class: 'dot', 'aria-hidden': 'true' });
  d.style.background = colour(state.classes.indexOf(c));
  return d;
}

// ---- the plot -------------------------------------------------------------

function drawPlot() {
  const x = +$('x-axis').value;
  const y = +$('y-axis').value;
  draw($('plot-box'), {
    samples: state.samples,
    classes: state.classes,
    featureLabels: state.features.map(label),
    units: state.features.map(unit),
    label: state.label,
    x, y,
    query: state.prediction ? state.query : null,
    neighbours: state.prediction ? state.prediction.neighbors : [],
  });
}

let samplesSeq = 0;

/** loadSamples refreshes the plot's copy of the training set; of loads that overlap, the last one started wins. */
async function loadSamples() {
  const mine = ++samplesSeq;
  const { samples, version } = await state.client.allSamples();
  if (mine !== samplesSeq) return;
  if (state.version && version !== state.version) {
    $('live').textContent = `The training set changed (now version ${version}, ${samples.length} samples): the plot, the list and the prediction follow every change, made here or by another client.`;
  }
  state.samples = samples;
  state.version = version;
  state.evaluation?.datasetChanged(version);
}

// ---- the training-set editor ---------------------------------------------

function buildEditor() {
  const filter = $('filter');
  filter.replaceChildren(el('option', { value: '' }, `any ${state.label}`), ...state.classes.map((c) => el('option', { value: c }, c)));
  $('f-species').replaceChildren(...state.classes.map((c) => el('option', { value: c }, c)));
  const grid = $('sample-fields');
  grid.replaceChildren();
  state.features.forEach((name, i) => {
    const id = `f-${name}`;
    grid.append(el('div', { class: 'field' },
      fieldLabel(name, id),
      el('input', { id, type: 'number', step: 'any', inputmode: 'decimal', required: true, 'aria-describedby': `err-${id}` }),
      el('p', { class: 'field-error', id: `err-${id}`, 'aria-live': 'polite' })));
  });
  $('samples').tHead.rows[0].replaceChildren(
    el('th', { scope: 'col' }, 'Id'),
    ...state.features.map((name) => el('th', { scope: 'col' }, label(name))),
    el('th', { scope: 'col' }, label(state.label)),
    el('th', { scope: 'col' }, el('span', { class: 'sr-only' }, 'Actions')));
  for (const id of ['class-word', 'f-species-label', 'nb-class']) $(id).textContent = label(state.label);
  $('dims').textContent = state.features.length === 4 ? 'four' : String(state.features.length);
  if (state.label !== 'species') {
    $('tagline').textContent = `Which ${state.label} is it? Move the features and see the k nearest neighbours decide.`;
    $('h-query').textContent = 'Features';
  }
  $('probs').setAttribute('aria-label', `Vote share per ${state.label}`);
}

let pageSeq = 0;

async function loadPage() {
  const species = $('filter').value;
  const mine = ++pageSeq;
  let page;
  try {
    page = await state.client.listSamples({ cls: species, limit: PAGE, offset: state.offset });
    if (page.samples.length === 0 && page.total > 0 && state.offset > 0) {
      state.offset = Math.max(0, Math.floor((page.total - 1) / PAGE) * PAGE);
      page = await state.client.listSamples({ cls: species, limit: PAGE, offset: state.offset });
    }
  } catch (err) {
    if (mine === pageSeq) $('editor-msg').textContent = showApiError(err, 'f-') || err.message;
    return;
  }
  if (mine !== pageSeq) return; // a newer page was asked for meanwhile
  const rows = page.samples.map((s) => el('tr', { 'data-id': s.id },
    el('td', {}, String(s.id)),
    ...s.features.map((v) => el('td', { class: 'num' }, String(v))),
    el('td', {}, dot(cls(s)), cls(s)),
    el('td', { class: 'actions' },
      el('button', { type: 'button', class: 'edit', 'aria-label': `Edit sample ${s.id}`, onclick: () => startEdit(s.id) }, 'Edit'),
      el('button', { type: 'button', class: 'delete', 'aria-label': `Delete sample ${s.id}`, onclick: () => removeSample(s) }, 'Delete'))));
  $('samples').tBodies[0].replaceChildren(...rows);
  markEditedRow();
  const first = page.total ? state.offset + 1 : 0;
  const last = state.offset + page.samples.length;
  $('page-info').textContent = page.total
    ? `Samples ${first}–${last} of ${page.total}${species ? ` ${species}` : ''}`
    : `No ${species || ''} samples`.replace('  ', ' ');
  $('prev').disabled = state.offset === 0;
  $('next').disabled = last >= page.total;
}

/** markEditedRow highlights the row of the sample in the form. */
function markEditedRow() {
  for (const tr of $('samples').tBodies[0].rows) {
    tr.classList.toggle('editing', state.editing !== null && Number(tr.dataset.id) === state.editing.id);
  }
}

const formIds = () => [...state.features.map((n) => `f-${n}`), 'f-species', 'api-key', 'sample-form'];

function editMode(editing) {
  state.editing = editing;
  markEditedRow();
  $('form-title').textContent = editing ? `Edit sample #${editing.id}` : 'Add a sample';
  $('save').textContent = editing ? 'Save changes' : 'Add sample';
  $('cancel-edit').hidden = !editing;
}

async function startEdit(id) {
  clearErrors(formIds());
  try {
    const { sample, etag } = await state.client.getSample(id);
    state.features.forEach((n, i) => { $(`f-${n}`).value = String(sample.features[i]); });
    $('f-species').value = cls(sample);
    editMode({ id, etag });
    $(`f-${state.features[0]}`).focus();
  } catch (err) {
    $('editor-msg').textContent = showApiError(err, 'f-') || err.message;
  }
}

/** clearSampleForm empties the measurement fields, ready for the next sample. */
function clearSampleForm() {
  for (const n of state.features) $(`f-${n}`).value = '';
}

function readSampleForm() {
  let ok = true;
  const features = state.features.map((n) => {
    const input = $(`f-${n}`);
    const v = input.valueAsNumber;
    if (input.value === '' || !Number.isFinite(v)) {
      setFieldError(input.id, notANumber(n));
      ok = false;
    }
    return v;
  });
  return ok ? { features, cls: $('f-species').value } : null;
}

async function saveSample(ev) {
  ev.preventDefault();
  clearErrors(formIds());
  const s = readSampleForm();
  if (!s) return;
  const btn = $('save');
  btn.disabled = true;
  try {
    let saved;
    let done;
    if (state.editing) {
      saved = await state.client.putSample(state.editing.id, s.features, s.cls, state.editing.etag);
      done = `Saved sample #${saved.id} (${cls(saved)}).`;
    } else {
      saved = await state.client.createSample(s.features, s.cls);
      done = `Added sample #${saved.id} (${cls(saved)}).`;
    }
    editMode(null);
    clearSampleForm();
    await refreshAll();
    $('editor-msg').textContent = done; // after the plot and the prediction caught up
  } catch (err) {
    if (err instanceof ApiError && err.status === 412 && state.editing) {
      const id = state.editing.id;
      await startEdit(id);
      setFieldError('sample-form', `Sample #${id} was changed by someone else since you opened it; the form now shows its current values. Make your change again.`);
    } else if (err instanceof ApiError && err.status === 404 && state.editing) {
      setFieldError('sample-form', `Sample #${state.editing.id} no longer exists.`);
      editMode(null);
    } else {
      const rest = showApiError(err, 'f-');
      if (rest) setFieldError('sample-form', rest);
    }
  } finally {
    btn.disabled = false;
  }
}

async function removeSample(s) {
  clearErrors(formIds());
  const msg = $('editor-msg');
  try {
    await state.client.deleteSample(s.id);
    if (state.editing?.id === s.id) editMode(null);
    await refreshAll();
    msg.replaceChildren(`Deleted sample #${s.id} (${cls(s)}). `,
      el('button', { type: 'button', id: 'undo', onclick: () => undoDelete(s) }, 'Undo'));
  } catch (err) {
    msg.textContent = showApiError(err, 'f-') || err.message;
  }
}

async function undoDelete(s) {
  const msg = $('editor-msg');
  try {
    await state.client.putSample(s.id, s.features, cls(s));
    await refreshAll();
    msg.textContent = `Restored sample #${s.id}.`;
  } catch (err) {
    msg.textContent = showApiError(err, 'f-') || err.message;
  }
}

async function resetDataset() {
  clearErrors(formIds());
  const msg = $('editor-msg');
  try {
    const d = await state.client.reset();
    editMode(null);
    state.offset = 0;
    await refreshAll();
    msg.textContent = `The training set is back to its ${d.total} shipped samples.`;
  } catch (err) {
    msg.textContent = showApiError(err, 'f-') || err.message;
  }
}

/** refreshAll reloads the plot's copy of the data, the editor page and the prediction. */
async function refreshAll() {
  try {
    await loadSamples();
  } catch (err) {
    showApiError(err, '');
  }
  drawPlot();
  await Promise.all([loadPage(), predict()]);
}

// ---- the evaluation view's "Use this setting" -----------------------------

/** useSetting puts an evaluated setting into the prediction controls and predicts. */
function useSetting({ k, metric, weights }) {
  $('k').value = String(k);
  $('k-range').value = String(k);
  $('metric').value = metric;
  $('weights').value = weights;
  $('eval-used').textContent = `The prediction now uses k = ${k}, ${metric} distance, ${weights} votes.`;
  predict();
}

// ---- live updates --------------------------------------------------------

const live = { source: null, timer: 0, stale: false };

/**
 * followChanges follows the training set's change feed (GET
 * /dataset/changes as Server-Sent Events) from the version the page shows:
 * when another client changes the set, the plot, the editor's list and the
 * prediction follow. A dropped connection is resumed by the browser where
 * it stopped (Last-Event-ID). When the server refuses or ends the feed, the
 * page catches up with GET /dataset and follows again after WATCH_MS: a 410
 * (the page fell behind the feed's window) and a 409 (the page's version is
 * after the server's newest: it restarted without -data-dir, so that
 * version belongs to another history) both need the whole set reloaded
 * from scratch. The EventSource cannot read the status (an answer that is
 * not a 200 event stream closes it, with no reconnect), but it need not:
 * either way GET /dataset names a version other than the page's, so
 * refreshAll reloads everything and the feed restarts from the new version.
 * body.dataset.live says where it stands: "feed", "reconnecting" or "lost".
 */
function followChanges() {
  live.source?.close();
  const es = new EventSource(state.client.changesURL(state.version));
  live.source = es;
  es.addEventListener('open', () => { document.body.dataset.live = 'feed'; });
  es.addEventListener('change', (e) => {
    if (Number(e.lastEventId) > state.version) scheduleRefresh();
  });
  // Both the browser's connection errors and the server's "error" event (a
  // problem object as data) arrive here.
  es.addEventListener('error', (e) => {
    if (e.data === undefined && es.readyState === EventSource.CONNECTING) {
      document.body.dataset.live = 'reconnecting';
      return;
    }
    es.close();
    if (live.source !== es) return;
    live.source = null;
    document.body.dataset.live = 'lost';
    setTimeout(async () => {
      try {
        const d = await state.client.dataset();
        if (d.dataset_version !== state.version) await refreshAll();
      } catch {
        // The feed is tried again below; requests the person makes
        // report their own errors.
      }
      followChanges();
    }, WATCH_MS);
  });
}

/**
 * scheduleRefresh reloads the page's data once a burst of changes has
 * passed, or when the tab is shown again if it is hidden.
 */
function scheduleRefresh() {
  if (document.hidden) {
    live.stale = true;
    return;
  }
  clearTimeout(live.timer);
  live.timer = setTimeout(refreshAll, LIVE_COALESCE_MS);
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && live.stale) {
    live.stale = false;
    scheduleRefresh();
  }
});

// ---- start ----------------------------------------------------------------

function buildAxes() {
  for (const [id, def] of [['x-axis', 2], ['y-axis', 3]]) {
    const sel = $(id);
    sel.replaceChildren(...state.features.map((n, i) => el('option', { value: i }, label(n))));
    sel.value = String(Math.min(def, state.features.length - 1));
    sel.addEventListener('change', drawPlot);
  }
}

function wireQuery() {
  const k = $('k');
  const kr = $('k-range');
  kr.addEventListener('input', () => { k.value = kr.value; schedulePredict(); });
  k.addEventListener('input', () => {
    if (Number.isFinite(k.valueAsNumber)) kr.value = String(k.valueAsNumber);
    schedulePredict();
  });
  $('metric').addEventListener('change', predict);
  $('weights').addEventListener('change', predict);
  $('query').addEventListener('submit', (e) => { e.preventDefault(); predict(); });
}

function wireEditor() {
  $('filter').addEventListener('change', () => { state.offset = 0; loadPage(); });
  $('prev').addEventListener('click', () => { state.offset = Math.max(0, state.offset - PAGE); loadPage(); });
  $('next').addEventListener('click', () => { state.offset += PAGE; loadPage(); });
  $('sample-form').addEventListener('submit', saveSample);
  $('cancel-edit').addEventListener('click', () => { editMode(null); clearSampleForm(); clearErrors(formIds()); });
  $('use-query').addEventListener('click', () => {
    state.features.forEach((n) => { $(`f-${n}`).value = $(n).value; });
    $(`f-${state.features[0]}`).focus();
  });
  $('reset').addEventListener('click', resetDataset);
}

async function main() {
  let base;
  try {
    base = apiBase();
  } catch (err) {
    showStatus(err.message);
    setApiState('not set', false);
    return;
  }
  $('api-base').textContent = base || `${location.origin} (this page's origin)`;
  $('spec-link').href = `${base}/openapi.yaml`;
  $('docs-link').href = `${base || '.'}/docs`;
  const key = $('api-key');
  key.value = sessionStorage.getItem('irisknn-api-key') ?? '';
  key.addEventListener('input', () => { sessionStorage.setItem('irisknn-api-key', key.value); setFieldError('api-key', ''); });
  $('conn').addEventListener('submit', (e) => e.preventDefault());
  state.client = new Client(base, () => key.value.trim());
  wireQuery();
  wireEditor();
  try {
    const d = await state.client.dataset();
    state.classes = d.classes;
    state.features = d.features;
    await loadSamples();
    // The label's name: GET /dataset's label, else the key of a sample that
    // is neither its id nor its features.
    state.label = d.label || Object.keys(state.samples[0] ?? {}).find((k) => k !== 'id' && k !== 'features') || 'species';
    state.client.label = state.label;
    state.ranges = featureRanges(d);
  } catch (err) {
    showApiError(err, '');
    if (!(err instanceof ApiError && err.network)) showStatus(`The API at ${base || location.origin} answered with an error: ${err.message}`, { retry: true });
    renderNoPrediction('No prediction: the API cannot be reached.');
    document.body.dataset.ready = 'error';
    return;
  }
  setApiState('connected', true);
  state.evaluation = initEvaluation({ client: state.client, onUse: useSetting, setFieldError });
  buildMeasurements();
  buildAxes();
  buildEditor();
  legend($('legend'), state.classes, state.label === 'species' ? 'your measurements' : 'your query');
  $('k').max = String(state.samples.length || 1);
  $('k-range').max = String(Math.min(30, state.samples.length || 1));
  drawPlot();
  await Promise.all([predict(), loadPage()]);
  document.body.dataset.ready = 'true';
  followChanges();
}

main();
