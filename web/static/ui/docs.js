// The API documentation at /docs: Swagger UI (vendored from the npm package
// swagger-ui-dist, see ui/swagger-ui/VERSION) rendering the served
// /openapi.yaml. With ?api=http://host:port it documents, and tries
// requests against, that API instead of this page's origin.

import { apiBase } from './api.js';

const $ = (id) => document.getElementById(id);

function fail(message) {
  const s = $('docs-status');
  s.textContent = message;
  s.hidden = false;
  document.body.dataset.ready = 'error';
}

// Anything the Content-Security-Policy blocks is recorded (the browser tests
// read it) and logged.
const violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  violations.push(`${e.violatedDirective} ${e.blockedURI}`);
  document.body.dataset.cspViolations = violations.join('; ');
  console.warn('blocked by the Content-Security-Policy:', e.violatedDirective, e.blockedURI);
});

function main() {
  let base;
  try {
    base = apiBase();
  } catch (err) {
    fail(err.message);
    return;
  }
  const spec = `${base}/openapi.yaml`;
  $('spec-link').href = spec;
  if (base) $('page-link').href = `./?api=${encodeURIComponent(base)}`;
  if (typeof window.SwaggerUIBundle !== 'function') {
    fail('Swagger UI did not load (ui/swagger-ui/swagger-ui-bundle.js).');
    return;
  }
  window.ui = window.SwaggerUIBundle({
    url: spec,
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
    validatorUrl: null, // never send the spec to a third-party validator
    tryItOutEnabled: false,
    onComplete: () => { document.body.dataset.ready = 'true'; },
  });
}

main();
