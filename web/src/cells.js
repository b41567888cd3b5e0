// Private mode: the H3 cells of resolution 7 (about 5 km² each) that cover a circle, computed
// here, so that only the cells leave the browser, never the point.
import { cellToLatLng, getHexagonEdgeLengthAvg, gridDisk, latLngToCell } from 'h3-js';

export const RESOLUTION = 7;

function metres(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b[0] - a[0]) * rad;
  const dLon = (b[1] - a[1]) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a[0] * rad) * Math.cos(b[0] * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.sqrt(h));
}

// Every cell whose area may reach within `radius` metres of (lat, lon): those whose centre is
// within the radius plus a cell's reach.
export function coveringCells(lat, lon, radius) {
  const edge = getHexagonEdgeLengthAvg(RESOLUTION, 'm');
  const k = Math.ceil(radius / (1.5 * edge)) + 1;
  const centre = latLngToCell(lat, lon, RESOLUTION);
  return gridDisk(centre, k).filter((cell) => metres([lat, lon], cellToLatLng(cell)) <= radius + edge);
}
