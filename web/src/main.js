// Porchlight's web app: one page per path, drawn from the public API.
import './style.css';
import { incidentPage } from './incident.js';
import { incidentsPage } from './incidents.js';
import { livePage } from './live.js';
import { adminPage } from './admin.js';
import { agencyPage } from './agency.js';
import { docsPage } from './docs.js';
import { accountPage, camerasPage, inboxPage, moderationPage, officerPage } from './portal.js';
import { subscribePage } from './subscribe.js';
import { transparencyPage } from './transparency.js';

const app = document.getElementById('app');

const routes = [
  [/^\/$/, () => incidentsPage(app), 'Recent calls'],
  [/^\/incidents\/([^/]+)$/, (id) => incidentPage(app, id), 'A call'],
  [/^\/subscribe$/, () => subscribePage(app), 'Get alerts'],
  [/^\/alerts\/([^/]+)$/, (id) => livePage(app, id), 'Your alerts'],
  [/^\/transparency$/, () => transparencyPage(app), 'Transparency'],
  [/^\/account$/, () => accountPage(app), 'Your account'],
  [/^\/cameras$/, () => camerasPage(app), 'My cameras'],
  [/^\/inbox$/, () => inboxPage(app), 'Requests for footage'],
  [/^\/officer$/, () => officerPage(app), 'Requests for footage'],
  [/^\/moderation$/, () => moderationPage(app), 'Moderation'],
  [/^\/agency$/, () => agencyPage(app), 'Your agency'],
  [/^\/admin$/, () => adminPage(app), 'Platform administration'],
  [/^\/api$/, () => docsPage(app), 'API'],
];

async function render() {
  window.dispatchEvent(new Event('porchlight:leave'));
  // `data-ready` names the page once drawn (tests wait for it); not while drawing.
  delete app.dataset.ready;
  const path = location.pathname;
  for (const [pattern, page, title] of routes) {
    const match = path.match(pattern);
    if (match) {
      document.title = `${title} · Porchlight`;
      document.querySelectorAll('[data-nav]').forEach((a) => {
        if (a.getAttribute('href') === path) a.setAttribute('aria-current', 'page');
        else a.removeAttribute('aria-current');
      });
      app.innerHTML = '';
      await page(...match.slice(1).map(decodeURIComponent));
      app.dataset.ready = path;
      return;
    }
  }
  app.innerHTML = '<h1>Not found</h1><p><a href="/">Back to the map</a></p>';
  app.dataset.ready = path;
}

// Links within the app change the page without reloading it.
document.addEventListener('click', (event) => {
  const link = event.target.closest('a');
  if (!link || link.origin !== location.origin || link.target || event.metaKey || event.ctrlKey) return;
  if (!routes.some(([pattern]) => pattern.test(link.pathname))) return;
  event.preventDefault();
  history.pushState(null, '', link.pathname + link.search);
  render().then(() => app.focus());
});
window.addEventListener('popstate', () => render());
render();
