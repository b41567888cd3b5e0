//! The log's HTTP endpoints, in the style of Certificate Transparency (RFC 6962 section 4):
//! the latest signed head, entries by range, an inclusion proof by leaf hash or index, a
//! consistency proof between two sizes, the public key; and the transparency report as JSON
//! and as a web page. All public and read-only.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::Hash;
use crate::db::{Ledger, LedgerError};
use crate::report::Tally;

/// The most entries one `get-entries` answers with.
pub const MAX_ENTRIES: u64 = 1000;

#[derive(Clone)]
struct Api {
    ledger: Ledger,
    tally: Arc<tokio::sync::Mutex<Tally>>,
}

/// The routes, under `/v1/log` and `/v1/transparency` (the report as JSON and as a plain page
/// that needs no script; the web app draws it with charts at `/transparency`).
/// The log's routes, with their OpenAPI description.
pub fn router(ledger: Ledger) -> OpenApiRouter {
    let api = Api { ledger, tally: Arc::new(tokio::sync::Mutex::new(Tally::default())) };
    OpenApiRouter::new()
        .routes(routes!(get_sth))
        .routes(routes!(get_consistency))
        .routes(routes!(get_proof_by_hash))
        .routes(routes!(get_entry_and_proof))
        .routes(routes!(get_entries))
        .routes(routes!(get_key))
        .routes(routes!(report_json))
        .routes(routes!(report_page))
        .with_state(api)
}

struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code, message: message.into() }
    }
    fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self { status: StatusCode::NOT_FOUND, code, message: message.into() }
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        tracing::error!(error = %e, "transparency log");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "the log could not be read".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

fn hashes(proof: &[Hash]) -> Vec<String> {
    proof.iter().map(|h| B64.encode(h)).collect()
}

/// The size a proof is asked for: at most the latest signed head's, so proofs always match
/// a head an auditor can fetch.
async fn signed_size(ledger: &Ledger) -> Result<u64, ApiError> {
    // Another process may feed the log.
    ledger.catch_up().await?;
    Ok(ledger.latest_head().await?.map_or(0, |h| h.tree_size))
}

