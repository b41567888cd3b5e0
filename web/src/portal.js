// The video-request portal's pages: signing in, a camera owner's cameras and inbox (share a
// clip with progress, or decline), an officer's requests (an area drawn on the map, the
// limits checked as you type, moderation followed, shared clips), and the moderators' queue.
// Sessions are the portal's HttpOnly cookie; the CSRF token it answers with is kept for this
// tab only.
import { esc, when } from './api.js';
import { L, fitToCalls, makeMap } from './map.js';

const CSRF = 'porchlight.csrf';

export async function portalCall(method, path, body) {
  return call(method, path, body);
}

async function call(method, path, body) {
  const headers = { accept: 'application/json' };
  const csrf = sessionStorage.getItem(CSRF);
  if (csrf) headers['x-csrf-token'] = csrf;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const answer = await response.json();
      if (answer.error) message = answer.error.message;
    } catch {
      // not JSON
    }
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return response.status === 204 ? null : response.json();
}

export async function me() {
  try {
    const who = await call('GET', '/v1/portal/me');
    return who.kind === 'account' ? who : null;
  } catch {
    return null;
  }
}

function go(path) {
  history.pushState(null, '', path);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

// Where each role starts.
function home(account) {
  return { officer: '/officer', agency_admin: '/agency', moderator: '/moderation', platform_admin: '/admin' }[account.role] || '/cameras';
}

async function signedIn(app, role) {
  const account = await me();
  if (!account) {
    app.innerHTML = `<h1>Sign in first</h1><p><a href="/account">Sign in or create an account</a> to see this page.</p>`;
    return null;
  }
  if (role && !role.includes(account.role)) {
    app.innerHTML = `<h1>Not for your account</h1><p>This page is for ${esc(role.join(' or ').replaceAll('_', ' '))}s.</p>`;
    return null;
  }
  return account;
}

export async function accountPage(app) {
  const account = await me();
  if (account) {
    app.innerHTML = `<h1>Your account</h1>
      <p>Signed in as <strong>${esc(account.display_name)}</strong> (${esc(account.role.replaceAll('_', ' '))}${
        account.agency ? `, ${esc(account.agency)}` : ''
      }).</p>
      <p><a href="${home(account)}">Go to your page</a></p>
      <button type="button" id="sign-out">Sign out</button>`;
    app.querySelector('#sign-out').addEventListener('click', async () => {
      await call('DELETE', '/v1/portal/sessions').catch(() => {});
      sessionStorage.removeItem(CSRF);
      go('/account');
    });
    return;
  }
  app.innerHTML = `<h1>Sign in</h1>
    <p class="lead">Camera owners decide what to share; police ask, in public, for a bounded place and time.</p>
    <div class="split">
      <form id="sign-in" class="form card">
        <h2>I have an account</h2>
        <label>E-mail <input name="email" type="email" autocomplete="username" required></label>
        <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
        <p class="error" role="alert"></p>
        <button type="submit">Sign in</button>
      </form>
      <form id="register" class="form card">
        <h2>Create an account</h2>
        <label>Name shown <input name="display_name" autocomplete="nickname" required></label>
        <label>E-mail <input name="email" type="email" autocomplete="email" required></label>
        <label>Password (12 characters or more) <input name="password" type="password" minlength="12" autocomplete="new-password" required></label>
        <p class="error" role="alert"></p>
        <button type="submit">Create the account</button>
      </form>
    </div>`;
  const signIn = async (email, password) => {
    const session = await call('POST', '/v1/portal/sessions', { email, password });
    sessionStorage.setItem(CSRF, session.csrf_token);
    go(home(session.account));
  };
  app.querySelector('#sign-in').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    try {
      await signIn(form.email.value, form.password.value);
    } catch (error) {
      form.querySelector('.error').textContent = error.message;
    }
  });
  app.querySelector('#register').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    try {
      await call('POST', '/v1/portal/accounts', { email: form.email.value, password: form.password.value, display_name: form.display_name.value });
      await signIn(form.email.value, form.password.value);
    } catch (error) {
      form.querySelector('.error').textContent = error.message;
    }
  });
}

