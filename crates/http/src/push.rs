//! Push from a dispatch centre: `POST /v1/agencies/{id}/calls`.
//!
//! The body is one record, an array of records, or `{"records": [...]}`. A record is in
//! Porchlight's JSON form (the default), or in the agency's own field names read through its
//! mapping file (`?format=mapping`), or a NENA EIDO (`?format=eido`, or the content type
//! `application/emergencyCallData.eido+json`). It is signed: `X-Porchlight-Timestamp` (Unix seconds, within five minutes of now) and
//! `X-Porchlight-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">` with one of the
//! agency's live keys (`porchlight agency key`). The answer says, record by record, what
//! happened. The same record sent twice is stored once (the second is `unchanged`).

use std::{future::Future, pin::Pin, sync::Arc};

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::HeaderMap,
};
use chrono::{DateTime, Utc};
use porchlight_core::agency::AgencyId;
use porchlight_feeds::{Incoming, IncomingLocation};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{ApiError, AppState};

/// Records in one push at most.
pub const MAX_RECORDS: usize = 1000;

/// What happened to one pushed record.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct RecordOutcome {
    pub index: usize,
    /// published, updated, unchanged, withheld or rejected.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<Uuid>,
    /// Why it was withheld or rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

pub type IngestFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<RecordOutcome>, IngestError>> + Send + 'a>>;

/// What a policy would do to a sample, as `porchlight feeds check --json` prints it.
pub type PreviewFuture<'a> =
    Pin<Box<dyn Future<Output = Result<serde_json::Value, IngestError>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the agency has no mapping file; import a file with one first")]
    NoMapping,
    /// The policy or the sample cannot be read; the message names the field.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Internal(String),
}

/// Pushed records, read as far as HTTP can read them.
#[derive(Debug)]
pub enum PushedRecords {
    /// Porchlight's own form, or EIDOs: fields already named.
    Incoming(Vec<Incoming>),
    /// Objects in the agency's own field names, for its mapping to read.
    Mapped(Vec<serde_json::Value>),
}

/// Runs pushed records through the agency's mapping, its privacy policy and the store. The
/// binary provides it; this crate only knows HTTP.
pub trait Ingestor: Send + Sync + 'static {
    fn ingest(&self, agency: AgencyId, records: PushedRecords) -> IngestFuture<'_>;

    /// Run a sample (CSV text in the agency's own columns) through the agency's mapping and
    /// the policy `document` (a policy document's JSON), storing nothing.
    fn preview(&self, agency: AgencyId, document: serde_json::Value, csv: String) -> PreviewFuture<'_>;
}

/// How the records of a push are written.
/// How the records of a push are written: Porchlight's JSON form, the agency's own field
/// names read through its mapping, or NENA EIDO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, ToSchema)]
#[serde(rename_all = "snake_case")]
enum Format {
    #[default]
    Porchlight,
    Mapping,
    Eido,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PushParams {
    #[serde(default)]
    #[param(inline)]
    format: Option<Format>,
}

/// The content type NENA registers for an EIDO in JSON.
const EIDO_CONTENT_TYPE: &str = "application/emergencycalldata.eido+json";

pub type SharedIngestor = Arc<dyn Ingestor>;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(push))
}

/// A record in Porchlight's JSON form: `address` (a dispatch location string), or `number` and
/// `street`, or `cross_streets`, with coordinates where the centre has them.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PushRecord {
    incident_id: String,
    /// RFC 3339, with its offset.
    received_at: String,
    call_type: String,
    priority: Option<String>,
    status: Option<String>,
    address: Option<String>,
    number: Option<String>,
    street: Option<String>,
    cross_streets: Option<[String; 2]>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    narrative: Option<String>,
    /// The responding units ("B791").
    #[serde(default)]
    units: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PushBody {
    Wrapped { records: Vec<serde_json::Value> },
    Many(Vec<serde_json::Value>),
    One(Box<serde_json::Value>),
}

#[derive(Serialize, ToSchema)]
struct PushAnswer {
    accepted: usize,
    rejected: usize,
    records: Vec<RecordOutcome>,
}

fn unauthorized(code: &'static str, message: &str) -> ApiError {
    ApiError::new(axum::http::StatusCode::UNAUTHORIZED, code, message)
}

