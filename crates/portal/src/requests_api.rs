//! The routes of cameras and video requests: owners register cameras (their places shown to
//! them alone), agencies post bounded requests, moderators approve or refuse them, the public
//! reads every moderated request with its area generalized, and residents find in their inbox
//! the approved requests that cover one of their cameras.

use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
    http::StatusCode,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    Portal,
    api::{ApiError, body},
    auth::{Moderator, Poster, Resident},
    db::{self, Camera, Request},
    request::{self, Area},
};

/// Open (pending or approved) requests an agency may have at once.
pub const MAX_OPEN_REQUESTS: u32 = 20;
/// The most cameras one account may register (issue 13: limits everywhere).
pub const MAX_CAMERAS: usize = 20;
/// How far back a request's window may start.
pub const OLDEST_WINDOW_DAYS: i64 = 30;
/// How long an approved request stays open before it closes by itself.
pub const OPEN_DAYS: i64 = 30;

pub(crate) fn router() -> OpenApiRouter<Portal> {
    OpenApiRouter::new()
        .routes(routes!(taxonomy))
        .routes(routes!(add_camera, my_cameras))
        .routes(routes!(delete_camera))
        .routes(routes!(pause_camera))
        .routes(routes!(resume_camera))
        .routes(routes!(create_request, public_requests))
        .routes(routes!(agency_requests))
        .routes(routes!(close_request))
        .routes(routes!(pending))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(inbox))
        .routes(routes!(decline))
}

#[derive(Serialize, ToSchema)]
#[schema(as = PortalTaxonomy)]
struct Taxonomy {
    incident_types: &'static [&'static str],
}

#[utoipa::path(get, path = "/v1/portal/taxonomy", tag = "portal: requests", responses((status = 200, description = "The incident types a request may name", body = Taxonomy)))]
async fn taxonomy() -> Json<Taxonomy> {
    Json(Taxonomy { incident_types: &request::INCIDENT_TYPES })
}

#[derive(Serialize, ToSchema)]
#[schema(as = PortalCamera)]
struct CameraBody {
    id: Uuid,
    name: String,
    lat: f64,
    lon: f64,
    paused: bool,
    created_at: DateTime<Utc>,
}

impl From<Camera> for CameraBody {
    fn from(c: Camera) -> Self {
        Self { id: c.id, name: c.name, lat: c.lat, lon: c.lon, paused: c.paused, created_at: c.created_at }
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(as = PortalNewCamera)]
#[serde(deny_unknown_fields)]
struct NewCamera {
    name: String,
    lat: f64,
    lon: f64,
}

#[utoipa::path(post, path = "/v1/portal/cameras", tag = "portal: cameras", request_body = NewCamera, responses((status = 201, description = "The camera; its place is shown to its owner alone", body = CameraBody), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this"), (status = 409, description = "The account has as many cameras as it may")))]
async fn add_camera(
    Resident(owner): Resident,
    State(portal): State<Portal>,
    new: Result<Json<NewCamera>, JsonRejection>,
) -> Result<(StatusCode, Json<CameraBody>), ApiError> {
    let new = body(new)?;
    let name = request::text("name", &new.name, 80)?;
    if !(-90.0..=90.0).contains(&new.lat) || !(-180.0..=180.0).contains(&new.lon) {
        return Err(ApiError::bad_request("invalid_field", "lat, lon: not a latitude and longitude"));
    }
    if db::cameras(&portal.pool, owner.id).await?.len() >= MAX_CAMERAS {
        return Err(ApiError::conflict(
            "too_many_cameras",
            format!("an account may have at most {MAX_CAMERAS} cameras; remove one first"),
        ));
    }
    let camera = db::create_camera(&portal.pool, owner.id, &name, new.lat, new.lon).await?;
    Ok((StatusCode::CREATED, Json(camera.into())))
}

#[derive(Serialize, ToSchema)]
#[schema(as = PortalCameraList)]
struct CameraList {
    cameras: Vec<CameraBody>,
}

#[utoipa::path(get, path = "/v1/portal/cameras", tag = "portal: cameras", responses((status = 200, description = "The caller's cameras", body = CameraList), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this")))]
async fn my_cameras(
    Resident(owner): Resident,
    State(portal): State<Portal>,
) -> Result<Json<CameraList>, ApiError> {
    let cameras = db::cameras(&portal.pool, owner.id).await?;
    Ok(Json(CameraList { cameras: cameras.into_iter().map(CameraBody::from).collect() }))
}

fn camera_not_found() -> ApiError {
    ApiError::not_found("camera_not_found", "you have no camera with this id")
}

/// What an owner does to one of their cameras.
enum CameraChange {
    Pause,
    Resume,
    Delete,
}

/// Change one of the owner's cameras: 204, or 404 if it is not theirs.
async fn change_camera(
    portal: &Portal,
    owner: Uuid,
    id: &str,
    change: CameraChange,
) -> Result<StatusCode, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| camera_not_found())?;
    let theirs = match change {
        CameraChange::Pause => db::set_camera_paused(&portal.pool, owner, id, true).await?,
        CameraChange::Resume => db::set_camera_paused(&portal.pool, owner, id, false).await?,
        CameraChange::Delete => db::delete_camera(&portal.pool, owner, id).await?,
    };
    if theirs { Ok(StatusCode::NO_CONTENT) } else { Err(camera_not_found()) }
}