export async function camerasPage(app) {
  if (!(await signedIn(app, ['resident']))) return;
  app.innerHTML = `<h1>My cameras</h1>
    <p class="lead">Where your cameras are is shown to you only. When police ask for footage of a place and
      time that one of them covers, the request appears in your <a href="/inbox">inbox</a>; you choose.</p>
    <form id="camera" class="form">
      <div id="map" class="map small"></div>
      <p class="help" id="camera-help">Click the map where the camera is, or type the point.</p>
      <div class="row">
        <label>Name <input name="name" required placeholder="Porch"></label>
        <label>Latitude <input name="lat" inputmode="decimal" required aria-describedby="camera-help"></label>
        <label>Longitude <input name="lon" inputmode="decimal" required aria-describedby="camera-help"></label>
      </div>
      <p class="error" role="alert"></p>
      <button type="submit">Add the camera</button>
    </form>
    <h2>Registered</h2>
    <ul id="cameras" class="incidents"></ul>`;
  const form = app.querySelector('#camera');
  const map = await makeMap(app.querySelector('#map'), 'Map: click where your camera is');
  await fitToCalls(map);
  const layer = L.layerGroup().addTo(map);
  map.on('click', (event) => {
    form.lat.value = event.latlng.lat.toFixed(5);
    form.lon.value = event.latlng.lng.toFixed(5);
  });
  const list = app.querySelector('#cameras');
  const load = async () => {
    const { cameras } = await call('GET', '/v1/portal/cameras');
    layer.clearLayers();
    list.innerHTML = cameras.length
      ? cameras
          .map(
            (c) => `<li data-camera="${c.id}"><strong>${esc(c.name)}</strong> ${c.paused ? '(paused)' : ''}
              <span class="meta">${c.lat.toFixed(4)}, ${c.lon.toFixed(4)}</span>
              <button type="button" data-act="${c.paused ? 'resume' : 'pause'}">${c.paused ? 'Resume' : 'Pause'}</button>
              <button type="button" data-act="delete">Delete</button></li>`,
          )
          .join('')
      : '<li>No cameras yet.</li>';
    cameras.forEach((c) => L.circleMarker([c.lat, c.lon], { radius: 7, color: '#1f5fa8' }).addTo(layer));
    if (cameras.length) map.setView([cameras[0].lat, cameras[0].lon], 14);
  };
  list.addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-act]');
    if (!button) return;
    const id = button.closest('li').dataset.camera;
    const act = button.dataset.act;
    await call(act === 'delete' ? 'DELETE' : 'POST', act === 'delete' ? `/v1/portal/cameras/${id}` : `/v1/portal/cameras/${id}/${act}`, act === 'delete' ? undefined : {});
    await load();
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await call('POST', '/v1/portal/cameras', { name: form.name.value, lat: Number(form.lat.value), lon: Number(form.lon.value) });
      form.reset();
      await load();
    } catch (error) {
      form.querySelector('.error').textContent = error.message;
    }
  });
  await load();
}

function requestSummary(r) {
  return `<strong>${esc(r.incident_type.replaceAll('_', ' '))}</strong>, case ${esc(r.case_number)} (${esc(r.agency)})
    <span class="meta">footage from <time datetime="${esc(r.window_start)}">${esc(when(r.window_start))}</time>
      to <time datetime="${esc(r.window_end)}">${esc(when(r.window_end))}</time></span>
    <span class="context">${esc(r.description)}</span>`;
}

