//! Agencies and what they publish about themselves: the privacy policy in force with its
//! history, and the daily counts of withheld calls.

use std::collections::BTreeMap;

use axum::{
    Json,
    extract::{Path, Query, State, rejection::QueryRejection},
};
use chrono::{DateTime, NaiveDate, Utc};
use porchlight_core::{agency::AgencyId, privacy::PolicyDocument};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{ApiError, AppState, incidents::query_error};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    let preview = OpenApiRouter::new()
        .routes(routes!(preview))
        .route_layer(axum::extract::DefaultBodyLimit::max(PREVIEW_BYTES));
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(one))
        .routes(routes!(policy))
        .routes(routes!(withheld))
        .routes(routes!(feed))
        .merge(preview)
}

/// The largest sample a policy preview reads.
pub const PREVIEW_BYTES: usize = 10 * 1024 * 1024;

#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PreviewBody {
    /// A policy document, as `GET .../policy` shows one.
    #[schema(value_type = Object)]
    policy: serde_json::Value,
    /// A sample of the agency's data: CSV in its own columns, read through its mapping.
    csv: String,
}

/// What a policy would publish, withhold and reject of a sample, storing nothing: for an
/// agency trying a policy on its own data before putting it in force.
#[utoipa::path(post, path = "/v1/agencies/{id}/policy/preview", tag = "agencies",
    params(("id" = String, Path, description = "The agency's id")),
    request_body = PreviewBody,
    responses(
        (status = 200, description = "Counts of what would be published, withheld (by reason) and rejected, with examples", body = Object),
        (status = 400, description = "The body or the policy is invalid", body = crate::error::ErrorBody),
        (status = 404, description = "No such agency", body = crate::error::ErrorBody),
        (status = 409, description = "The agency has no mapping to read a sample with", body = crate::error::ErrorBody),
        (status = 501, description = "This server does not preview policies", body = crate::error::ErrorBody),
    ))]
async fn preview(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<PreviewBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (agency, _) = known(&state, &id).await?;
    let Json(body) = body.map_err(ApiError::bad_body)?;
    let Some(ingestor) = state.ingestor.clone() else {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_IMPLEMENTED,
            "preview_unavailable",
            "this server cannot preview policies",
        ));
    };
    let answer = ingestor.preview(agency, body.policy, body.csv).await.map_err(|e| match e {
        crate::push::IngestError::NoMapping => {
            ApiError::new(axum::http::StatusCode::CONFLICT, "no_mapping", e.to_string())
        }
        crate::push::IngestError::Invalid(detail) => ApiError::bad_request("invalid_policy", detail),
        crate::push::IngestError::Internal(detail) => {
            tracing::error!(error = %detail, "policy preview failed");
            ApiError::internal()
        }
    })?;
    Ok(Json(answer))
}

/// An agency that publishes through Porchlight.
#[derive(Serialize, ToSchema)]
#[schema(as = Agency)]
struct AgencyBody {
    id: String,
    name: String,
    time_zone: String,
    policy_url: String,
    withheld_url: String,
    feed_url: String,
}

impl From<porchlight_store::Agency> for AgencyBody {
    fn from(a: porchlight_store::Agency) -> Self {
        Self {
            policy_url: format!("/v1/agencies/{}/policy", a.id),
            withheld_url: format!("/v1/agencies/{}/withheld", a.id),
            feed_url: format!("/v1/agencies/{}/feed", a.id),
            id: a.id,
            name: a.name,
            time_zone: a.time_zone,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct AgencyList {
    agencies: Vec<AgencyBody>,
}

/// Every agency.
#[utoipa::path(get, path = "/v1/agencies", tag = "agencies", responses((status = 200, body = AgencyList)))]
async fn list(State(state): State<AppState>) -> Result<Json<AgencyList>, ApiError> {
    let agencies = state.store.agencies().await?;
    Ok(Json(AgencyList { agencies: agencies.into_iter().map(AgencyBody::from).collect() }))
}

async fn known(state: &AppState, id: &str) -> Result<(AgencyId, porchlight_store::Agency), ApiError> {
    let not_found = || ApiError::not_found("agency_not_found", "no agency with this id");
    let id = AgencyId::parse(id).map_err(|_| not_found())?;
    let agency = state.store.agency(&id).await?.ok_or_else(not_found)?;
    Ok((id, agency))
}

/// One agency.
#[utoipa::path(get, path = "/v1/agencies/{id}", tag = "agencies",
    params(("id" = String, Path, description = "The agency's id")),
    responses((status = 200, body = AgencyBody), (status = 404, description = "No such agency", body = crate::error::ErrorBody)))]
async fn one(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<AgencyBody>, ApiError> {
    Ok(Json(known(&state, &id).await?.1.into()))
}

#[derive(Serialize, ToSchema)]
#[schema(as = PolicyVersion)]
struct PolicyVersionBody {
    version: u32,
    in_force_since: DateTime<Utc>,
    /// The policy document: what is withheld, how places are generalized, the delay.
    #[schema(value_type = Object)]
    policy: PolicyDocument,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Policy)]
struct PolicyBody {
    agency: String,
    current: Option<PolicyVersionBody>,
    /// Every version, oldest first, the current one last.
    history: Vec<PolicyVersionBody>,
}

/// The agency's privacy policy in force, with every earlier version.
#[utoipa::path(get, path = "/v1/agencies/{id}/policy", tag = "agencies",
    params(("id" = String, Path, description = "The agency's id")),
    responses((status = 200, body = PolicyBody), (status = 404, description = "No such agency", body = crate::error::ErrorBody)))]
