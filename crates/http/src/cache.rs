//! Public pages kept for a moment (issue 13's load target): the same public read asked many
//! times a second is made once. A page is kept for [`FRESH_FOR`] at most, and never past a
//! change this process made to the incidents (the store's write count is part of the key), so
//! another process's change shows within a second: far less than any publication delay, and
//! less than the `max-age` the pages already allow any cache on the way.
//!
//! Requests that arrive while a page is being made wait for it rather than make it again. Only
//! GETs are kept, and only 2xx, 3xx and 4xx answers; a 5xx is answered to whoever waited for it
//! and then forgotten. Weak ETags are answered here: `If-None-Match` never reaches a handler.
//!
//! Must never: key a page by anything but its path and query (no header, no credential), or be
//! put in front of a route whose answer depends on who asks.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::OnceCell;

use porchlight_store::Store;

/// How long a page is kept.
pub const FRESH_FOR: Duration = Duration::from_secs(1);
/// At most this many pages, and none larger than [`MAX_PAGE`]: 64 MB at the very most.
const MAX_PAGES: usize = 256;
const MAX_PAGE: usize = 256 * 1024;

/// The pages, by path and query.
pub struct Pages {
    /// This process's count of changes to what the pages show.
    writes: Box<dyn Fn() -> u64 + Send + Sync>,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

struct Slot {
    made: Instant,
    writes: u64,
    page: OnceCell<Page>,
}

#[derive(Clone)]
struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Pages {
    /// Pages of the store's incidents, kept until this process changes them.
    pub fn of(store: Store) -> Arc<Self> {
        Self::new(move || store.incident_writes())
    }

    fn new(writes: impl Fn() -> u64 + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self { writes: Box::new(writes), slots: Mutex::default() })
    }

    /// The slot for `key`: a fresh one if the kept one is older than [`FRESH_FOR`] or older
    /// than this process's last change to the incidents; `None` when full of fresh pages.
    fn slot(&self, key: &str, writes: u64) -> Option<Arc<Slot>> {
        let mut slots = self.slots.lock().expect("the page cache's lock is never poisoned");
        let now = Instant::now();
        let fresh = |s: &Slot| s.writes == writes && now.duration_since(s.made) < FRESH_FOR;
        if let Some(slot) = slots.get(key).filter(|s| fresh(s)) {
            return Some(slot.clone());
        }
        if slots.len() >= MAX_PAGES {
            slots.retain(|_, s| fresh(s));
            if slots.len() >= MAX_PAGES {
                return None;
            }
        }
        let slot = Arc::new(Slot { made: now, writes, page: OnceCell::new() });
        slots.insert(key.to_owned(), slot.clone());
        Some(slot)
    }

    fn forget(&self, key: &str, slot: &Arc<Slot>) {
        let mut slots = self.slots.lock().expect("the page cache's lock is never poisoned");
        if slots.get(key).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            slots.remove(key);
        }
    }
}

/// The middleware: answer from the kept page, or make it once.
pub async fn keep(State(pages): State<Arc<Pages>>, request: Request, next: Next) -> Response {
    if request.method() != Method::GET {
        return next.run(request).await;
    }
    let key =
        request.uri().path_and_query().map_or_else(|| request.uri().path().to_owned(), |p| p.to_string());
    let Some(slot) = pages.slot(&key, (pages.writes)()) else {
        return next.run(request).await;
    };
    let (mut parts, body) = request.into_parts();
    let asked = parts.headers.remove(header::IF_NONE_MATCH);
    let request = Request::from_parts(parts, body);
    let page = slot.page.get_or_init(|| make(next, request)).await.clone();
    if page.status.is_server_error() || page.body.len() > MAX_PAGE {
        pages.forget(&key, &slot);
    }
    answer(page, asked.as_ref())
}

/// Run the handler and read its answer whole, with a weak ETag if it has none.
async fn make(next: Next, request: Request) -> Page {
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "a page could not be read");
            return Page {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                headers: HeaderMap::new(),
                body: Bytes::from_static(
                    b"{\"error\":{\"code\":\"internal\",\"message\":\"internal error\"}}",
                ),
            };
        }
    };
    let mut headers = parts.headers;
    if parts.status == StatusCode::OK && !headers.contains_key(header::ETAG) {
        let mut hash = std::collections::hash_map::DefaultHasher::new();
        body.hash(&mut hash);
        if let Ok(etag) = HeaderValue::from_str(&format!("W/\"{:016x}\"", hash.finish())) {
            headers.insert(header::ETAG, etag);
        }
    }
    Page { status: parts.status, headers, body }
}

