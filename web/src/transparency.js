// The transparency report, drawn from the public log, with the log's latest signed head.
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip } from 'chart.js';
import { esc, getJson, when } from './api.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

const sum = (counts) => Object.values(counts || {}).reduce((a, b) => a + b, 0);
const hasCalls = (months) => Object.values(months).some((m) => sum(m.calls_published) + sum(m.calls_withheld) > 0);

export async function transparencyPage(app) {
  app.innerHTML = '<h1>Transparency</h1><p>Loading…</p>';
  let report;
  let head = null;
  try {
    report = await getJson('/v1/transparency/report');
    head = await getJson('/v1/log/get-sth').catch(() => null);
  } catch (error) {
    app.innerHTML = `<h1>Transparency</h1><p role="alert">${esc(error.message)}</p>`;
    return;
  }
  const agencies = Object.entries(report.agencies || {});
  app.innerHTML = `
    <h1>Transparency</h1>
    <p class="lead">Every policy change, every camera request and its outcome, every clip an
      agency downloaded and every day's published and withheld calls are written to a public,
      append-only log. These figures are computed from that log alone; anyone can
      <a href="/v1/log/get-entries?start=0&amp;end=999">download it</a> and check it with
      <code>porchlight audit verify</code>.</p>
    <section aria-labelledby="head-title" class="card">
      <h2 id="head-title">The log's latest signed head</h2>
      ${
        head
          ? `<dl class="head">
              <dt>Entries</dt><dd id="tree-size">${head.tree_size}</dd>
              <dt>Signed</dt><dd><time datetime="${new Date(head.timestamp).toISOString()}">${esc(when(new Date(head.timestamp).toISOString()))}</time></dd>
              <dt>Root hash</dt><dd><code>${esc(head.sha256_root_hash)}</code></dd>
              <dt>Signature</dt><dd><code class="wrap">${esc(head.tree_head_signature)}</code></dd>
            </dl>
            <p class="help">Signed with the key at <a href="/v1/log/key">/v1/log/key</a> (Ed25519, over
              RFC 6962's tree head).</p>`
          : '<p>The log has not signed a head yet.</p>'
      }
    </section>
    ${agencies.length ? '' : '<p>Nothing has been logged yet.</p>'}
    ${agencies
      .map(([agency, months], n) => {
        const rows = Object.entries(months);
        return `<section aria-labelledby="agency-${n}" class="card">
          <h2 id="agency-${n}">${esc(agency)}</h2>
          ${
            hasCalls(months)
              ? `<div class="chart"><canvas id="chart-${n}" role="img" aria-label="Calls published and withheld per month for ${esc(
                  agency,
                )}; the table below has the figures"></canvas></div>`
              : ''
          }
          <table>
            <caption>Per month</caption>
            <thead><tr><th scope="col">Month</th><th scope="col">Camera requests made</th><th scope="col">Approved</th>
              <th scope="col">Refused</th><th scope="col">Clips shared</th><th scope="col">Clips accessed</th>
              <th scope="col">Calls published</th><th scope="col">Calls withheld</th></tr></thead>
            <tbody>${rows
              .map(
                ([month, m]) => `<tr><th scope="row">${esc(month)}</th><td>${m.requests_made}</td><td>${m.requests_approved}</td>
                  <td>${m.requests_refused}</td><td>${m.clips_shared}</td><td>${m.clips_accessed}</td>
                  <td>${sum(m.calls_published)}</td><td>${sum(m.calls_withheld)}</td></tr>`,
              )
              .join('')}</tbody>
          </table>
        </section>`;
      })
      .join('')}
    <p><a href="/v1/transparency/report">The report as JSON</a> ·
      <a href="/v1/transparency/report.html">as a plain page</a></p>`;
  agencies.forEach(([, months], n) => {
    if (!hasCalls(months)) return;
    const labels = Object.keys(months);
    new Chart(app.querySelector(`#chart-${n}`), {
      type: 'bar',
      data: {
        labels,
        datasets: [
          { label: 'Published', data: labels.map((m) => sum(months[m].calls_published)), backgroundColor: '#1f5fa8' },
          { label: 'Withheld', data: labels.map((m) => sum(months[m].calls_withheld)), backgroundColor: '#9aa5b1' },
        ],
      },
      options: { animation: false, responsive: true, maintainAspectRatio: false, scales: { x: { stacked: true }, y: { stacked: true } } },
    });
  });
}