/// Check the signature against the agency's live keys.
fn verify(
    headers: &HeaderMap,
    body: &[u8],
    keys: &[(String, Vec<u8>)],
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    use porchlight_core::signature::{SignatureError, push};
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    push::verify(
        header("x-porchlight-timestamp"),
        header("x-porchlight-signature"),
        body,
        keys.iter().map(|(_, secret)| secret.as_slice()),
        now.timestamp(),
    )
    .map_err(|e| match e {
        SignatureError::MissingTimestamp => {
            unauthorized("missing_signature", "X-Porchlight-Timestamp is required")
        }
        SignatureError::MissingSignature => {
            unauthorized("missing_signature", "X-Porchlight-Signature: v1=<hex> is required")
        }
        SignatureError::BadTimestamp => {
            unauthorized("invalid_signature", "X-Porchlight-Timestamp must be Unix seconds")
        }
        SignatureError::Stale => {
            unauthorized("stale_timestamp", "the timestamp is more than five minutes from now")
        }
        SignatureError::NotHex => unauthorized("invalid_signature", "the signature is not hex"),
        SignatureError::Mismatch => unauthorized("invalid_signature", "the signature does not match"),
    })
}

/// Why a record is not of Porchlight's form, without quoting what it held: serde's messages
/// echo values ("invalid type: string \"5237 N 35TH ST\""), and a value may be an address.
fn shape_error(e: &serde_json::Error) -> String {
    let message = e.to_string();
    // These name a field (a key the centre chose), never a value.
    if message.starts_with("missing field") || message.starts_with("unknown field") {
        message.split(',').next().unwrap_or("").to_owned()
    } else {
        "not a record of Porchlight's form: a field holds a value of the wrong type".to_owned()
    }
}

fn incoming(record: PushRecord) -> Result<Incoming, String> {
    let received_at = DateTime::parse_from_rfc3339(record.received_at.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| "received_at: must be an RFC 3339 time with its offset".to_owned())?;
    Ok(Incoming {
        incident_id: record.incident_id,
        received_at: Some(received_at),
        call_type: record.call_type,
        priority: record.priority,
        status: record.status,
        location: IncomingLocation {
            address: record.address,
            number: record.number,
            street: record.street,
            cross_streets: record.cross_streets.map(|[a, b]| (a, b)),
            latitude: record.latitude,
            longitude: record.longitude,
            area: None,
        },
        narrative: record.narrative,
        units: record.units,
    })
}

#[utoipa::path(post, path = "/v1/agencies/{id}/calls", tag = "ingest",
    params(("id" = String, Path, description = "The agency's id"), PushParams,
        ("X-Porchlight-Timestamp" = String, Header, description = "Unix seconds, within five minutes of the server's clock"),
        ("X-Porchlight-Signature" = String, Header, description = "v1=<hex HMAC-SHA256 of \"<timestamp>.<body>\"> with one of the agency's live keys")),
    request_body(content = Vec<PushRecord>, description = "One record, an array of them (up to 1000), or {\"records\": [...]}"),
    responses(
        (status = 200, description = "What happened to each record", body = PushAnswer),
        (status = 400, description = "The body is not JSON, or a parameter is malformed", body = crate::error::ErrorBody),
        (status = 401, description = "The signature or timestamp is missing, stale or wrong", body = crate::error::ErrorBody),
        (status = 404, description = "No such agency", body = crate::error::ErrorBody),
        (status = 413, description = "More records than one push may carry", body = crate::error::ErrorBody),
    ))]
