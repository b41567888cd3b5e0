//! Prometheus metrics at `GET /metrics`: rows ingested by outcome, each polled feed's last
//! success (its lag), the matcher's time per call, delivery attempts by channel and outcome,
//! and the queues' depths, read from the store at each scrape. Labels come from closed sets
//! (outcomes, channel kinds) or are an agency's id: never an address, a person's id or free
//! text (`tests/it/formats.rs` checks every label of a real scrape).

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use porchlight_store::Store;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use.
fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full("porchlight_match_seconds".into()),
                &[0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1],
            )
            .expect("valid buckets")
            .install_recorder()
            .expect("one metrics recorder per process")
    })
}

/// Install the recorder (before anything records).
pub fn install() {
    handle();
}

/// Rows that reached an outcome: published, updated, unchanged, units_merged, withheld or
/// rejected.
pub fn ingested(outcome: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!("porchlight_ingest_rows_total", "outcome" => outcome).increment(n);
    }
}

/// The route, beside the API.
pub fn router(store: Store) -> utoipa_axum::router::OpenApiRouter {
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(scrape)).with_state(store)
}

/// Prometheus metrics in the text exposition format: rows ingested by outcome, each polled
/// feed's last success, the matcher's time per call, delivery attempts by channel and outcome,
/// the queues' depths. No label holds an address, a person's id or free text.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String)))]
async fn scrape(State(store): State<Store>) -> impl IntoResponse {
    match store.queue_depths().await {
        Ok((outbox, deliveries)) => {
            metrics::gauge!("porchlight_outbox_pending").set(outbox as f64);
            metrics::gauge!("porchlight_deliveries_pending").set(deliveries as f64);
        }
        Err(e) => tracing::error!(error = %e, "reading the queues' depths for /metrics"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle().render())
}