fn answer(page: Page, asked: Option<&HeaderValue>) -> Response {
    let etag = page.headers.get(header::ETAG).and_then(|v| v.to_str().ok());
    let unchanged = match (asked.and_then(|v| v.to_str().ok()), etag) {
        (Some(asked), Some(etag)) if page.status == StatusCode::OK => {
            asked.split(',').any(|t| t.trim() == etag || t.trim() == "*")
        }
        _ => false,
    };
    if unchanged {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        for name in [header::ETAG, header::CACHE_CONTROL, header::LINK] {
            if let Some(value) = page.headers.get(&name) {
                response.headers_mut().insert(name, value.clone());
            }
        }
        return response;
    }
    let mut response = Response::new(Body::from(page.body));
    *response.status_mut() = page.status;
    *response.headers_mut() = page.headers;
    response
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use axum::Router;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    /// A router whose one page counts how often it is made, and answers `status`.
    fn app(writes: Arc<AtomicU64>, made: Arc<AtomicUsize>, status: StatusCode) -> Router {
        let pages = Pages::new(move || writes.load(Ordering::SeqCst));
        let page = move |headers: HeaderMap| {
            let made = made.clone();
            async move {
                assert!(!headers.contains_key(header::IF_NONE_MATCH), "the handler never sees If-None-Match");
                tokio::time::sleep(Duration::from_millis(50)).await;
                let n = made.fetch_add(1, Ordering::SeqCst);
                (status, format!("page {n}"))
            }
        };
        Router::new()
            .route("/page", get(page.clone()).post(page))
            .route_layer(axum::middleware::from_fn_with_state(pages, keep))
    }

    async fn ask(app: &Router, method: Method, tag: Option<&str>) -> (StatusCode, Option<String>, String) {
        let mut request = Request::builder().method(method).uri("/page?x=1");
        if let Some(tag) = tag {
            request = request.header(header::IF_NONE_MATCH, tag);
        }
        let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let etag = response.headers().get(header::ETAG).map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, etag, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_page_asked_at_once_by_many_is_made_once_and_kept_a_moment() {
        let (writes, made) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicUsize::new(0)));
        let app = app(writes.clone(), made.clone(), StatusCode::OK);
        let answers = futures_util::future::join_all((0..50).map(|_| ask(&app, Method::GET, None))).await;
        assert_eq!(made.load(Ordering::SeqCst), 1);
        assert!(answers.iter().all(|a| a.0 == StatusCode::OK && a.2 == "page 0"));
        // A weak ETag, and 304 for whoever has it.
        let etag = answers[0].1.clone().expect("an ETag");
        assert!(etag.starts_with("W/\""), "{etag}");
        let (status, again, body) = ask(&app, Method::GET, Some(&etag)).await;
        assert_eq!(
            (status, again.as_deref(), body.as_str()),
            (StatusCode::NOT_MODIFIED, Some(etag.as_str()), "")
        );
        // This process changes the incidents: the next ask makes the page again, at once.
        writes.fetch_add(1, Ordering::SeqCst);
        assert_eq!(ask(&app, Method::GET, None).await.2, "page 1");
        assert_eq!(ask(&app, Method::GET, Some(&etag)).await.0, StatusCode::OK, "the page changed");
        // Kept no longer than FRESH_FOR.
        tokio::time::sleep(FRESH_FOR).await;
        assert_eq!(ask(&app, Method::GET, None).await.2, "page 2");
        // Only GETs are kept.
        assert_eq!(ask(&app, Method::POST, None).await.2, "page 3");
        assert_eq!(ask(&app, Method::POST, None).await.2, "page 4");
    }

    #[tokio::test]
    async fn a_server_error_is_not_kept() {
        let (writes, made) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicUsize::new(0)));
        let app = app(writes, made.clone(), StatusCode::SERVICE_UNAVAILABLE);
        for n in 0..3 {
            let (status, etag, body) = ask(&app, Method::GET, None).await;
            assert_eq!((status, etag, body), (StatusCode::SERVICE_UNAVAILABLE, None, format!("page {n}")));
        }
    }
}
