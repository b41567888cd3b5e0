// Porchlight's service worker: shows each alert pushed to this browser as a notification
// (one per call: an update or a retraction replaces the call's earlier notification), and
// opens the call's page when the notification is clicked. It caches nothing.
self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { title: 'Porchlight', body: event.data ? event.data.text() : '' };
  }
  const title = data.kind === 'retraction' ? `Retracted: ${data.title}` : data.kind === 'update' ? `Update: ${data.title}` : data.title;
  event.waitUntil(
    self.registration.showNotification(title || 'Porchlight alert', {
      body: data.body || '',
      tag: data.incident ? `incident-${data.incident}` : undefined,
      renotify: Boolean(data.incident),
      data: { url: data.url || '/' },
    }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(self.clients.openWindow(event.notification.data.url));
});
