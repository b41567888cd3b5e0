//! Published incidents: list with filters, and one by id.

use axum::{
    Json,
    extract::{Path, Query, State, rejection::QueryRejection},
};
use chrono::{DateTime, Utc};
use porchlight_core::{
    agency::AgencyId,
    incident::{Closure, Incident},
};
use porchlight_store::IncidentQuery;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{ApiError, AppState};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(one))
        .routes(routes!(versions))
        .routes(routes!(geojson))
}

pub(crate) const MAX_LIMIT: u32 = 1000;
const DEFAULT_LIMIT: u32 = 100;

#[derive(Serialize, ToSchema)]
#[schema(as = Point)]
pub(crate) struct PointBody {
    lat: f64,
    lon: f64,
}

/// Where the call was, generalized by the agency's policy: never a house.
#[derive(Serialize, ToSchema)]
#[schema(as = Location)]
pub(crate) struct LocationBody {
    /// block, intersection, street or area.
    kind: &'static str,
    text: String,
}

/// A published incident, as the agency's policy allows it to be told.
#[derive(Serialize, ToSchema)]
#[schema(as = Incident)]
pub(crate) struct IncidentBody {
    id: Uuid,
    agency: String,
    version: u32,
    received_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    call_type: String,
    category: &'static str,
    /// What a call of this category usually is, in a sentence: context instead of fear.
    context: &'static str,
    priority: Option<String>,
    status: Option<String>,
    location: LocationBody,
    /// The centre of the block-sized cell the call was in, not the call's own coordinates.
    point: Option<PointBody>,
    /// Where the point came from: `feed` (the dispatch's coordinates, snapped); else the feed
    /// gave none and Porchlight placed the block or corner: `gazetteer` (the agency's table of
    /// blocks), `centreline` (the agency's street centrelines: the middle of the block's address
    /// range, or where the two streets meet) or `geocoder` (an external geocoder, asked only the
    /// published block or corner). Null without a point.
    placed_by: Option<&'static str>,
    /// How sure a point Porchlight placed is: `high` (the block or corner itself), `medium`
    /// (near it: a range that only overlaps the block, streets that nearly meet, a block the
    /// feed taught by fewer than three rows) or `low` (an external geocoder's match). Null for
    /// the feed's own point, and without a point.
    place_confidence: Option<&'static str>,
    policy_version: u32,
    /// The narrative with people removed, where the agency's policy publishes it; else null.
    narrative: Option<String>,
    /// The units that responded, where the agency's policy publishes them; else empty.
    units: Vec<String>,
    /// The call type when the call came in; `call_type` is the latest.
    initial_call_type: String,
    /// unfounded, cancelled or no_report when the call was closed so; else null.
    #[schema(value_type = Option<String>)]
    closure: Option<Closure>,
}

impl From<Incident> for IncidentBody {
    fn from(i: Incident) -> Self {
        Self {
            id: i.id,
            agency: i.agency,
            version: i.version,
            received_at: i.received_at,
            updated_at: i.updated_at,
            call_type: i.call_type,
            category: i.category.as_str(),
            context: i.category.context(),
            priority: i.priority,
            status: i.status,
            location: LocationBody { kind: i.location_kind.as_str(), text: i.location },
            point: i.point.map(|p| PointBody { lat: p.lat(), lon: p.lon() }),
            placed_by: i.placed_by.map(porchlight_core::incident::PlacedBy::as_str),
            place_confidence: i.place_confidence.map(porchlight_core::gazetteer::Confidence::as_str),
            policy_version: i.policy_version,
            narrative: i.narrative,
            units: i.units,
            initial_call_type: i.initial_call_type,
            closure: i.closure,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct IncidentList {
    incidents: Vec<IncidentBody>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// west,south,east,north in degrees.
    bbox: Option<String>,
    /// Received at or after this time (RFC 3339).
    since: Option<String>,
    /// Received before this time (RFC 3339).
    until: Option<String>,
    /// An agency's id.
    agency: Option<String>,
    /// At most this many, up to 1000 (default 100).
    limit: Option<String>,
}

pub(crate) fn parse_time(name: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v).map(|t| t.with_timezone(&Utc)).map_err(|_| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("{name} must be an RFC 3339 time such as 2018-05-01T05:00:00Z"),
                )
            })
        })
        .transpose()
}

/// An `agency` query parameter, if given.
pub(crate) fn parse_agency(value: Option<&str>) -> Result<Option<AgencyId>, ApiError> {
    value.map(AgencyId::parse).transpose().map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))
}

