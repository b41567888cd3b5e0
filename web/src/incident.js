// One incident and its story: every version as it was published.
import { categoryColour, swatch, categoryLabel, esc, getJson, when } from './api.js';
import { L, drawBasemap, makeMap } from './map.js';

export async function incidentPage(app, id) {
  app.innerHTML = '<p>Loading…</p>';
  let story;
  try {
    story = await getJson(`/v1/incidents/${encodeURIComponent(id)}/versions`);
  } catch (error) {
    app.innerHTML = `<h1>Call not found</h1><p role="alert">${esc(error.message)}</p><p><a href="/">Back to the map</a></p>`;
    return;
  }
  const versions = story.versions;
  const latest = versions[versions.length - 1];
  app.innerHTML = `
    <p><a href="/">← All calls</a></p>
    <h1>${swatch(latest.category)}${esc(latest.call_type)}</h1>
    <p class="lead">${esc(latest.location.text)} · ${esc(categoryLabel(latest.category))} · ${esc(latest.agency)}</p>
    <p class="context">${esc(latest.context)}</p>
    ${latest.closure ? `<p class="closure"><strong>Closed as ${esc(latest.closure.replaceAll('_', ' '))}.</strong></p>` : ''}
    <div id="map" class="map small"></div>
    <h2>What was published, and when</h2>
    <ol class="story">
      ${versions
        .map(
          (v) => `<li><time datetime="${esc(v.updated_at)}">${esc(when(v.updated_at))}</time>:
            ${esc(v.call_type)}${v.status ? ` — ${esc(v.status)}` : ''}
            <span class="meta">version ${v.version}, under policy version ${v.policy_version}</span></li>`,
        )
        .join('')}
    </ol>
    <p class="help">Received <time datetime="${esc(latest.received_at)}">${esc(when(latest.received_at))}</time>.
      The point on the map is the centre of a block-sized cell, not where the call came from.</p>`;
  const map = await makeMap(app.querySelector('#map'), 'Where the call was, to the block');
  if (latest.point) {
    const here = [latest.point.lat, latest.point.lon];
    drawBasemap(map, L.latLngBounds([here, here]).pad(8), L.layerGroup().addTo(map));
    L.circleMarker(here, { radius: 9, color: '#fff', weight: 2, fillColor: categoryColour(latest.category), fillOpacity: 0.95 }).addTo(map);
    map.setView(here, 15);
  }
}
