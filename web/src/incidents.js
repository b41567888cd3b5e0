// The public map and list of recent incidents, filtered by category and time.
import { CATEGORIES, categoryColour, categoryLabel, swatch, esc, getJson, when } from './api.js';
import { L, drawBasemap, mainBounds, makeMap } from './map.js';

const PERIODS = [
  ['24', 'Last 24 hours'],
  ['168', 'Last 7 days'],
  ['720', 'Last 30 days'],
  ['all', 'Any time'],
];

export async function incidentsPage(app) {
  const params = new URLSearchParams(location.search);
  const period = params.get('hours') || 'all';
  const chosen = new Set((params.get('categories') || '').split(',').filter(Boolean));
  app.innerHTML = `
    <h1>Recent calls</h1>
    <form class="filters" id="filters" aria-describedby="filters-help">
      <p id="filters-help" class="help">Each call is shown at its block or intersection, never a house.</p>
      <fieldset>
        <legend>Categories</legend>
        ${CATEGORIES.map(
          ([id, label]) => `<label class="check"><input type="checkbox" name="category" value="${id}" ${
            chosen.size === 0 || chosen.has(id) ? 'checked' : ''
          }> ${swatch(id)}${esc(label)}</label>`,
        ).join('')}
      </fieldset>
      <label>Time <select name="hours">${PERIODS.map(
        ([value, label]) => `<option value="${value}" ${value === period ? 'selected' : ''}>${label}</option>`,
      ).join('')}</select></label>
      <button type="submit">Show</button>
    </form>
    <div class="split">
      <div id="map" class="map"></div>
      <section aria-labelledby="list-title" class="list">
        <h2 id="list-title">Calls <span id="count"></span></h2>
        <ol id="incidents" class="incidents"></ol>
      </section>
    </div>
    <section aria-labelledby="data-title" class="card">
      <h2 id="data-title">The same calls in open formats</h2>
      <ul id="formats"></ul>
    </section>`;
  const form = app.querySelector('#filters');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const categories = data.getAll('category');
    const query = new URLSearchParams();
    if (data.get('hours') !== 'all') query.set('hours', data.get('hours'));
    if (categories.length !== CATEGORIES.length) query.set('categories', categories.join(','));
    history.pushState(null, '', `/${query.toString() ? `?${query}` : ''}`);
    window.dispatchEvent(new PopStateEvent('popstate'));
  });

  const formats = new URLSearchParams();
  if (period !== 'all') formats.set('since', new Date(Date.now() - Number(period) * 3600 * 1000).toISOString());
  if (chosen.size) formats.set('category', [...chosen].join(','));
  const agencies = await getJson('/v1/agencies').then((a) => a.agencies).catch(() => []);
  app.querySelector('#formats').innerHTML = [
    `<li><a href="/v1/incidents.geojson?${formats}">GeoJSON</a> of these calls, for maps and analysis</li>`,
    `<li><a href="/v1/cap.atom">CAP 1.2 alerts</a> (an Atom feed of Common Alerting Protocol messages)</li>`,
    ...agencies.map((a) => `<li><a href="/v1/agencies/${encodeURIComponent(a.id)}/incidents.atom">Atom feed of ${esc(a.name)}</a> for feed readers</li>`),
  ].join('');
  const map = await makeMap(app.querySelector('#map'), 'Map of the calls listed');
  const base = L.layerGroup().addTo(map);
  const points = L.layerGroup().addTo(map);
  const query = new URLSearchParams({ limit: '500' });
  if (period !== 'all') {
    query.set('since', new Date(Date.now() - Number(period) * 3600 * 1000).toISOString());
  }
  const list = app.querySelector('#incidents');
  let incidents;
  try {
    incidents = (await getJson(`/v1/incidents?${query}`)).incidents;
  } catch (error) {
    list.innerHTML = `<li role="alert">Could not load calls: ${esc(error.message)}</li>`;
    return;
  }
  const shown = incidents.filter((i) => chosen.size === 0 || chosen.has(i.category));
  app.querySelector('#count').textContent = `(${shown.length})`;
  list.innerHTML = shown.length
    ? shown
        .map(
          (i) => `<li><a href="/incidents/${i.id}">${swatch(i.category)}<strong>${esc(i.call_type)}</strong></a>
          <span class="meta">${esc(categoryLabel(i.category))} · ${esc(i.location.text)} · <time datetime="${esc(
            i.received_at,
          )}">${esc(when(i.received_at))}</time></span>
          <span class="context">${esc(i.context)}</span></li>`,
        )
        .join('')
    : '<li>No calls match.</li>';
  const located = shown.filter((i) => i.point);
  for (const i of located) {
    L.circleMarker([i.point.lat, i.point.lon], {
      radius: 6,
      color: '#ffffff',
      weight: 1,
      fillColor: categoryColour(i.category),
      fillOpacity: 0.9,
    })
      .bindPopup(`<a href="/incidents/${i.id}">${esc(i.call_type)}</a><br>${esc(i.location.text)}`)
      .addTo(points);
  }
  if (located.length) {
    const bounds = mainBounds(located.map((i) => [i.point.lat, i.point.lon]));
    drawBasemap(map, bounds, base);
    map.fitBounds(bounds.pad(0.05));
  }
}
