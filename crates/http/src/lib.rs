//! The HTTP API: the only crate that knows JSON and HTTP.
//!
//! Each module owns its routes; request and response bodies live here, apart from the domain
//! types, so changing the wire format never changes the core. Errors have a stable machine code,
//! a human message, and never carry internals.

mod agencies;
mod cache;
mod channels;
mod error;
mod incidents;
pub mod limits;
mod push;
mod subscriptions;
mod syndication;

use std::future::Future;

use axum::{Router, extract::MatchedPath, http::Request, routing::get};
use porchlight_alerts::Alerts;
use porchlight_store::Store;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use error::ApiError;
pub use push::{
    IngestError, IngestFuture, Ingestor, PreviewFuture, PushedRecords, RecordOutcome, SharedIngestor,
};
pub use subscriptions::AlertBody;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub alerts: Alerts,
    /// Takes pushed records; `None` serves no pushes.
    pub ingestor: Option<SharedIngestor>,
    /// The Web Push public key (base64url) browsers subscribe with; `None` sends no Web Push.
    pub push_key: Option<String>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("push", &self.ingestor.is_some()).finish_non_exhaustive()
    }
}

/// Whether the server is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Up", content_type = "text/plain", body = String)))]
async fn healthz() -> &'static str {
    "ok"
}

/// The incident world's API, with its OpenAPI description.
pub fn api(state: AppState) -> OpenApiRouter {
    // The incidents are the public pages read most; the same page asked again within a second
    // is answered from memory.
    let pages = cache::Pages::of(state.store.clone());
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .merge(agencies::router())
        .merge(channels::router())
        .merge(incidents::router().route_layer(axum::middleware::from_fn_with_state(pages, cache::keep)))
        .merge(push::router())
        .merge(subscriptions::router())
        .merge(syndication::router())
        .with_state(state)
}

/// The OpenAPI 3.1 document of everything `routes` serves that is documented, under
/// Porchlight's name.
fn describe(routes: OpenApiRouter) -> (Router, utoipa::openapi::OpenApi) {
    let (router, mut doc) = routes.split_for_parts();
    doc.info = utoipa::openapi::InfoBuilder::new()
        .title("Porchlight")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Public 911 calls under each agency's published privacy policy, alerts for residents, \
             video requests that camera owners choose to answer, and a public transparency log. \
             The same API for residents, the press and researchers.",
        ))
        .license(Some(utoipa::openapi::License::new("AGPL-3.0-or-later")))
        .build();
    (router, doc)
}

/// The whole server: the incident world's API, and `beside` it the routes this crate does not
/// know (the portal's, the transparency log's, the web app's), with `GET /openapi.json`
/// describing every documented route of both.
pub fn router(
    state: AppState,
    beside: OpenApiRouter,
    limiter: std::sync::Arc<limits::RateLimiter>,
) -> Router {
    use axum::http::{HeaderValue, header};
    let secure = |name: header::HeaderName, value: &'static str| {
        tower_http::set_header::SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    let (router, doc) = describe(beside.merge(api(state)));
    let json = axum::body::Bytes::from(doc.to_json().expect("the OpenAPI document serializes"));
    router
        .route(
            "/openapi.json",
            get(move || {
                std::future::ready(([(axum::http::header::CONTENT_TYPE, "application/json")], json.clone()))
            }),
        )
        .fallback(|| async { ApiError::not_found("route_not_found", "no such route") })
        .layer(axum::middleware::from_fn_with_state(limiter.clone(), limits::limit))
        .layer(axum::middleware::from_fn(limits::headers_within))
        // On every answer, 429s, 503s and 404s too: no MIME sniffing; no `Referer` (a
        // subscription's id in a page's URL is its only credential, and must not leave with a
        // click); never framed; a window of its own. (HSTS belongs to whatever terminates TLS
        // in front.)
        .layer(secure(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(secure(header::REFERRER_POLICY, "no-referrer"))
        .layer(secure(header::X_FRAME_OPTIONS, "DENY"))
        .layer(secure(header::HeaderName::from_static("cross-origin-opener-policy"), "same-origin"))
        // Outside the rate limits: a flood is shed before any of it is looked at.
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(limits::overloaded))
                .load_shed()
                .concurrency_limit(limiter.limits.in_flight.max(1)),
        )
        .layer(
            // Spans name the route template, never the URI: subscription ids are credentials
            // and query strings can hold a resident's coordinates.
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
                tracing::info_span!("http", method = %req.method(), route)
            }),
        )
}

/// Serve the API, and `beside` it (the portal's routes, which this crate does not know),
/// until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    beside: OpenApiRouter,
    limits: limits::Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state, beside, limits::RateLimiter::new(limits));
    // The client's address, for the rate limits.
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