async fn push(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Result<Query<PushParams>, QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PushAnswer>, ApiError> {
    let Query(params) = params
        .map_err(|_| ApiError::bad_request("invalid_query", "format must be porchlight, mapping or eido"))?;
    let eido_typed = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case(EIDO_CONTENT_TYPE));
    let format = params.format.unwrap_or(if eido_typed { Format::Eido } else { Format::Porchlight });
    let not_found = || ApiError::not_found("agency_not_found", "no agency with this id");
    let agency = AgencyId::parse(&id).map_err(|_| not_found())?;
    state.store.agency(&agency).await?.ok_or_else(not_found)?;
    let keys = state.store.push_keys(&agency).await?;
    verify(&headers, &body, &keys, Utc::now())?;
    let Some(ingestor) = state.ingestor.clone() else {
        return Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "push_disabled",
            "this server takes no pushes",
        ));
    };

    let parsed: PushBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!(
                "not a record, an array of records, or {{\"records\": [...]}} (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    let values = match parsed {
        PushBody::Wrapped { records } | PushBody::Many(records) => records,
        PushBody::One(record) => vec![*record],
    };
    if values.len() > MAX_RECORDS {
        return Err(ApiError::bad_request(
            "too_many_records",
            format!("at most {MAX_RECORDS} records a push"),
        ));
    }
    // A record that is not even of the right shape is rejected here; the others go on.
    let mut outcomes: Vec<Option<RecordOutcome>> = vec![None; values.len()];
    let mut good = Vec::new();
    let mut good_index = Vec::new();
    let records = if format == Format::Mapping {
        good_index = (0..values.len()).collect();
        PushedRecords::Mapped(values)
    } else {
        for (index, value) in values.into_iter().enumerate() {
            let record = match format {
                Format::Eido => porchlight_feeds::eido::incoming_from_eido(&value)
                    .map_err(|e| format!("{}: {}", e.field, e.reason)),
                _ => serde_json::from_value::<PushRecord>(value)
                    .map_err(|e| shape_error(&e))
                    .and_then(incoming),
            };
            match record {
                Ok(record) => {
                    good.push(record);
                    good_index.push(index);
                }
                Err(reason) => {
                    outcomes[index] = Some(RecordOutcome {
                        index,
                        outcome: "rejected",
                        incident_id: None,
                        reason: Some(reason),
                    })
                }
            }
        }
        PushedRecords::Incoming(good)
    };
    let ingested = ingestor.ingest(agency, records).await.map_err(|e| match e {
        IngestError::NoMapping => {
            ApiError::new(axum::http::StatusCode::CONFLICT, "no_mapping", e.to_string())
        }
        IngestError::Invalid(detail) => {
            ApiError::new(axum::http::StatusCode::BAD_REQUEST, "invalid_records", detail)
        }
        IngestError::Internal(detail) => {
            tracing::error!(error = %detail, "push ingest failed");
            ApiError::internal()
        }
    })?;
    for (mut outcome, index) in ingested.into_iter().zip(good_index) {
        outcome.index = index;
        outcomes[index] = Some(outcome);
    }
    let records: Vec<RecordOutcome> = outcomes.into_iter().flatten().collect();
    let rejected = records.iter().filter(|r| r.outcome == "rejected").count();
    // Stored outcomes are counted where they are stored; rejections of a push, here.
    metrics::counter!("porchlight_ingest_rows_total", "outcome" => "rejected").increment(rejected as u64);
    Ok(Json(PushAnswer { accepted: records.len() - rejected, rejected, records }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::Sha256;

    fn signed(secret: &[u8], timestamp: i64, body: &[u8]) -> HeaderMap {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(body);
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let mut headers = HeaderMap::new();
        headers.insert("x-porchlight-timestamp", timestamp.to_string().parse().unwrap());
        headers.insert("x-porchlight-signature", format!("v1={hex}").parse().unwrap());
        headers
    }

    #[test]
    fn a_misshapen_record_is_rejected_without_echoing_its_values() {
        let bad = serde_json::json!({"incident_id": "1", "received_at": "2018-05-01T00:00:00Z",
            "call_type": "THEFT", "latitude": "5237 N 35TH ST"});
        let e = serde_json::from_value::<PushRecord>(bad).err().unwrap();
        assert!(e.to_string().contains("5237"), "serde echoes the value: {e}");
        assert!(!shape_error(&e).contains("5237"), "{}", shape_error(&e));
        let missing =
            serde_json::from_value::<PushRecord>(serde_json::json!({"incident_id": "1"})).err().unwrap();
        assert_eq!(shape_error(&missing), "missing field `received_at`");
    }

    #[test]
    fn signatures_replay_window_and_rotation() {
        let now = Utc::now();
        let keys =
            vec![("old".to_owned(), b"old secret".to_vec()), ("new".to_owned(), b"new secret".to_vec())];
        let body = br#"{"records": []}"#;
        assert!(verify(&signed(b"old secret", now.timestamp(), body), body, &keys, now).is_ok());
        assert!(verify(&signed(b"new secret", now.timestamp(), body), body, &keys, now).is_ok());
        let code = |r: Result<(), ApiError>| r.unwrap_err().code();
        assert_eq!(
            code(verify(&signed(b"wrong", now.timestamp(), body), body, &keys, now)),
            "invalid_signature"
        );
        assert_eq!(
            code(verify(&signed(b"new secret", now.timestamp(), body), b"{}", &keys, now)),
            "invalid_signature"
        );
        assert_eq!(
            code(verify(&signed(b"new secret", now.timestamp() - 301, body), body, &keys, now)),
            "stale_timestamp"
        );
        assert_eq!(code(verify(&HeaderMap::new(), body, &keys, now)), "missing_signature");
    }
}
