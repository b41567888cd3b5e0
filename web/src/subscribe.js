// Subscribing: a point (click the map, or type it), a radius, categories (the calm default
// pre-selected), quiet hours, and optionally an e-mail or a webhook; then the live page.
import { CATEGORIES, esc, getJson, postJson } from './api.js';
import { L, fitToCalls, makeMap } from './map.js';

const CALM = new Set(['violent', 'weapons', 'fire', 'hazard']);

export async function subscribePage(app) {
  app.innerHTML = `
    <h1>Get alerts for your area</h1>
    <p class="lead">Choose a place and what you want to hear about. By default you hear only of
      violence, weapons, fire and hazards near you: most calls are not dangers to neighbours.</p>
    <form id="subscribe" class="form" novalidate>
      <div id="map" class="map small"></div>
      <p class="help" id="map-help">Click the map to set your point, or type it.</p>
      <div class="row">
        <label>Latitude <input name="lat" inputmode="decimal" required aria-describedby="map-help"></label>
        <label>Longitude <input name="lon" inputmode="decimal" required aria-describedby="map-help"></label>
        <label>Radius (metres) <input name="radius_m" type="number" min="100" max="10000" step="50" value="500"></label>
      </div>
      <label class="check"><input type="checkbox" name="private"> Private mode: keep my exact point in this browser
        and send only the neighbourhood cells (about 5 km² each) around it</label>
      <fieldset>
        <legend>What to hear about</legend>
        ${CATEGORIES.map(
          ([id, label]) =>
            `<label class="check"><input type="checkbox" name="category" value="${id}" ${CALM.has(id) ? 'checked' : ''}> ${esc(label)}</label>`,
        ).join('')}
      </fieldset>
      <fieldset>
        <legend>Quiet hours (optional)</legend>
        <div class="row">
          <label>From <input name="quiet_from" type="time"></label>
          <label>To <input name="quiet_to" type="time"></label>
        </div>
        <p class="help">Alerts in quiet hours wait for your digest.</p>
      </fieldset>
      <fieldset>
        <legend>Also send them to (optional)</legend>
        <label class="check"><input type="checkbox" name="notify"> This browser's notifications, even with this page closed</label>
        <label>E-mail <input name="email" type="email" autocomplete="email"></label>
        <label>Webhook URL <input name="webhook" type="url" placeholder="https://"></label>
      </fieldset>
      <p id="error" role="alert" class="error"></p>
      <button type="submit">Subscribe</button>
    </form>`;
  const form = app.querySelector('#subscribe');
  const map = await makeMap(app.querySelector('#map'), 'Map: click to choose your point');
  let marker;
  const place = (lat, lon) => {
    form.lat.value = lat.toFixed(5);
    form.lon.value = lon.toFixed(5);
    const radius = Number(form.radius_m.value) || 500;
    if (marker) marker.remove();
    marker = L.circle([lat, lon], { radius, color: '#1f5fa8' }).addTo(map);
  };
  map.on('click', (event) => place(event.latlng.lat, event.latlng.lng));
  await fitToCalls(map);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const error = form.querySelector('#error');
    error.textContent = '';
    const data = new FormData(form);
    const lat = Number(data.get('lat'));
    const lon = Number(data.get('lon'));
    if (!data.get('lat') || !data.get('lon') || Number.isNaN(lat) || Number.isNaN(lon)) {
      error.textContent = 'Choose a point: click the map, or type a latitude and a longitude.';
      return;
    }
    const radius = Number(data.get('radius_m')) || 500;
    const area = data.get('private')
      ? { cells: (await import('./cells.js')).coveringCells(lat, lon, radius) }
      : { lat, lon, radius_m: radius };
    const body = { ...area, categories: data.getAll('category'), min_severity: 'low' };
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (data.get('quiet_from') && data.get('quiet_to')) {
      body.pacing = { time_zone: tz, quiet_hours: [data.get('quiet_from'), data.get('quiet_to')] };
    }
    try {
      const made = await postJson('/v1/subscriptions', body);
      if (data.get('email')) {
        await postJson(`/v1/subscriptions/${made.id}/channels`, { kind: 'email', address: data.get('email') });
      }
      let secret = '';
      if (data.get('webhook')) {
        const hook = await postJson(`/v1/subscriptions/${made.id}/channels`, { kind: 'webhook', url: data.get('webhook') });
        secret = hook.secret || '';
      }
      if (data.get('notify')) {
        sessionStorage.setItem(`porchlight.notify.${made.id}`, await notifications(made.id));
      }
      const mine = JSON.parse(localStorage.getItem('porchlight.subscriptions') || '[]');
      mine.push(made.id);
      localStorage.setItem('porchlight.subscriptions', JSON.stringify(mine));
      if (secret) sessionStorage.setItem(`porchlight.secret.${made.id}`, secret);
      history.pushState(null, '', `/alerts/${made.id}`);
      window.dispatchEvent(new PopStateEvent('popstate'));
    } catch (e) {
      error.textContent = `Could not subscribe: ${e.message}`;
    }
  });
}

// Turn on this browser's notifications for a subscription: the service worker, the browser's
// push subscription with the server's VAPID key, and a Web Push channel. Says how it went.
async function notifications(id) {
  if (!('serviceWorker' in navigator) || !('PushManager' in window)) {
    return 'This browser cannot show notifications from a web page.';
  }
  try {
    if ((await Notification.requestPermission()) !== 'granted') {
      return 'Notifications were not allowed, so this browser will not show alerts when the page is closed.';
    }
    const registration = await navigator.serviceWorker.register('/sw.js');
    await navigator.serviceWorker.ready;
    const { public_key: key } = await getJson('/v1/push/key');
    const subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromBase64Url(key) });
    await postJson(`/v1/subscriptions/${id}/channels`, { kind: 'webpush', subscription: subscription.toJSON() });
    return 'This browser will show your alerts as notifications.';
  } catch (error) {
    return `Browser notifications could not be turned on (${error.message}); this page still shows alerts while open.`;
  }
}

function fromBase64Url(text) {
  const base64 = text.replaceAll('-', '+').replaceAll('_', '/').padEnd(Math.ceil(text.length / 4) * 4, '=');
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}
