// A subscription's alerts: those recorded so far, then each new one as it comes (SSE).
import { swatch, esc, getJson, when } from './api.js';

export async function livePage(app, id) {
  const secret = sessionStorage.getItem(`porchlight.secret.${id}`);
  const notify = sessionStorage.getItem(`porchlight.notify.${id}`);
  app.innerHTML = `
    <h1>Your alerts</h1>
    <p class="lead">Keep this page open to see alerts as they come. Its address is your
      subscription: keep it private, and bookmark it to come back.</p>
    ${secret ? `<p class="note">Your webhook's signing secret, shown once: <code>${esc(secret)}</code></p>` : ''}
    ${notify ? `<p class="note" id="notify">${esc(notify)}</p>` : ''}
    <p>Also as an <a href="/v1/subscriptions/${encodeURIComponent(id)}/alerts.atom">Atom feed</a> for a feed reader (its address is as private as this page's).</p>
    <p id="status" class="status" role="status">Connecting…</p>
    <ol id="alerts" class="alerts" aria-live="polite"></ol>`;
  const list = app.querySelector('#alerts');
  const status = app.querySelector('#status');
  const show = (alert) => {
    if (list.querySelector(`[data-alert="${alert.id}"]`)) return;
    const i = alert.incident;
    const item = document.createElement('li');
    item.dataset.alert = alert.id;
    item.className = `alert ${alert.kind}`;
    item.innerHTML = `${swatch(i.category)}
      <strong>${alert.kind === 'new' ? '' : `${esc(alert.kind === 'update' ? 'Update' : 'Retracted')}: `}${esc(
        i.call_type,
      )}</strong>, ${esc(i.location.text)}
      <span class="meta"><time datetime="${esc(alert.created_at)}">${esc(when(alert.created_at))}</time> ·
        <a href="/incidents/${i.id}">the call's story</a></span>
      <span class="context">${esc(alert.context)}</span>`;
    list.prepend(item);
  };
  try {
    const past = await getJson(`/v1/subscriptions/${encodeURIComponent(id)}/alerts?limit=50`);
    past.alerts.forEach(show);
  } catch (error) {
    status.textContent = `This subscription cannot be read: ${error.message}`;
    return;
  }
  const stream = new EventSource(`/v1/subscriptions/${encodeURIComponent(id)}/alerts/stream`);
  stream.addEventListener('open', () => {
    status.textContent = list.children.length ? 'Live.' : 'Live. No alerts yet.';
  });
  stream.addEventListener('alert', (event) => {
    show(JSON.parse(event.data));
    status.textContent = 'Live.';
  });
  stream.addEventListener('error', () => {
    status.textContent = 'Reconnecting…';
  });
  window.addEventListener('porchlight:leave', () => stream.close(), { once: true });
}