#[utoipa::path(post, path = "/v1/portal/cameras/{camera}/pause", tag = "portal: cameras", params(("camera" = String, Path, description = "The camera's id")), responses((status = 204, description = "Paused: no requests reach it"), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this"), (status = 404, description = "No such thing as the path names")))]
async fn pause_camera(
    Resident(owner): Resident,
    State(portal): State<Portal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    change_camera(&portal, owner.id, &id, CameraChange::Pause).await
}

#[utoipa::path(post, path = "/v1/portal/cameras/{camera}/resume", tag = "portal: cameras", params(("camera" = String, Path, description = "The camera's id")), responses((status = 204, description = "Resumed"), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this"), (status = 404, description = "No such thing as the path names")))]
async fn resume_camera(
    Resident(owner): Resident,
    State(portal): State<Portal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    change_camera(&portal, owner.id, &id, CameraChange::Resume).await
}

#[utoipa::path(delete, path = "/v1/portal/cameras/{camera}", tag = "portal: cameras", params(("camera" = String, Path, description = "The camera's id")), responses((status = 204, description = "Deleted"), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this"), (status = 404, description = "No such thing as the path names")))]
async fn delete_camera(
    Resident(owner): Resident,
    State(portal): State<Portal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    change_camera(&portal, owner.id, &id, CameraChange::Delete).await
}

#[derive(Deserialize, ToSchema)]
#[schema(as = PortalNewRequest)]
#[serde(deny_unknown_fields)]
struct NewRequest {
    case_number: String,
    incident_type: String,
    area: Area,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
    description: String,
    contact: String,
}

/// A request as its agency and the moderators see it: the whole area, and its flags.
#[derive(Serialize, ToSchema)]
#[schema(as = PortalRequest)]
struct RequestBody {
    id: Uuid,
    agency: String,
    case_number: String,
    incident_type: String,
    area: Area,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
    description: String,
    contact: String,
    /// Why moderation must refuse it, if it must.
    flags: Vec<String>,
    state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<Request> for RequestBody {
    fn from(r: Request) -> Self {
        Self {
            id: r.id,
            agency: r.agency_id,
            case_number: r.case_number,
            incident_type: r.incident_type,
            area: r.area,
            window_start: r.window_start,
            window_end: r.window_end,
            description: r.description,
            contact: r.contact,
            flags: r.flags,
            state: r.state,
            reason: r.reason,
            created_at: r.created_at,
        }
    }
}

#[utoipa::path(post, path = "/v1/portal/agencies/{agency}/requests", tag = "portal: requests", params(("agency" = String, Path, description = "The agency's id")), request_body = NewRequest, responses((status = 201, description = "The request, waiting for moderation", body = RequestBody), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this"), (status = 404, description = "No such thing as the path names"), (status = 409, description = "The agency has as many open requests as it may")))]
async fn create_request(
    poster: Poster,
    State(portal): State<Portal>,
    new: Result<Json<NewRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<RequestBody>), ApiError> {
    let new = body(new)?;
    let now = Utc::now();
    let area_m2 = new.area.check()?;
    request::window(new.window_start, new.window_end, now, chrono::Duration::days(OLDEST_WINDOW_DAYS))?;
    let description = request::text("description", &new.description, 2000)?;
    let request = Request {
        id: Uuid::new_v4(),
        agency_id: poster.agency,
        case_number: request::text("case_number", &new.case_number, 64)?,
        incident_type: request::incident_type(&new.incident_type)?,
        area: new.area,
        window_start: new.window_start,
        window_end: new.window_end,
        flags: request::flags(&description).into_iter().map(str::to_owned).collect(),
        description,
        contact: request::text("contact", &new.contact, 200)?,
        state: "pending".into(),
        reason: None,
        moderated_at: None,
        created_at: db::now(),
    };
    match db::create_request(&portal.pool, &request, area_m2, poster.by, MAX_OPEN_REQUESTS).await? {
        Some(()) => Ok((StatusCode::CREATED, Json(request.into()))),
        None => Err(ApiError::conflict(
            "too_many_open_requests",
            format!("an agency may have at most {MAX_OPEN_REQUESTS} open requests"),
        )),
    }
}

/// A request as the public sees it: the area only as a rounded centre and radius.
#[derive(Serialize, ToSchema)]
#[schema(as = PortalPublicRequest)]
struct PublicRequest {
    id: Uuid,
    agency: String,
    case_number: String,
    incident_type: String,
    /// The area's centre to about a kilometre, and a radius in steps of 500 m that covers it.
    area: PublicArea,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
    description: String,
    contact: String,
    state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    moderated_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PortalPublicArea)]
