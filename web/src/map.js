// Maps without any tile server: with no tile URL configured, a plain basemap is drawn from
// what the page shows (the extent of the incidents, with a light grid every kilometre or so);
// with one (`porchlight serve --map-tiles URL`), its tiles.
import L from 'leaflet';
import 'leaflet/dist/leaflet.css';
import { getJson } from './api.js';

let config;

export async function appConfig() {
  if (!config) {
    config = await getJson('/app/config.json').catch(() => ({}));
  }
  return config;
}

export async function makeMap(element, label) {
  const { tiles, attribution } = await appConfig();
  element.setAttribute('role', 'region');
  element.setAttribute('aria-label', label);
  const map = L.map(element, { zoomSnap: 0.5, attributionControl: Boolean(tiles) });
  if (tiles) {
    L.tileLayer(tiles, { attribution: attribution || '', maxZoom: 19 }).addTo(map);
  } else {
    element.classList.add('plain-basemap');
  }
  L.control.scale({ imperial: true, metric: true }).addTo(map);
  // The plain basemap lies under every marker.
  map.createPane('basemap').style.zIndex = '250';
  map.setView([39.5, -98.35], 4);
  return map;
}

// The plain basemap for `bounds`: the area shaded, grid lines about every 0.01 degree.
export function drawBasemap(map, bounds, layer) {
  if (map.getContainer().classList.contains('plain-basemap') === false) {
    return;
  }
  layer.clearLayers();
  const padded = bounds.pad(1.5);
  L.rectangle(padded, { pane: 'basemap', color: '#9aa5b1', weight: 1, fillColor: '#eef1f4', fillOpacity: 1, interactive: false }).addTo(layer);
  const south = padded.getSouth();
  const north = padded.getNorth();
  const west = padded.getWest();
  const east = padded.getEast();
  const step = Math.max(0.01, (north - south) / 12);
  const grid = { pane: 'basemap', color: '#d5dbe1', weight: 1, interactive: false };
  for (let lat = Math.ceil(south / step) * step; lat < north; lat += step) {
    L.polyline([[lat, west], [lat, east]], grid).addTo(layer);
  }
  for (let lon = Math.ceil(west / step) * step; lon < east; lon += step) {
    L.polyline([[south, lon], [north, lon]], grid).addTo(layer);
  }
}

// The bounds of most of the points: a city's data holds a few calls geocoded hundreds of
// miles away, which must not shrink the city to a dot. Beyond twenty points, the 5th to 95th
// percentile of each coordinate, widened a little.
export function mainBounds(points) {
  if (points.length <= 20) {
    return L.latLngBounds(points);
  }
  const pick = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    return [at(0.05), at(0.95)];
  };
  const [south, north] = pick(points.map((p) => p[0]));
  const [west, east] = pick(points.map((p) => p[1]));
  return L.latLngBounds([south, west], [north, east]).pad(0.1);
}

// Centre a map on the published calls (most of them), with the plain basemap under them:
// where a resident or an officer starts choosing a point.
export async function fitToCalls(map) {
  try {
    const { incidents } = await getJson('/v1/incidents?limit=300');
    const points = incidents.filter((i) => i.point).map((i) => [i.point.lat, i.point.lon]);
    if (points.length) {
      const bounds = mainBounds(points);
      drawBasemap(map, bounds, L.layerGroup().addTo(map));
      map.fitBounds(bounds);
    }
  } catch {
    // an empty map still takes clicks
  }
}

export { L };