async fn policy(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<PolicyBody>, ApiError> {
    let (id, _) = known(&state, &id).await?;
    let history: Vec<PolicyVersionBody> = state
        .store
        .policy_history(&id)
        .await?
        .into_iter()
        .map(|v| PolicyVersionBody {
            version: v.policy.version,
            in_force_since: v.created_at,
            policy: v.policy.document().clone(),
        })
        .collect();
    let current = history.last().map(|v| PolicyVersionBody {
        version: v.version,
        in_force_since: v.in_force_since,
        policy: v.policy.clone(),
    });
    Ok(Json(PolicyBody { agency: id.to_string(), current, history }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct WithheldParams {
    /// The first day (YYYY-MM-DD).
    since: Option<String>,
    /// The last day (YYYY-MM-DD).
    until: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = WithheldDay)]
struct DayBody {
    day: NaiveDate,
    total: u64,
    by_category: BTreeMap<String, u64>,
    by_reason: BTreeMap<String, u64>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Withheld)]
struct WithheldBody {
    agency: String,
    total: u64,
    days: Vec<DayBody>,
}

fn parse_day(name: &str, value: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    value
        .map(|v| {
            v.parse::<NaiveDate>().map_err(|_| {
                ApiError::bad_request("invalid_query", format!("{name} must be a date such as 2018-05-01"))
            })
        })
        .transpose()
}

/// Calls withheld by the agency's policy, counted per day (the agency's own), by category and by reason:
/// public information, while the calls themselves are not kept.
#[utoipa::path(get, path = "/v1/agencies/{id}/withheld", tag = "agencies",
    params(("id" = String, Path, description = "The agency's id"), WithheldParams),
    responses(
        (status = 200, body = WithheldBody),
        (status = 400, description = "A parameter is malformed", body = crate::error::ErrorBody),
        (status = 404, description = "No such agency", body = crate::error::ErrorBody),
    ))]
async fn withheld(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Result<Query<WithheldParams>, QueryRejection>,
) -> Result<Json<WithheldBody>, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    let since = parse_day("since", p.since.as_deref())?;
    let until = parse_day("until", p.until.as_deref())?;
    let (id, _) = known(&state, &id).await?;
    let mut days: BTreeMap<NaiveDate, DayBody> = BTreeMap::new();
    for c in state.store.withheld_counts(Some(&id)).await? {
        if since.is_some_and(|s| c.day < s) || until.is_some_and(|u| c.day > u) {
            continue;
        }
        let day = days.entry(c.day).or_insert_with(|| DayBody {
            day: c.day,
            total: 0,
            by_category: BTreeMap::new(),
            by_reason: BTreeMap::new(),
        });
        day.total += c.count;
        *day.by_category.entry(c.category.to_string()).or_default() += c.count;
        *day.by_reason.entry(c.reason).or_default() += c.count;
    }
    let days: Vec<DayBody> = days.into_values().collect();
    Ok(Json(WithheldBody { agency: id.to_string(), total: days.iter().map(|d| d.total).sum(), days }))
}

#[derive(Serialize, ToSchema)]
#[schema(as = Feed)]
struct FeedBody {
    agency: String,
    /// socrata, arcgis or csv.
    #[schema(value_type = String)]
    kind: porchlight_feeds::portal::SourceKind,
    url: String,
    every_seconds: u64,
    /// Where the poller resumes from.
    #[schema(value_type = Object)]
    checkpoint: serde_json::Value,
    /// How its polls went, as the poller last saved it; `null` before the first poll.
    #[schema(value_type = Option<Object>)]
    state: serde_json::Value,
}

/// The agency's polled feed: the portal, the checkpoint, and how the last polls went.
#[utoipa::path(get, path = "/v1/agencies/{id}/feed", tag = "agencies",
    params(("id" = String, Path, description = "The agency's id")),
    responses((status = 200, body = FeedBody), (status = 404, description = "No such agency, or its data is not polled", body = crate::error::ErrorBody)))]
async fn feed(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<FeedBody>, ApiError> {
    let (id, _) = known(&state, &id).await?;
    let no_feed = || ApiError::not_found("no_feed", "this agency's data is not polled from a portal");
    let text = state.store.agency_mapping(&id).await?.ok_or_else(no_feed)?;
    let mapping = porchlight_feeds::Mapping::parse(&text).map_err(|e| {
        tracing::error!(agency = %id, error = %e, "stored mapping does not parse");
        ApiError::internal()
    })?;
    let source = mapping.source().ok_or_else(no_feed)?;
    let (checkpoint, feed_state) = match state.store.feed(&id).await? {
        Some((c, s)) => (
            serde_json::from_str(&c).unwrap_or(serde_json::Value::Null),
            serde_json::from_str(&s).unwrap_or(serde_json::Value::Null),
        ),
        None => (serde_json::json!({}), serde_json::Value::Null),
    };
    Ok(Json(FeedBody {
        agency: id.to_string(),
        kind: source.kind,
        url: source.url.to_string(),
        every_seconds: source.every.as_secs(),
        checkpoint,
        state: feed_state,
    }))
}