#[utoipa::path(get, path = "/v1/log/get-sth", tag = "transparency log", responses((status = 200, description = "The latest signed tree head (RFC 6962 shape, Ed25519)", body = Object), (status = 404, description = "The log has not signed a head yet")))]
async fn get_sth(State(api): State<Api>) -> Result<Response, ApiError> {
    match api.ledger.latest_head().await? {
        Some(head) => Ok(Json(head).into_response()),
        None => Err(ApiError::not_found("no_head", "the log has not signed a tree head yet")),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ConsistencyQuery {
    first: u64,
    second: u64,
}

#[utoipa::path(get, path = "/v1/log/get-sth-consistency", tag = "transparency log", params(ConsistencyQuery), responses((status = 200, description = "The consistency proof: base64 hashes under `consistency`", body = Object), (status = 400, description = "A parameter is missing or out of range")))]
async fn get_consistency(
    State(api): State<Api>,
    Query(q): Query<ConsistencyQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let signed = signed_size(&api.ledger).await?;
    if q.first > q.second || q.second > signed {
        return Err(ApiError::bad_request(
            "bad_range",
            format!("first must be at most second, and second at most the signed size {signed}"),
        ));
    }
    let proof = api
        .ledger
        .consistency_proof(q.first, q.second)
        .ok_or_else(|| ApiError::bad_request("bad_range", "no such sizes"))?;
    Ok(Json(serde_json::json!({"consistency": hashes(&proof)})))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ProofByHashQuery {
    hash: String,
    tree_size: u64,
}

#[derive(Serialize, ToSchema)]
#[schema(as = LogInclusionProof)]
struct ProofBody {
    leaf_index: u64,
    audit_path: Vec<String>,
}

#[utoipa::path(get, path = "/v1/log/get-proof-by-hash", tag = "transparency log", params(ProofByHashQuery), responses((status = 200, description = "The leaf index and audit path", body = ProofBody), (status = 400, description = "A parameter is missing or out of range"), (status = 404, description = "No entry with that leaf hash in a tree of that size")))]
async fn get_proof_by_hash(
    State(api): State<Api>,
    Query(q): Query<ProofByHashQuery>,
) -> Result<Json<ProofBody>, ApiError> {
    let leaf: Hash = B64
        .decode(&q.hash)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ApiError::bad_request("bad_hash", "hash: not 32 bytes of base64"))?;
    let signed = signed_size(&api.ledger).await?;
    if q.tree_size > signed {
        return Err(ApiError::bad_request(
            "bad_size",
            format!("tree_size: larger than the signed size {signed}"),
        ));
    }
    let index = api.ledger.index_of(&leaf);
    let Some(index) = index.filter(|i| *i < q.tree_size) else {
        return Err(ApiError::not_found("not_found", "no entry with that leaf hash in a tree of that size"));
    };
    let proof = api.ledger.inclusion_proof(index, q.tree_size).expect("index below size");
    Ok(Json(ProofBody { leaf_index: index, audit_path: hashes(&proof) }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct EntryAndProofQuery {
    leaf_index: u64,
    tree_size: u64,
}

#[utoipa::path(get, path = "/v1/log/get-entry-and-proof", tag = "transparency log", params(EntryAndProofQuery), responses((status = 200, description = "The entry's exact text under `entry`, and its audit path (base64 hashes)", body = Object), (status = 400, description = "A parameter is missing or out of range")))]
async fn get_entry_and_proof(
    State(api): State<Api>,
    Query(q): Query<EntryAndProofQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let signed = signed_size(&api.ledger).await?;
    if q.leaf_index >= q.tree_size || q.tree_size > signed {
        return Err(ApiError::bad_request(
            "bad_range",
            format!("leaf_index must be below tree_size, and tree_size at most the signed size {signed}"),
        ));
    }
    let entry = api.ledger.entries(q.leaf_index, q.leaf_index + 1).await?.pop().unwrap_or_default();
    let proof = api.ledger.inclusion_proof(q.leaf_index, q.tree_size).expect("checked");
    Ok(Json(serde_json::json!({"entry": entry, "audit_path": hashes(&proof)})))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct EntriesQuery {
    start: u64,
    end: u64,
}

/// Entries `start..=end` (inclusive, as CT's), at most [`MAX_ENTRIES`], each the exact text
/// the log hashed, as a JSON string.
#[utoipa::path(get, path = "/v1/log/get-entries", tag = "transparency log", params(EntriesQuery), responses((status = 200, description = "The exact text of each entry, under `entries`", body = Object), (status = 400, description = "A parameter is missing or out of range")))]
async fn get_entries(
    State(api): State<Api>,
    Query(q): Query<EntriesQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if q.start > q.end {
        return Err(ApiError::bad_request("bad_range", "start must be at most end"));
    }
    let end = q.end.min(q.start.saturating_add(MAX_ENTRIES - 1));
    let entries = api.ledger.entries(q.start, end + 1).await?;
    Ok(Json(serde_json::json!({"entries": entries})))
}

#[utoipa::path(get, path = "/v1/log/key", tag = "transparency log", responses((status = 200, description = "The log's public key", body = Object)))]
async fn get_key(State(api): State<Api>) -> Result<Json<serde_json::Value>, ApiError> {
    let Some(signer) = api.ledger.signer() else {
        return Err(ApiError::not_found("no_key", "the log has no signing key"));
    };
    Ok(Json(serde_json::json!({"algorithm": "Ed25519", "public_key": signer.public_key().to_base64()})))
}

/// Bring the report up to the signed head: fold the entries not yet folded.
async fn tally(api: &Api) -> Result<(crate::report::Report, u64, Option<String>), ApiError> {
    let head = api.ledger.latest_head().await?;
    let size = head.as_ref().map_or(0, |h| h.tree_size);
    let mut tally = api.tally.lock().await;
    while tally.len() < size {
        let start = tally.len();
        let end = size.min(start + 10_000);
        let entries = api.ledger.entries(start, end).await?;
        if entries.is_empty() {
            break;
        }
        for entry in &entries {
            tally.add(entry);
        }
    }
    Ok((tally.report(), size, head.map(|h| h.sha256_root_hash)))
}

#[utoipa::path(get, path = "/v1/transparency/report", tag = "transparency log", responses((status = 200, description = "Figures per agency and month, folded from the log up to its signed head", body = Object)))]
async fn report_json(State(api): State<Api>) -> Result<Json<serde_json::Value>, ApiError> {
    let (report, size, root) = tally(&api).await?;
    Ok(Json(serde_json::json!({
        "tree_size": size,
        "sha256_root_hash": root,
        "agencies": report.agencies,
    })))
}

#[utoipa::path(get, path = "/v1/transparency/report.html", tag = "transparency log", responses((status = 200, description = "The same report as a plain page", content_type = "text/html", body = String)))]
async fn report_page(State(api): State<Api>) -> Result<Html<String>, ApiError> {
    let (report, size, root) = tally(&api).await?;
    Ok(Html(report.to_html(size, root.as_deref())))
}