struct PublicArea {
    lat: f64,
    lon: f64,
    radius_m: f64,
}

impl From<Request> for PublicRequest {
    fn from(r: Request) -> Self {
        let (lat, lon, radius_m) = r.area.generalized();
        Self {
            id: r.id,
            agency: r.agency_id,
            case_number: r.case_number,
            incident_type: r.incident_type,
            area: PublicArea { lat, lon, radius_m },
            window_start: r.window_start,
            window_end: r.window_end,
            description: r.description,
            contact: r.contact,
            state: r.state,
            reason: r.reason,
            moderated_at: r.moderated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = PortalPublicList)]
struct PublicList {
    requests: Vec<PublicRequest>,
}

/// Every moderated request of an agency, approved or refused (with the reason): public.
#[utoipa::path(get, path = "/v1/portal/agencies/{agency}/requests", tag = "portal: requests", params(("agency" = String, Path, description = "The agency's id")), responses((status = 200, description = "The agency's moderated requests, areas generalized", body = PublicList), (status = 404, description = "No such agency")))]
async fn public_requests(
    State(portal): State<Portal>,
    Path(agency): Path<String>,
) -> Result<Json<PublicList>, ApiError> {
    let requests = db::requests(&portal.pool, Some(&agency), &["approved", "rejected", "closed"]).await?;
    Ok(Json(PublicList { requests: requests.into_iter().map(PublicRequest::from).collect() }))
}

#[derive(Serialize, ToSchema)]
#[schema(as = PortalRequestList)]
struct RequestList {
    requests: Vec<RequestBody>,
}

/// What waits for moderation, flags and all.
#[utoipa::path(get, path = "/v1/portal/moderation", tag = "portal: requests", responses((status = 200, description = "Requests waiting for moderation", body = RequestList), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this")))]
async fn pending(
    Moderator(_): Moderator,
    State(portal): State<Portal>,
) -> Result<Json<RequestList>, ApiError> {
    let requests = db::requests(&portal.pool, None, &["pending"]).await?;
    Ok(Json(RequestList { requests: requests.into_iter().map(RequestBody::from).collect() }))
}

async fn pending_request(portal: &Portal, id: &str) -> Result<Request, ApiError> {
    let gone = || ApiError::not_found("request_not_found", "no request with this id");
    let id = Uuid::parse_str(id).map_err(|_| gone())?;
    let request = db::request(&portal.pool, id).await?.ok_or_else(gone)?;
    if request.state != "pending" {
        return Err(ApiError::conflict("request_not_pending", "the request was moderated already"));
    }
    Ok(request)
}

/// Approve: the request becomes public and reaches the inboxes of owners of cameras in its
/// area. A flagged request cannot be approved.
#[utoipa::path(post, path = "/v1/portal/requests/{request}/approve", tag = "portal: requests", params(("request" = String, Path, description = "The request's id")), responses((status = 200, description = "Approved: published, and sent to the owners of cameras in its area", body = RequestBody), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this"), (status = 404, description = "No such thing as the path names")))]
async fn approve(
    Moderator(moderator): Moderator,
    State(portal): State<Portal>,
    Path(id): Path<String>,
) -> Result<Json<RequestBody>, ApiError> {
    let request = pending_request(&portal, &id).await?;
    if !request.flags.is_empty() {
        return Err(ApiError::conflict(
            "request_flagged",
            format!("a flagged request must be refused: {}", request.flags.join("; ")),
        ));
    }
    if !db::approve(&portal.pool, &request, moderator.id).await? {
        return Err(ApiError::conflict("request_not_pending", "the request was moderated already"));
    }
    let request = db::request(&portal.pool, request.id).await?.expect("it was just moderated");
    Ok(Json(request.into()))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = PortalRefusal)]
#[serde(deny_unknown_fields)]
struct Refusal {
    reason: String,
}

