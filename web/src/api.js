// Talking to Porchlight's own API, on the same origin.

export async function getJson(path) {
  const response = await fetch(path, { headers: { accept: 'application/json' } });
  if (!response.ok) {
    throw new Error(await errorText(response));
  }
  return response.json();
}

export async function postJson(path, body) {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    throw new Error(await errorText(response));
  }
  return response.status === 204 ? null : response.json();
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (body && body.error) {
      return body.error.message;
    }
  } catch {
    // not JSON
  }
  return `${response.status} ${response.statusText}`;
}

// Categories a resident can be alerted of, with the words the pages use.
export const CATEGORIES = [
  ['violent', 'Violence'],
  ['weapons', 'Weapons'],
  ['fire', 'Fire'],
  ['hazard', 'Hazards'],
  ['property', 'Property crime'],
  ['suspicious', 'Suspicious activity'],
  ['traffic', 'Traffic'],
  ['disorder', 'Disorder and noise'],
  ['public_service', 'Public service'],
];

const LABELS = Object.fromEntries(CATEGORIES);

export function categoryLabel(category) {
  return LABELS[category] || category.replaceAll('_', ' ');
}

// A colour per category, readable on white and distinct enough on the map.
const COLOURS = {
  violent: '#b3261e',
  weapons: '#7d1a8c',
  fire: '#c25400',
  hazard: '#8a6d00',
  property: '#1f5fa8',
  suspicious: '#2e6b3a',
  traffic: '#4a4a4a',
  disorder: '#6b4f2a',
  public_service: '#00677a',
};

export function categoryColour(category) {
  return COLOURS[category] || '#555555';
}

// A category's colour swatch: a class (style.css), not a style attribute, which the pages'
// Content-Security-Policy (no inline styles) would refuse.
export function swatch(category) {
  const known = Object.hasOwn(COLOURS, category) ? category : 'other';
  return `<span class="swatch cat-${known}"></span>`;
}

export function when(iso) {
  const date = new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

// Text into HTML, escaped.
export function esc(text) {
  return String(text ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');
}
