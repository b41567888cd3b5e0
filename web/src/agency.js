// An agency administrator's page: the agency's officers (the portal), and, for the agency's
// published calls, the privacy policy editor with a preview on a sample of its own data (run
// through its mapping and the edited policy, stored nowhere) and the polled feed's status.
import { esc, getJson, postJson, when } from './api.js';
import { me, portalCall } from './portal.js';

// Every category a policy can withhold, sensitive ones first.
const WITHHOLDABLE = [
  'domestic_violence', 'sexual_offense', 'child_abuse', 'elder_abuse', 'juvenile', 'suicide', 'mental_health',
  'medical', 'death', 'missing_person', 'welfare_check', 'stalking', 'administrative', 'violent', 'weapons',
  'property', 'disorder', 'traffic', 'fire', 'hazard', 'suspicious', 'public_service', 'other',
];

export async function agencyPage(app) {
  const account = await me();
  if (!account || account.role !== 'agency_admin') {
    app.innerHTML = `<h1>For agency administrators</h1><p><a href="/account">Sign in</a> as your agency's administrator to see this page.</p>`;
    return;
  }
  const { agencies } = await getJson('/v1/agencies');
  app.innerHTML = `<h1>${esc(account.agency)}: administration</h1>
    <section class="card" aria-labelledby="officers-title">
      <h2 id="officers-title">Officers</h2>
      <ul id="officers" class="incidents"></ul>
      <form id="add-officer" class="row">
        <label>E-mail of a resident account <input name="email" type="email" required></label>
        <button type="submit">Make them an officer</button>
        <p class="error" role="alert"></p>
      </form>
    </section>
    <section class="card" aria-labelledby="policy-title">
      <h2 id="policy-title">Privacy policy of the published calls</h2>
      <label>Calls of <select id="agency">${agencies.map((a) => `<option value="${esc(a.id)}">${esc(a.name)} (${esc(a.id)})</option>`).join('')}</select></label>
      <form id="policy" class="form">
        <fieldset>
          <legend>Withheld: counted, never shown</legend>
          ${WITHHOLDABLE.map((c) => `<label class="check"><input type="checkbox" name="withhold" value="${c}"> ${esc(c.replaceAll('_', ' '))}</label>`).join('')}
        </fieldset>
        <div class="row">
          <label>Addresses become <select name="block_size"><option value="100">hundred blocks</option><option value="1000">thousand blocks</option></select></label>
          <label>Map points snap to cells of resolution <input name="snap_resolution" type="number" min="0" max="10"></label>
          <label>Publish after (minutes) <input name="delay_minutes" type="number" min="0" max="10080"></label>
          <label>Narratives <select name="free_text"><option value="drop">dropped</option><option value="scrub">scrubbed of people</option></select></label>
          <label>Responding units <select name="units"><option value="drop">not shown</option><option value="publish">shown</option></select></label>
        </div>
        <label>A sample of your data (CSV, as your feed gives it) <input type="file" name="sample" accept=".csv,text/csv"></label>
        <p class="help">The sample is read in memory with your mapping and this policy, and stored nowhere.</p>
        <p class="error" role="alert" id="policy-error"></p>
        <button type="submit">Preview</button>
      </form>
      <div id="preview" aria-live="polite"></div>
    </section>
    <section class="card" aria-labelledby="feed-title">
      <h2 id="feed-title">Feed</h2>
      <div id="feed"></div>
    </section>`;

  const officers = app.querySelector('#officers');
  const loadOfficers = async () => {
    const { members } = await portalCall('GET', `/v1/portal/agencies/${account.agency}/officers`);
    officers.innerHTML = members
      .map(
        (m) => `<li data-account="${m.id}">${esc(m.display_name)} <span class="meta">${esc(m.email)} · ${esc(m.role.replaceAll('_', ' '))}</span>
          ${m.role === 'officer' ? '<button type="button" class="remove">Remove</button>' : ''}</li>`,
      )
      .join('');
  };
  officers.addEventListener('click', async (event) => {
    if (!event.target.matches('button.remove')) return;
    await portalCall('DELETE', `/v1/portal/agencies/${account.agency}/officers/${event.target.closest('li').dataset.account}`);
    await loadOfficers();
  });
  app.querySelector('#add-officer').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    try {
      await portalCall('POST', `/v1/portal/agencies/${account.agency}/officers`, { email: form.email.value });
      form.reset();
      await loadOfficers();
    } catch (error) {
      form.querySelector('.error').textContent = error.message;
    }
  });
  await loadOfficers();

  const form = app.querySelector('#policy');
  const select = app.querySelector('#agency');
  let current = null;
  const loadPolicy = async () => {
    const id = select.value;
    const policy = await getJson(`/v1/agencies/${encodeURIComponent(id)}/policy`).catch(() => null);
    current = policy?.current?.policy || null;
    if (current) {
      const withheld = new Set(current.withhold || []);
      form.querySelectorAll('input[name="withhold"]').forEach((box) => {
        box.checked = withheld.has(box.value);
      });
      form.block_size.value = String(current.location?.block_size ?? 100);
      form.snap_resolution.value = String(current.coordinates?.snap_resolution ?? 10);
      form.delay_minutes.value = String(current.publication?.delay_minutes ?? 10);
      form.free_text.value = current.free_text === 'scrub' ? 'scrub' : 'drop';
      form.units.value = current.units === 'publish' ? 'publish' : 'drop';
    }
    const feed = app.querySelector('#feed');
    try {
      const f = await getJson(`/v1/agencies/${encodeURIComponent(id)}/feed`);
      const s = f.state || {};
      const t = s.totals || {};
      const lag = s.last_success_at ? Math.round((Date.now() - Date.parse(s.last_success_at)) / 60000) : null;
      feed.innerHTML = `<dl class="head">
          <dt>Source</dt><dd>${esc(f.kind)} <code class="wrap">${esc(f.url)}</code>, every ${f.every_seconds} s</dd>
          <dt>Status</dt><dd id="feed-status">${esc(s.status || 'not polled yet')}${s.consecutive_failures ? `, ${s.consecutive_failures} failures in a row` : ''}</dd>
          <dt>Last poll</dt><dd>${s.last_poll_at ? esc(when(s.last_poll_at)) : 'never'}</dd>
          <dt>Lag</dt><dd>${lag === null ? 'no successful poll yet' : `${lag} minutes since the last successful poll`}</dd>
          <dt>Last error</dt><dd>${s.last_error ? `${esc(s.last_error)} (${esc(when(s.last_error_at))})` : 'none'}</dd>
          <dt>Rows</dt><dd>${t.rows ?? 0} read: ${t.published ?? 0} published, ${t.withheld ?? 0} withheld, ${t.rejected ?? 0} rejected</dd>
        </dl>
        ${(s.recent_problems || []).length ? `<h3>Latest rejected rows</h3><ul>${s.recent_problems.map((p) => `<li><code>${esc(p)}</code></li>`).join('')}</ul>` : ''}`;
    } catch {
      feed.innerHTML = '<p>These calls are imported or pushed, not polled from a portal.</p>';
    }
  };
  select.addEventListener('change', loadPolicy);
  await loadPolicy();

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const error = app.querySelector('#policy-error');
    error.textContent = '';
    const file = form.sample.files[0];
    if (!file) {
      error.textContent = 'Choose a sample of your data (a CSV file) first.';
      return;
    }
    const edited = structuredClone(current || {});
    edited.withhold = [...form.querySelectorAll('input[name="withhold"]:checked')].map((b) => b.value);
    edited.location = { ...(edited.location || {}), block_size: Number(form.block_size.value) };
    edited.coordinates = { ...(edited.coordinates || {}), snap_resolution: Number(form.snap_resolution.value) };
    edited.publication = { ...(edited.publication || {}), delay_minutes: Number(form.delay_minutes.value) };
    edited.free_text = form.free_text.value;
    edited.units = form.units.value;
    let answer;
    try {
      answer = await postJson(`/v1/agencies/${encodeURIComponent(select.value)}/policy/preview`, { policy: edited, csv: await file.text() });
    } catch (e) {
      error.textContent = `No preview: ${e.message}`;
      return;
    }
    const s = answer.summary;
    const withheld = Object.values(s.withheld).reduce((a, b) => a + b, 0);
    const rejected = Object.values(s.rejected).reduce((a, b) => a + (b.count || 0), 0);
    const blob = URL.createObjectURL(new Blob([answer.toml], { type: 'application/toml' }));
    app.querySelector('#preview').innerHTML = `<h3>Under this policy, of ${s.rows} rows</h3>
      <dl class="head">
        <dt>Published</dt><dd id="preview-published">${s.published + s.updated + s.unchanged + s.units_merged}</dd>
        <dt>Withheld</dt><dd id="preview-withheld">${withheld}</dd>
        <dt>Rejected</dt><dd>${rejected}</dd>
      </dl>
      <table><caption>Withheld, by reason</caption><tbody>${Object.entries(s.withheld)
        .map(([reason, n]) => `<tr><th scope="row">${esc(reason)}</th><td>${n}</td></tr>`)
        .join('')}</tbody></table>
      <table id="preview-sample"><caption>What the public would see</caption>
        <thead><tr><th scope="col">Category</th><th scope="col">Call</th><th scope="col">Place</th></tr></thead>
        <tbody>${answer.sample
          .map((r) => `<tr><td>${esc(r.category)}</td><td>${esc(r.call_type)}</td><td>${esc(r.location)}</td></tr>`)
          .join('')}</tbody></table>
      <p>To put it in force: <a href="${blob}" download="policy.toml">download policy.toml</a>, then
        <code>porchlight policy set --agency ${esc(select.value)} --approved-by "..." policy.toml</code>.
        Every version is published in the transparency log with who approved it.</p>`;
  });
}
