//! The HTTP API: the only crate that knows JSON and HTTP.
//!
//! Each module owns its routes; request and response bodies live here, apart from the domain
//! types, so changing the wire format never changes the core. Errors have a stable machine code,
//! a human message, and never carry internals.

mod agencies;
mod channels;
mod error;
mod incidents;
mod push;
mod subscriptions;
mod syndication;

use std::future::Future;

use axum::{Router, extract::MatchedPath, http::Request, routing::get};
use porchlight_alerts::Alerts;
use porchlight_store::Store;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

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

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(agencies::router())
        .merge(channels::router())
        .merge(incidents::router())
        .merge(push::router())
        .merge(subscriptions::router())
        .merge(syndication::router())
        .fallback(|| async { ApiError::not_found("route_not_found", "no such route") })
        .layer(
            // Spans name the route template, never the URI: subscription ids are credentials
            // and query strings can hold a resident's coordinates.
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
                tracing::info_span!("http", method = %req.method(), route)
            }),
        )
        .with_state(state)
}

/// Serve the API, and `beside` it (the portal's routes, which this crate does not know),
/// until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    beside: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, beside.merge(router(state))).with_graceful_shutdown(shutdown).await
}
