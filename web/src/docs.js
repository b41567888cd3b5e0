// The API's reference, drawn from the server's own OpenAPI document (/openapi.json): every
// operation by tag with its parameters, body and answers, then every schema. Nothing is
// fetched from elsewhere, so it reads the same offline.
import { esc, getJson } from './api.js';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

const refName = (ref) => ref.split('/').pop();
const anchor = (text) => text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

// A schema's type in a few words, with links to named schemas.
export function typeOf(schema) {
  if (!schema) return '';
  if (schema.$ref) {
    const name = refName(schema.$ref);
    return `<a href="#schema-${anchor(name)}">${esc(name)}</a>`;
  }
  for (const key of ['oneOf', 'anyOf', 'allOf']) {
    if (schema[key]) {
      const parts = schema[key].filter((s) => s.type !== 'null').map(typeOf);
      const nullable = schema[key].some((s) => s.type === 'null');
      return parts.join(key === 'allOf' ? ' and ' : ' or ') + (nullable ? ' or null' : '');
    }
  }
  const types = [].concat(schema.type || 'any');
  const shown = types
    .filter((t) => t !== 'null')
    .map((t) => {
      if (t === 'array') return `array of ${typeOf(schema.items) || 'any'}`;
      if (t === 'object' && schema.additionalProperties && typeof schema.additionalProperties === 'object') {
        return `map of ${typeOf(schema.additionalProperties)}`;
      }
      return esc(schema.format ? `${t} (${schema.format})` : t);
    });
  let text = shown.join(' or ') || 'null';
  if (types.includes('null')) text += ' or null';
  if (schema.enum) text += `: one of ${schema.enum.map((v) => `<code>${esc(v)}</code>`).join(', ')}`;
  return text;
}

function properties(schema) {
  const props = Object.entries(schema.properties || {});
  if (!props.length) return '';
  const required = new Set(schema.required || []);
  return `<table class="api-table">
    <thead><tr><th scope="col">Field</th><th scope="col">Type</th><th scope="col">Description</th></tr></thead>
    <tbody>${props
      .map(
        ([name, p]) => `<tr><td><code>${esc(name)}</code>${required.has(name) ? '' : ' <span class="help">optional</span>'}</td>
          <td>${typeOf(p)}</td><td>${esc(p.description || '')}</td></tr>`,
      )
      .join('')}</tbody></table>`;
}

function operation(path, method, op) {
  const params = op.parameters || [];
  const body = op.requestBody;
  const id = `op-${method}-${anchor(path)}`;
  return `<article class="card api-op" id="${id}" aria-labelledby="${id}-title">
    <h3 id="${id}-title"><span class="api-method api-${method}">${method.toUpperCase()}</span> <code>${esc(path)}</code></h3>
    ${op.summary ? `<p>${esc(op.summary)}</p>` : ''}
    ${op.description ? `<p>${esc(op.description)}</p>` : ''}
    ${
      params.length
        ? `<h4>Parameters</h4><table class="api-table">
          <thead><tr><th scope="col">Name</th><th scope="col">In</th><th scope="col">Type</th><th scope="col">Description</th></tr></thead>
          <tbody>${params
            .map(
              (p) => `<tr><td><code>${esc(p.name)}</code>${p.required ? '' : ' <span class="help">optional</span>'}</td>
                <td>${esc(p.in)}</td><td>${typeOf(p.schema)}</td><td>${esc(p.description || '')}</td></tr>`,
            )
            .join('')}</tbody></table>`
        : ''
    }
    ${
      body
        ? `<h4>Body</h4>${body.description ? `<p>${esc(body.description)}</p>` : ''}<ul>${Object.entries(body.content || {})
            .map(([type, c]) => `<li><code>${esc(type)}</code>: ${typeOf(c.schema)}</li>`)
            .join('')}</ul>`
        : ''
    }
    <h4>Answers</h4>
    <dl class="api-answers">${Object.entries(op.responses || {})
      .map(
        ([status, r]) => `<dt>${esc(status)}</dt><dd>${esc(r.description || '')}${Object.entries(r.content || {})
          .map(([type, c]) => ` <code>${esc(type)}</code>${c.schema ? `: ${typeOf(c.schema)}` : ''}`)
          .join(';')}</dd>`,
      )
      .join('')}</dl>
  </article>`;
}

export async function docsPage(app) {
  app.innerHTML = '<h1>API</h1><p>Loading…</p>';
  let doc;
  try {
    doc = await getJson('/openapi.json');
  } catch (error) {
    app.innerHTML = `<h1>API</h1><p role="alert">${esc(error.message)}</p>`;
    return;
  }
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of METHODS) {
      if (!item[method]) continue;
      const tag = (item[method].tags || ['other'])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push([path, method, item[method]]);
    }
  }
  const tags = [...byTag.keys()].sort();
  const schemas = Object.entries(doc.components?.schemas || {}).sort(([a], [b]) => a.localeCompare(b));
  const count = [...byTag.values()].reduce((n, ops) => n + ops.length, 0);
  app.innerHTML = `
    <h1>API</h1>
    <p class="lead">${esc(doc.info?.description || '')}</p>
    <p>${esc(doc.info?.title)} ${esc(doc.info?.version)}: <span id="api-count">${count}</span> operations.
      The same description as OpenAPI ${esc(doc.openapi)}, for tools: <a href="/openapi.json">/openapi.json</a>.
      Errors are JSON, <code>{"error": {"code": "…", "message": "…"}}</code>, with a stable code.</p>
    <nav aria-label="API sections" class="card"><ul>
      ${tags.map((t) => `<li><a href="#tag-${anchor(t)}">${esc(t)}</a> (${byTag.get(t).length})</li>`).join('')}
      <li><a href="#schemas">Schemas</a> (${schemas.length})</li>
    </ul></nav>
    ${tags
      .map(
        (t) => `<section aria-labelledby="tag-${anchor(t)}"><h2 id="tag-${anchor(t)}">${esc(t)}</h2>
          ${byTag
            .get(t)
            .map(([path, method, op]) => operation(path, method, op))
            .join('')}</section>`,
      )
      .join('')}
    <section aria-labelledby="schemas"><h2 id="schemas">Schemas</h2>
      ${schemas
        .map(
          ([name, s]) => `<article class="card" id="schema-${anchor(name)}" aria-labelledby="schema-${anchor(name)}-title">
            <h3 id="schema-${anchor(name)}-title">${esc(name)}</h3>
            ${s.description ? `<p>${esc(s.description)}</p>` : ''}
            ${s.properties ? properties(s) : `<p>${typeOf(s)}</p>`}
          </article>`,
        )
        .join('')}
    </section>`;
}
