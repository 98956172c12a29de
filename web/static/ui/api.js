// The irisknn REST API as seen from the browser: fetch with JSON bodies, the
// API key as a bearer token on writes, and RFC 9457 problem responses turned
// into ApiError values whose field errors the page shows next to its inputs.

/** An error from the API or from the network, ready to show to a person. */
export class ApiError extends Error {
  /**
   * @param {string} message readable text (the problem's detail)
   * @param {{status?: number, fields?: {field: string, message: string}[], network?: boolean}} info
   */
  constructor(message, { status = 0, fields = [], network = false } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.fields = fields;
    this.network = network;
  }
}

/**
 * apiBase returns the API base URL: the page's ?api= parameter (an http or
 * https URL, without a trailing slash), or "" for the page's own origin.
 * It throws an ApiError when ?api= is not a usable URL.
 */
export function apiBase(search = location.search) {
  const raw = new URLSearchParams(search).get('api');
  if (raw === null || raw.trim() === '') return '';
  let u;
  try {
    u = new URL(raw.trim());
  } catch {
    throw new ApiError(`The ?api= parameter "${raw}" is not a URL: give the API's address, such as ?api=http://127.0.0.1:8080`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ApiError(`The ?api= parameter must be an http or https URL, got "${raw}"`);
  }
  return (u.origin + u.pathname).replace(/\/+$/, '');
}

/** networkMessage explains a fetch that failed without any response. */
function networkMessage(base) {
  const target = base || location.origin;
  if (base && new URL(base).origin !== location.origin) {
    return `Cannot reach the API at ${target}. Either it is not running, or it does not allow ` +
      `requests from this page's origin (${location.origin}): start irisd with ` +
      `-cors-origins=${location.origin} (or add it to the list).`;
  }
  return `Cannot reach the API at ${target}: is irisd running?`;
}

/**
 * Client calls the API at base. getKey returns the API key to send on
 * writes ("" for none).
 */
export class Client {
  constructor(base, getKey = () => '') {
    this.base = base;
    this.getKey = getKey;
    // The label's key on the wire (and the list's filter): the schema's
    // label name, "species" for Iris; set from GET /dataset.
    this.label = 'species';
  }

  /**
   * request sends one request and returns {data, headers, status}. A
   * response that is not 2xx becomes an ApiError; so does a network failure
   * (a server that is down, or a browser that blocked the response because
   * of CORS: a page cannot tell these apart). An aborted request rethrows
   * the AbortError.
   */
  async request(method, path, { body, signal, write = false, headers = {} } = {}) {
    const h = { Accept: 'application/json, application/problem+json', ...headers };
    if (body !== undefined) h['Content-Type'] = 'application/json';
    const key = this.getKey();
    if (write && key) h.Authorization = `Bearer ${key}`;
    let res;
    try {
      res = await fetch(this.base + path, {
        method,
        headers: h,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        mode: 'cors',
        credentials: 'omit',
        cache: 'no-store',
      });
    } catch (err) {
      if (err && err.name === 'AbortError') throw err;
      throw new ApiError(networkMessage(this.base), { network: true });
    }
    let data = null;
    const text = await res.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!res.ok) throw problemError(res, data);
    return { data, headers: res.headers, status: res.status };
  }

  dataset(opts) { return this.request('GET', '/dataset', opts).then((r) => r.data); }

  /**
   * changesURL is the address of the change feed after version since, for
   * an EventSource (GET /dataset/changes as Server-Sent Events).
   */
  changesURL(since) { return `${this.base}/dataset/changes?since=${encodeURIComponent(since)}`; }

  predict(body, opts) {
    return this.request('POST', '/predict', { ...opts, body }).then((r) => r.data);
  }

  listSamples({ cls = '', limit = 50, offset = 0 } = {}, opts) {
    const q = new URLSearchParams({ limit: String(limit), offset: String(offset) });
    if (cls) q.set(this.label, cls);
    return this.request('GET', `/samples?${q}`, opts).then((r) => r.data);
  }

  /** allSamples pages through GET /samples until it has every sample. */
  async allSamples(opts) {
    const out = [];
    let version = 0;
    for (let offset = 0; ; offset += 1000) {
      const page = await this.listSamples({ limit: 1000, offset }, opts);
      out.push(...page.samples);
      version = page.dataset_version;
      if (page.samples.length === 0 || out.length >= page.total) break;
    }
    return { samples: out, version };
  }

  /** getSample returns the sample and its ETag (for If-Match on a later PUT). */
  async getSample(id, opts) {
    const r = await this.request('GET', `/samples/${id}`, opts);
    return { sample: r.data, etag: r.headers.get('ETag') || '' };
  }

  createSample(features, cls) {
    return this.request('POST', '/samples', { write: true, body: { features, [this.label]: cls } }).then((r) => r.data);
  }

  putSample(id, features, cls, etag = '') {
    const headers = etag ? { 'If-Match': etag } : {};
    return this.request('PUT', `/samples/${id}`, { write: true, headers, body: { features, [this.label]: cls } }).then((r) => r.data);
  }

  deleteSample(id) { return this.request('DELETE', `/samples/${id}`, { write: true }); }

  reset() { return this.request('POST', '/dataset/reset', { write: true }).then((r) => r.data); }

  /** createJob starts an asynchronous job (POST /jobs) and returns it (status queued). A write: it sends the key. */
  createJob(body, opts) { return this.request('POST', '/jobs', { ...opts, body, write: true }).then((r) => r.data); }

  /** getJob returns a job's status and progress. */
  getJob(id, opts) { return this.request('GET', `/jobs/${encodeURIComponent(id)}`, opts).then((r) => r.data); }

  /** jobResult returns the result of a job that succeeded. */
  jobResult(id, opts) { return this.request('GET', `/jobs/${encodeURIComponent(id)}/result`, opts).then((r) => r.data); }

  /** cancelJob cancels a queued or running job. */
  cancelJob(id) { return this.request('DELETE', `/jobs/${encodeURIComponent(id)}`, { write: true }).then((r) => r.data); }
}

/** problemError turns a problem+json response (or any failed response) into an ApiError. */
function problemError(res, data) {
  const fields = Array.isArray(data?.errors)
    ? data.errors.filter((e) => e && typeof e.field === 'string').map((e) => ({ field: e.field, message: String(e.message ?? '') }))
    : [];
  let message = typeof data?.detail === 'string' && data.detail ? data.detail : `${res.status} ${res.statusText || 'error'}`;
  if (res.status === 401) {
    message = 'The API needs a key for this change: enter it in the API key field at the top. ' + (data?.detail ? `(${data.detail})` : '');
    fields.push({ field: 'api-key', message: 'A valid API key is needed to change the training set.' });
  } else if (res.status === 403) {
    fields.push({ field: 'api-key', message: 'This API key may not change the training set.' });
  } else if (res.status === 429) {
    const after = res.headers.get('Retry-After');
    message = `Too many requests; try again${after ? ` in ${after} s` : ' shortly'}.`;
  }
  return new ApiError(message.trim(), { status: res.status, fields });
}