pub(crate) fn parse_limit(value: Option<&str>, default: u32) -> Result<u32, ApiError> {
    match value {
        None => Ok(default),
        Some(v) => v.parse::<u32>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
            )
        }),
    }
}

pub(crate) fn parse_bbox(value: &str) -> Result<[f64; 4], ApiError> {
    let bad = || {
        ApiError::bad_request(
            "invalid_query",
            "bbox must be min_lon,min_lat,max_lon,max_lat in degrees, with min below max",
        )
    };
    let parts: Vec<f64> =
        value.split(',').map(|p| p.trim().parse::<f64>()).collect::<Result<_, _>>().map_err(|_| bad())?;
    let [a, b, c, d] = parts[..] else { return Err(bad()) };
    let ok = [a, c].iter().all(|x| (-180.0..=180.0).contains(x))
        && [b, d].iter().all(|y| (-90.0..=90.0).contains(y))
        && a <= c
        && b <= d;
    if ok { Ok([a, b, c, d]) } else { Err(bad()) }
}

pub(crate) fn query_error(e: QueryRejection) -> ApiError {
    ApiError::bad_request("invalid_query", e.body_text())
}

/// Published incidents, newest first, with filters.
#[utoipa::path(get, path = "/v1/incidents", tag = "incidents", params(ListParams),
    responses(
        (status = 200, body = IncidentList),
        (status = 304, description = "Unchanged since the ETag given in If-None-Match"),
        (status = 400, description = "A parameter is malformed", body = crate::error::ErrorBody),
    ))]
async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<IncidentList>, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    let agency = parse_agency(p.agency.as_deref())?;
    let query = IncidentQuery {
        bbox: p.bbox.as_deref().map(parse_bbox).transpose()?,
        since: parse_time("since", p.since.as_deref())?,
        until: parse_time("until", p.until.as_deref())?,
        agency,
        limit: parse_limit(p.limit.as_deref(), DEFAULT_LIMIT)?,
        ..IncidentQuery::default()
    };
    let incidents = state.store.incidents(&query).await?;
    Ok(Json(IncidentList { incidents: incidents.into_iter().map(IncidentBody::from).collect() }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct GeoJsonParams {
    /// west,south,east,north in degrees.
    bbox: Option<String>,
    /// Received at or after this time (RFC 3339).
    since: Option<String>,
    /// Received before this time (RFC 3339).
    until: Option<String>,
    /// An agency's id.
    agency: Option<String>,
    /// Comma-separated category names.
    category: Option<String>,
    /// At most this many per page, up to 1000 (default 100).
    limit: Option<String>,
    /// The cursor of the next page, as the `next` link gives it.
    after: Option<String>,
}

/// Published incidents as a GeoJSON FeatureCollection (RFC 7946), newest first, paged: a
/// `next` link (in the body and a `Link` header) while more match. Each feature's point is
/// its cell's centre; its properties are the incident as `GET /v1/incidents` gives it. Weak
/// ETags answer `If-None-Match` with 304.
#[utoipa::path(get, path = "/v1/incidents.geojson", tag = "incidents", params(GeoJsonParams),
    responses(
        (status = 200, description = "A GeoJSON FeatureCollection", content_type = "application/geo+json", body = Object),
        (status = 304, description = "Unchanged since the ETag given in If-None-Match"),
        (status = 400, description = "A parameter is malformed", body = crate::error::ErrorBody),
    ))]