#[utoipa::path(post, path = "/v1/portal/requests/{request}/reject", tag = "portal: requests", params(("request" = String, Path, description = "The request's id")), request_body = Refusal, responses((status = 200, description = "Refused, with the reason published", body = RequestBody), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this"), (status = 404, description = "No such thing as the path names")))]
async fn reject(
    Moderator(moderator): Moderator,
    State(portal): State<Portal>,
    Path(id): Path<String>,
    refusal: Result<Json<Refusal>, JsonRejection>,
) -> Result<Json<RequestBody>, ApiError> {
    let reason = request::text("reason", &body(refusal)?.reason, 500)?;
    let request = pending_request(&portal, &id).await?;
    if !db::moderate(&portal.pool, request.id, "rejected", moderator.id, Some(&reason)).await? {
        return Err(ApiError::conflict("request_not_pending", "the request was moderated already"));
    }
    let request = db::request(&portal.pool, request.id).await?.expect("it was just moderated");
    Ok(Json(request.into()))
}

#[derive(Serialize, ToSchema)]
#[schema(as = PortalInboxItem)]
struct InboxItem {
    request: PublicRequest,
    /// Your cameras in its area.
    cameras: Vec<Uuid>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PortalInbox)]
struct Inbox {
    requests: Vec<InboxItem>,
}

/// The approved requests whose area holds one of your active cameras, but those you declined.
#[utoipa::path(get, path = "/v1/portal/inbox", tag = "portal: requests", responses((status = 200, description = "Approved requests that cover one of the caller's cameras", body = Inbox), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this")))]
async fn inbox(Resident(owner): Resident, State(portal): State<Portal>) -> Result<Json<Inbox>, ApiError> {
    let mut requests = Vec::new();
    let declined = db::declined(&portal.pool, owner.id).await?;
    for (request, cameras) in db::inbox_candidates(&portal.pool, owner.id).await? {
        if declined.contains(&request.id) {
            continue;
        }
        let inside: Vec<Uuid> =
            cameras.iter().filter(|c| request.area.contains(c.lat, c.lon)).map(|c| c.id).collect();
        if !inside.is_empty() {
            requests.push(InboxItem { request: request.into(), cameras: inside });
        }
    }
    Ok(Json(Inbox { requests }))
}

/// Say no to a request in your inbox: it leaves the inbox. Nobody else learns of it.
#[utoipa::path(post, path = "/v1/portal/requests/{request}/decline", tag = "portal: requests", params(("request" = String, Path, description = "The request's id")), responses((status = 204, description = "Declined: nobody is told who declined"), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this"), (status = 404, description = "No such thing as the path names")))]
async fn decline(
    Resident(owner): Resident,
    State(portal): State<Portal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let gone = || ApiError::not_found("request_not_found", "no request in your inbox has this id");
    let id = Uuid::parse_str(&id).map_err(|_| gone())?;
    let asked = db::inbox_candidates(&portal.pool, owner.id)
        .await?
        .iter()
        .any(|(r, cameras)| r.id == id && cameras.iter().any(|c| r.area.contains(c.lat, c.lon)));
    if !asked {
        return Err(gone());
    }
    db::decline(&portal.pool, id, owner.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every request of the agency, pending ones and flags included: for its officers and systems.
#[utoipa::path(get, path = "/v1/portal/agencies/{agency}/requests/all", tag = "portal: requests", params(("agency" = String, Path, description = "The agency's id")), responses((status = 200, description = "Every request of the agency, for its officers", body = RequestList), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this"), (status = 404, description = "No such thing as the path names")))]
async fn agency_requests(
    poster: Poster,
    State(portal): State<Portal>,
) -> Result<Json<RequestList>, ApiError> {
    let all =
        db::requests(&portal.pool, Some(&poster.agency), &["pending", "approved", "rejected", "closed"])
            .await?;
    Ok(Json(RequestList { requests: all.into_iter().map(RequestBody::from).collect() }))
}

/// Close one of the agency's requests: it leaves inboxes and takes no more clips; what was
/// shared stays until its retention ends.
#[utoipa::path(post, path = "/v1/portal/agencies/{agency}/requests/{request}/close", tag = "portal: requests", params(("agency" = String, Path, description = "The agency's id"), ("request" = String, Path, description = "The request's id")), responses((status = 204, description = "Closed"), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this"), (status = 404, description = "No such thing as the path names")))]
async fn close_request(
    poster: Poster,
    State(portal): State<Portal>,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let gone = || ApiError::not_found("request_not_found", "this agency has no open request with this id");
    let id = Uuid::parse_str(&id).map_err(|_| gone())?;
    if db::close_request(&portal.pool, &poster.agency, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(gone())
    }
}
