// The evaluation view: runs an evaluate job (POST /jobs), follows its
// progress, can cancel it, and shows the result: accuracy against k, the
// confusion matrix of the selected setting, and a button that puts that
// setting into the prediction controls.

import { ApiError } from './api.js';
import { confusion, drawAccuracy, evalLegend, pct, seriesName } from './evalplot.js';

const $ = (id) => document.getElementById(id);
const POLL_MS = 200;

// The request's field names, mapped to the inputs that show their errors.
const FIELDS = { k_min: 'eval-k-min', k_max: 'eval-k-max', metrics: 'eval-metrics', weights: 'eval-weights', folds: 'eval-folds' };

/**
 * initEvaluation wires the view. client is the API client; onUse(setting)
 * is called with {k, metric, weights} when the person asks to use a setting;
 * setFieldError(id, msg) shows a field's error.
 */
export function initEvaluation({ client, onUse, setFieldError }) {
  const view = { job: null, result: null, selected: null, timer: 0 };
  const form = $('eval-form');
  const status = $('eval-status');
  const bar = $('eval-progress');

  const clearErrors = () => { for (const id of [...Object.values(FIELDS), 'eval-form']) setFieldError(id, ''); };

  const running = (on) => {
    $('eval-run').disabled = on;
    $('eval-cancel').hidden = !on;
    form.setAttribute('aria-busy', on ? 'true' : 'false');
  };

  const showProgress = (j) => {
    const p = Math.max(0, Math.min(1, j.progress ?? 0));
    bar.value = p;
    bar.setAttribute('aria-valuetext', `${Math.round(p * 100)}%`);
    status.textContent = j.status === 'queued' ? 'Queued: waiting for a worker…' : `Running: ${Math.round(p * 100)}% done`;
  };

  /** readForm returns the job request, or null after marking what is wrong. */
  const readForm = () => {
    let ok = true;
    const kMin = $('eval-k-min').valueAsNumber;
    const kMax = $('eval-k-max').valueAsNumber;
    if (!Number.isInteger(kMin) || kMin < 1) { setFieldError('eval-k-min', 'Give a whole number, 1 or more.'); ok = false; }
    if (!Number.isInteger(kMax) || kMax < 1) {
      setFieldError('eval-k-max', 'Give a whole number, 1 or more.');
      ok = false;
    } else if (Number.isInteger(kMin) && kMax < kMin) {
      setFieldError('eval-k-max', 'The last k must not be below the first.');
      ok = false;
    }
    const metrics = [...form.querySelectorAll('input[name=eval-metric]:checked')].map((c) => c.value);
    const weights = [...form.querySelectorAll('input[name=eval-weight]:checked')].map((c) => c.value);
    if (!metrics.length) { setFieldError('eval-metrics', 'Tick at least one distance.'); ok = false; }
    if (!weights.length) { setFieldError('eval-weights', 'Tick at least one voting.'); ok = false; }
    let folds = 0;
    if ($('eval-validation').value === 'folds') {
      folds = $('eval-folds').valueAsNumber;
      if (!Number.isInteger(folds) || folds < 2) { setFieldError('eval-folds', 'Give a whole number of folds, 2 or more.'); ok = false; }
    }
    return ok ? { type: 'evaluate', k_min: kMin, k_max: kMax, metrics, weights, folds } : null;
  };

  const fail = (err) => {
    running(false);
    view.job = null;
    if (err instanceof ApiError) {
      let placed = false;
      for (const f of err.fields) {
        if (FIELDS[f.field]) { setFieldError(FIELDS[f.field], f.message); placed = true; }
      }
      if (!placed) setFieldError('eval-form', err.message);
    } else {
      setFieldError('eval-form', String(err?.message ?? err));
    }
    status.textContent = 'The evaluation did not run.';
  };

  const poll = async () => {
    const id = view.job;
    if (!id) return;
    let j;
    try {
      j = await client.getJob(id);
    } catch (err) {
      if (view.job === id) fail(err);
      return;
    }
    if (view.job !== id) return; // cancelled or replaced meanwhile
    showProgress(j);
    if (j.status === 'queued' || j.status === 'running') {
      view.timer = setTimeout(poll, POLL_MS);
      return;
    }
    view.job = null;
    running(false);
    if (j.status === 'cancelled') {
      status.textContent = 'Cancelled.';
      return;
    }
    if (j.status === 'failed') {
      setFieldError('eval-form', `The evaluation failed: ${j.error || 'no reason given'}`);
      status.textContent = 'Failed.';
      return;
    }
    try {
      const res = await client.jobResult(id);
      bar.value = 1;
      status.textContent = `Done: ${res.results.length} settings evaluated (${res.validation}, ${res.samples} samples).`;
      show(res);
    } catch (err) {
      fail(err);
    }
  };

  const run = async (ev) => {
    ev.preventDefault();
    clearErrors();
    const body = readForm();
    if (!body) return;
    clearTimeout(view.timer);
    running(true);
    bar.value = 0;
    status.textContent = 'Starting…';
    try {
      const j = await client.createJob(body);
      view.job = j.id;
      showProgress(j);
      view.timer = setTimeout(poll, POLL_MS);
    } catch (err) {
      fail(err);
    }
  };

  const cancel = async () => {
    const id = view.job;
    if (!id) return;
    view.job = null;
    clearTimeout(view.timer);
    try {
      await client.cancelJob(id);
      status.textContent = 'Cancelled.';
    } catch (err) {
      // 409: it finished first; show what it did.
      if (err instanceof ApiError && err.status === 409) {
        view.job = id;
        poll();
        return;
      }
      setFieldError('eval-form', err.message);
    }
    running(false);
    $('eval-run').focus();
  };

  const select = (r, { keepFocus = false } = {}) => {
    view.selected = r;
    const res = view.result;
    drawAccuracy($('eval-plot'), { results: res.results, selected: r, best: res.best, onSelect: select });
    if (keepFocus) $('eval-svg').focus();
    const name = `k = ${r.k}, ${seriesName(r.metric, r.weights)}`;
    $('eval-selected').textContent = `${name}: ${pct(r.accuracy)} correct (${r.correct} of ${r.total})`;
    $('confusion-caption').textContent = `Confusion matrix of k = ${r.k}, ${seriesName(r.metric, r.weights)}: rows are the actual class, columns the predicted one`;
    confusion($('confusion'), res.classes, r.confusion);
    $('eval-used').textContent = '';
    for (const b of $('eval-table').querySelectorAll('button')) {
      b.setAttribute('aria-pressed', String(+b.dataset.k === r.k && b.dataset.metric === r.metric && b.dataset.weights === r.weights));
    }
  };

  const table = (res) => {
    const keys = [];
    for (const r of res.results) if (!keys.some((k) => k.metric === r.metric && k.weights === r.weights)) keys.push(r);
    const head = document.createElement('thead');
    const hr = head.insertRow();
    const th0 = document.createElement('th');
    th0.scope = 'col';
    th0.textContent = 'k';
    hr.append(th0);
    for (const k of keys) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.textContent = seriesName(k.metric, k.weights);
      hr.append(th);
    }
    const body = document.createElement('tbody');
    const byK = new Map();
    for (const r of res.results) {
      if (!byK.has(r.k)) byK.set(r.k, []);
      byK.get(r.k).push(r);
    }
    for (const [k, rs] of [...byK].sort((a, b) => a[0] - b[0])) {
      const tr = body.insertRow();
      const th = document.createElement('th');
      th.scope = 'row';
      th.textContent = String(k);
      tr.append(th);
      for (const key of keys) {
        const r = rs.find((x) => x.metric === key.metric && x.weights === key.weights);
        const td = tr.insertCell();
        td.className = 'num';
        if (!r) continue;
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'cellbtn';
        b.textContent = pct(r.accuracy);
        b.dataset.k = String(r.k);
        b.dataset.metric = r.metric;
        b.dataset.weights = r.weights;
        b.setAttribute('aria-label', `k = ${r.k}, ${seriesName(r.metric, r.weights)}: ${pct(r.accuracy)}`);
        if (r === res.best) b.classList.add('best');
        b.addEventListener('click', () => select(r));
        td.append(b);
      }
    }
    const t = $('eval-table');
    t.replaceChildren(...(t.caption ? [t.caption] : []), head, body);
  };

  const show = (res) => {
    view.result = res;
    $('eval-result').hidden = false;
    $('eval-stale').hidden = true;
    const b = res.best;
    $('eval-summary').textContent = `Best: k = ${b.k}, ${seriesName(b.metric, b.weights)}, ${pct(b.accuracy)} correct ` +
      `(${b.correct} of ${b.total}, ${res.validation} on training set version ${res.dataset_version}).`;
    evalLegend($('eval-legend'), res.results);
    table(res);
    select(b);
  };

  $('eval-validation').addEventListener('change', () => {
    $('eval-folds').disabled = $('eval-validation').value !== 'folds';
    setFieldError('eval-folds', '');
  });
  form.addEventListener('submit', run);
  $('eval-cancel').addEventListener('click', cancel);
  $('eval-use').addEventListener('click', () => {
    const r = view.selected;
    if (r) onUse({ k: r.k, metric: r.metric, weights: r.weights });
  });

  return {
    /** datasetChanged says, under a shown result, when the training set has moved on from it. */
    datasetChanged(version) {
      const res = view.result;
      $('eval-stale').hidden = !res || res.dataset_version === version;
      if (res && res.dataset_version !== version) {
        $('eval-stale').textContent = `The training set has changed since this evaluation (version ${res.dataset_version}, now ${version}): run it again to include the change.`;
      }
    },
  };
}
