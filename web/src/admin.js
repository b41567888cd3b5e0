// The platform administrator's page: agencies (add, verify, appoint their administrator)
// and moderators. Every grant of power here is written to the transparency log.
import { esc } from './api.js';
import { me, portalCall } from './portal.js';

export async function adminPage(app) {
  const account = await me();
  if (!account || account.role !== 'platform_admin') {
    app.innerHTML = `<h1>For the platform's administrators</h1><p><a href="/account">Sign in</a> as a platform administrator to see this page.</p>`;
    return;
  }
  app.innerHTML = `<h1>Platform administration</h1>
    <p class="lead">Nothing of an agency works until it is verified. Each agency, administrator and
      moderator you add here is published in the <a href="/transparency">transparency log</a>.</p>
    <section class="card" aria-labelledby="agencies-title">
      <h2 id="agencies-title">Agencies</h2>
      <ul id="agencies" class="incidents"></ul>
      <form id="new-agency" class="row">
        <label>Id <input name="id" required placeholder="milwaukee-pd"></label>
        <label>Name <input name="name" required placeholder="Milwaukee Police Department"></label>
        <button type="submit">Add the agency</button>
        <p class="error" role="alert"></p>
      </form>
      <form id="agency-admin" class="row">
        <label>Agency <select name="agency" id="admin-agency"></select></label>
        <label>E-mail of a resident account <input name="email" type="email" required></label>
        <button type="submit">Make them its administrator</button>
        <p class="error" role="alert"></p>
      </form>
    </section>
    <section class="card" aria-labelledby="moderators-title">
      <h2 id="moderators-title">Moderators</h2>
      <form id="moderator" class="row">
        <label>E-mail of a resident account <input name="email" type="email" required></label>
        <button type="submit">Make them a moderator</button>
        <p class="error" role="alert"></p>
        <p class="status" role="status"></p>
      </form>
    </section>`;
  const list = app.querySelector('#agencies');
  const select = app.querySelector('#admin-agency');
  const load = async () => {
    const { agencies } = await portalCall('GET', '/v1/portal/agencies');
    list.innerHTML = agencies.length
      ? agencies
          .map(
            (a) => `<li data-agency="${esc(a.id)}"><strong>${esc(a.name)}</strong> <span class="meta">${esc(a.id)} ·
              ${a.verified ? 'verified' : 'not verified'}</span>
              ${a.verified ? '' : '<button type="button" class="verify">Verify</button>'}</li>`,
          )
          .join('')
      : '<li>No agencies yet.</li>';
    select.innerHTML = agencies.map((a) => `<option value="${esc(a.id)}">${esc(a.name)}</option>`).join('');
  };
  list.addEventListener('click', async (event) => {
    if (!event.target.matches('button.verify')) return;
    await portalCall('POST', `/v1/portal/agencies/${event.target.closest('li').dataset.agency}/verify`, {});
    await load();
  });
  const on = (id, action) =>
    app.querySelector(id).addEventListener('submit', async (event) => {
      event.preventDefault();
      const form = event.target;
      form.querySelector('.error').textContent = '';
      try {
        await action(form);
        form.reset();
        await load();
      } catch (error) {
        form.querySelector('.error').textContent = error.message;
      }
    });
  on('#new-agency', (form) => portalCall('POST', '/v1/portal/agencies', { id: form.id.value, name: form.name.value }));
  on('#agency-admin', (form) =>
    portalCall('POST', `/v1/portal/agencies/${encodeURIComponent(form.agency.value)}/admins`, { email: form.email.value }),
  );
  on('#moderator', async (form) => {
    const made = await portalCall('POST', '/v1/portal/moderators', { email: form.email.value });
    form.querySelector('.status').textContent = `${made.display_name} is a moderator.`;
  });
  await load();
}