async fn geojson(
    State(state): State<AppState>,
    params: Result<Query<GeoJsonParams>, QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let Query(p) = params.map_err(query_error)?;
    let agency = parse_agency(p.agency.as_deref())?;
    let categories = match p.category.as_deref() {
        None | Some("") => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|c| c.trim().parse::<porchlight_core::category::Category>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ApiError::bad_request("invalid_query", format!("category: {e}")))?,
    };
    let after = p
        .after
        .as_deref()
        .map(|a| {
            let bad = || ApiError::bad_request("invalid_query", "after must be a cursor from a next link");
            let (at, id) = a.split_once(',').ok_or_else(bad)?;
            let at = DateTime::parse_from_rfc3339(at).map_err(|_| bad())?.with_timezone(&Utc);
            Ok::<_, ApiError>((at, Uuid::parse_str(id).map_err(|_| bad())?))
        })
        .transpose()?;
    let limit = parse_limit(p.limit.as_deref(), DEFAULT_LIMIT)?;
    let query = IncidentQuery {
        bbox: p.bbox.as_deref().map(parse_bbox).transpose()?,
        since: parse_time("since", p.since.as_deref())?,
        until: parse_time("until", p.until.as_deref())?,
        agency,
        categories,
        after,
        limit,
    };
    let incidents = state.store.incidents(&query).await?;
    let next = (incidents.len() as u32 == limit).then(|| {
        let last = incidents.last().expect("a full page");
        let mut next = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("bbox", &p.bbox),
            ("since", &p.since),
            ("until", &p.until),
            ("agency", &p.agency),
            ("category", &p.category),
        ] {
            if let Some(v) = value {
                next.append_pair(key, v);
            }
        }
        next.append_pair("limit", &limit.to_string());
        next.append_pair("after", &format!("{},{}", last.received_at.to_rfc3339(), last.id));
        format!("/v1/incidents.geojson?{}", next.finish())
    });
    let mut bounds: Option<[f64; 4]> = None;
    let features: Vec<serde_json::Value> = incidents
        .into_iter()
        .map(|i| {
            let point = i.point.map(|p| (p.lon(), p.lat()));
            let mut properties = serde_json::to_value(IncidentBody::from(i)).expect("incidents serialize");
            let id = properties["id"].clone();
            if let Some(map) = properties.as_object_mut() {
                map.remove("point");
            }
            let geometry = match point {
                Some((lon, lat)) => {
                    let b = bounds.get_or_insert([lon, lat, lon, lat]);
                    *b = [b[0].min(lon), b[1].min(lat), b[2].max(lon), b[3].max(lat)];
                    serde_json::json!({"type": "Point", "coordinates": [lon, lat]})
                }
                None => serde_json::Value::Null,
            };
            serde_json::json!({"type": "Feature", "id": id, "geometry": geometry, "properties": properties})
        })
        .collect();
    let mut collection = serde_json::json!({"type": "FeatureCollection", "features": features});
    if let Some(b) = bounds {
        collection["bbox"] = serde_json::json!(b);
    }
    if let Some(next) = &next {
        collection["next"] = serde_json::Value::String(next.clone());
    }
    let body = serde_json::to_vec(&collection).expect("JSON serializes");
    // `If-None-Match` is answered by the page cache in front (crate::cache).
    let mut response = ([(header::CONTENT_TYPE, "application/geo+json")], body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, "public, max-age=30".parse().expect("a header value"));
    if let Some(next) = next
        && let Ok(link) = format!("<{next}>; rel=\"next\"").parse()
    {
        headers.insert(header::LINK, link);
    }
    Ok(response)
}

pub(crate) fn parse_id(kind: &'static str, id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::bad_request("invalid_id", format!("{kind} id must be a UUID")))
}

/// One published incident, at its latest version.
#[utoipa::path(get, path = "/v1/incidents/{id}", tag = "incidents",
    params(("id" = String, Path, description = "The incident's id (a UUID)")),
    responses(
        (status = 200, body = IncidentBody),
        (status = 304, description = "Unchanged since the ETag given in If-None-Match"),
        (status = 400, description = "The id is not a UUID", body = crate::error::ErrorBody),
        (status = 404, description = "No such published incident", body = crate::error::ErrorBody),
    ))]
async fn one(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<IncidentBody>, ApiError> {
    let id = parse_id("incident", &id)?;
    let incident = state
        .store
        .incident(id)
        .await?
        .ok_or_else(|| ApiError::not_found("incident_not_found", "no incident with this id"))?;
    Ok(Json(incident.into()))
}

#[derive(Serialize, ToSchema)]
struct Story {
    versions: Vec<IncidentBody>,
}

/// Every version of an incident, oldest first: its story as it was published.
#[utoipa::path(get, path = "/v1/incidents/{id}/versions", tag = "incidents",
    params(("id" = String, Path, description = "The incident's id (a UUID)")),
    responses(
        (status = 200, body = Story),
        (status = 304, description = "Unchanged since the ETag given in If-None-Match"),
        (status = 400, description = "The id is not a UUID", body = crate::error::ErrorBody),
        (status = 404, description = "No such published incident", body = crate::error::ErrorBody),
    ))]
async fn versions(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Story>, ApiError> {
    let id = parse_id("incident", &id)?;
    let latest = state
        .store
        .incident(id)
        .await?
        .ok_or_else(|| ApiError::not_found("incident_not_found", "no incident with this id"))?;
    let mut versions = Vec::with_capacity(latest.version as usize);
    for version in 1..latest.version {
        if let Some(earlier) = state.store.incident_at_version(id, version).await? {
            versions.push(earlier.into());
        }
    }
    versions.push(latest.into());
    Ok(Json(Story { versions }))
}