export async function inboxPage(app) {
  if (!(await signedIn(app, ['resident']))) return;
  app.innerHTML = `<h1>Requests for footage</h1>
    <p class="lead">Approved requests whose area covers one of your cameras. Police never learn who
      declined or ignored a request; they see only the clips you share.</p>
    <ol id="requests" class="incidents"></ol>`;
  const list = app.querySelector('#requests');
  const load = async () => {
    const { requests } = await call('GET', '/v1/portal/inbox');
    list.innerHTML = requests.length
      ? requests
          .map(
            ({ request: r }) => `<li data-request="${r.id}">${requestSummary(r)}
              <form class="share">
                <label>Video file <input type="file" name="clip" accept="video/*" required></label>
                <label>Shared as <input name="shared_as" value="A neighbour" required></label>
                <button type="submit">Share the clip</button>
                <progress max="100" value="0" aria-label="Upload progress" hidden></progress>
                <span class="status" role="status"></span>
              </form>
              <button type="button" class="decline">Decline</button></li>`,
          )
          .join('')
      : '<li>No requests for your cameras.</li>';
  };
  list.addEventListener('click', async (event) => {
    if (!event.target.matches('button.decline')) return;
    const id = event.target.closest('li').dataset.request;
    await call('POST', `/v1/portal/requests/${id}/decline`);
    await load();
  });
  list.addEventListener('submit', (event) => {
    event.preventDefault();
    const form = event.target;
    const id = form.closest('li').dataset.request;
    const file = form.clip.files[0];
    const status = form.querySelector('.status');
    if (!file) {
      status.textContent = 'Choose a video file first.';
      return;
    }
    const progress = form.querySelector('progress');
    progress.hidden = false;
    // XMLHttpRequest: fetch cannot report an upload's progress.
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/v1/portal/requests/${id}/clips?shared_as=${encodeURIComponent(form.shared_as.value)}`);
    xhr.setRequestHeader('content-type', file.type || 'video/mp4');
    xhr.setRequestHeader('x-csrf-token', sessionStorage.getItem(CSRF) || '');
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) progress.value = Math.round((100 * e.loaded) / e.total);
    });
    xhr.addEventListener('load', () => {
      if (xhr.status === 201) {
        const clip = JSON.parse(xhr.responseText);
        progress.value = 100;
        status.textContent = `Shared. Its SHA-256 is ${clip.sha256}.`;
      } else {
        let message = `${xhr.status}`;
        try {
          message = JSON.parse(xhr.responseText).error.message;
        } catch {
          // not JSON
        }
        status.textContent = `Not shared: ${message}`;
      }
    });
    xhr.addEventListener('error', () => {
      status.textContent = 'Not shared: the connection failed.';
    });
    xhr.send(file);
  });
  await load();
}

// A request's limits, as the portal enforces them, checked as the officer types.
const SQ_MI = 2_589_988.11;
export function requestProblems({ radius, start, end }, now = Date.now()) {
  const problems = [];
  const area = Math.PI * radius * radius;
  if (!(area >= 0.025 * SQ_MI && area <= 0.5 * SQ_MI)) {
    problems.push(`The area is ${(area / SQ_MI).toFixed(3)} square miles; it must be 0.025 to 0.5 (a radius of 143 m to 641 m).`);
  }
  const s = Date.parse(start);
  const e = Date.parse(end);
  if (Number.isNaN(s) || Number.isNaN(e)) {
    problems.push('Give the start and the end of the time window.');
  } else {
    const minutes = (e - s) / 60000;
    if (minutes < 15 || minutes > 720) problems.push(`The window is ${Math.round(minutes)} minutes; it must be 15 minutes to 12 hours.`);
    if (e > now) problems.push('The window must be in the past.');
    if (s < now - 30 * 86400e3) problems.push('The window can start at most 30 days ago.');
  }
  return problems;
}

const local = (ms) => {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
};

export async function officerPage(app) {
  const account = await signedIn(app, ['officer', 'agency_admin']);
  if (!account) return;
  const agency = account.agency;
  const { incident_types: types } = await call('GET', '/v1/portal/taxonomy');
  const now = Date.now();
  app.innerHTML = `<h1>Requests for footage: ${esc(agency)}</h1>
    <p class="lead">A request names a case, a small area and a short window in the past. A moderator
      reviews it; once approved it is public, and camera owners in the area decide.</p>
    <form id="request" class="form card" novalidate>
      <h2>New request</h2>
      <div id="map" class="map small"></div>
      <p class="help" id="area-help">Click the map for the area's centre, then set its radius.</p>
      <div class="row">
        <label>Latitude <input name="lat" inputmode="decimal" required aria-describedby="area-help"></label>
        <label>Longitude <input name="lon" inputmode="decimal" required aria-describedby="area-help"></label>
        <label>Radius (metres) <input name="radius_m" type="number" min="143" max="641" value="300"></label>
      </div>
      <div class="row">
        <label>From <input name="window_start" type="datetime-local" value="${local(now - 2 * 3600e3)}"></label>
        <label>To <input name="window_end" type="datetime-local" value="${local(now - 3600e3)}"></label>
      </div>
      <div class="row">
        <label>Case number <input name="case_number" required></label>
        <label>Incident type <select name="incident_type">${types.map((t) => `<option value="${esc(t)}">${esc(t.replaceAll('_', ' '))}</option>`).join('')}</select></label>
      </div>
      <label>What happened (no one's appearance) <textarea name="description" rows="3" required></textarea></label>
      <label>Contact for owners <input name="contact" required></label>
      <ul id="problems" class="error" aria-live="polite"></ul>
      <p class="error" role="alert" id="refused"></p>
      <button type="submit">Send for moderation</button>
    </form>
    <h2>This agency's requests</h2>
    <ol id="requests" class="incidents"></ol>`;
  const form = app.querySelector('#request');
  const map = await makeMap(app.querySelector('#map'), 'Map: click the centre of the area');
  await fitToCalls(map);
  let circle;
  const draw = () => {
    const lat = Number(form.lat.value);
    const lon = Number(form.lon.value);
    if (circle) circle.remove();
    if (form.lat.value && form.lon.value) {
      circle = L.circle([lat, lon], { radius: Number(form.radius_m.value) || 0, color: '#7d1a8c' }).addTo(map);
    }
  };
  const check = () => {
    const problems = requestProblems({ radius: Number(form.radius_m.value), start: form.window_start.value, end: form.window_end.value });
    app.querySelector('#problems').innerHTML = problems.map((p) => `<li>${esc(p)}</li>`).join('');
    form.querySelector('button[type="submit"]').disabled = problems.length > 0;
    draw();
  };
  map.on('click', (event) => {
    form.lat.value = event.latlng.lat.toFixed(5);
    form.lon.value = event.latlng.lng.toFixed(5);
    check();
  });
  form.addEventListener('input', check);
  const list = app.querySelector('#requests');
  const load = async () => {
    const { requests } = await call('GET', `/v1/portal/agencies/${agency}/requests/all`);
    list.innerHTML = requests.length
      ? requests
          .map(
            (r) => `<li data-request="${r.id}">${requestSummary(r)}
              <span class="meta">State: <strong class="state">${esc(r.state)}</strong>${r.reason ? `: ${esc(r.reason)}` : ''}</span>
              ${r.state === 'approved' ? '<button type="button" class="clips">Shared clips</button><ul class="clip-list"></ul>' : ''}</li>`,
          )
          .join('')
      : '<li>No requests yet.</li>';
  };
  list.addEventListener('click', async (event) => {
    if (!event.target.matches('button.clips')) return;
    const item = event.target.closest('li');
    const { clips } = await call('GET', `/v1/portal/agencies/${agency}/requests/${item.dataset.request}/clips`);
    item.querySelector('.clip-list').innerHTML = clips.length
      ? clips
          .map((c) => `<li><a href="${esc(c.download_url)}" download>${esc(c.shared_as)}</a> <span class="meta">${c.size} bytes, SHA-256 <code>${esc(c.sha256)}</code></span></li>`)
          .join('')
      : '<li>No clips shared yet.</li>';
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    check();
    if (form.querySelector('button[type="submit"]').disabled) return;
    try {
      await call('POST', `/v1/portal/agencies/${agency}/requests`, {
        case_number: form.case_number.value,
        incident_type: form.incident_type.value,
        area: { lat: Number(form.lat.value), lon: Number(form.lon.value), radius_m: Number(form.radius_m.value) },
        window_start: new Date(form.window_start.value).toISOString(),
        window_end: new Date(form.window_end.value).toISOString(),
        description: form.description.value,
        contact: form.contact.value,
      });
      app.querySelector('#refused').textContent = '';
      await load();
    } catch (error) {
      app.querySelector('#refused').textContent = error.message;
    }
  });
  check();
  await load();
}

export async function moderationPage(app) {
  if (!(await signedIn(app, ['moderator']))) return;
  app.innerHTML = `<h1>Moderation</h1>
    <p class="lead">Approve a request only if it names a crime, a small area and a short window, and
      describes no one by appearance alone. Flagged requests cannot be approved.</p>
    <ol id="pending" class="incidents"></ol>`;
  const list = app.querySelector('#pending');
  const load = async () => {
    const { requests } = await call('GET', '/v1/portal/moderation');
    list.innerHTML = requests.length
      ? requests
          .map(
            (r) => `<li data-request="${r.id}">${requestSummary(r)}
              ${r.flags.length ? `<p class="error">Flagged: ${esc(r.flags.join('; '))}</p>` : ''}
              <button type="button" class="approve" ${r.flags.length ? 'disabled' : ''}>Approve</button>
              <form class="reject"><label>Reason for refusing <input name="reason" required></label><button type="submit">Refuse</button></form></li>`,
          )
          .join('')
      : '<li>Nothing waits for moderation.</li>';
  };
  list.addEventListener('click', async (event) => {
    if (!event.target.matches('button.approve')) return;
    await call('POST', `/v1/portal/requests/${event.target.closest('li').dataset.request}/approve`, {});
    await load();
  });
  list.addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    await call('POST', `/v1/portal/requests/${form.closest('li').dataset.request}/reject`, { reason: form.reason.value });
    await load();
  });
  await load();
}
