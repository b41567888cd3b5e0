//! Clips: what an owner chooses to share with an agency about an approved request that covers
//! one of their cameras. Each gets a SHA-256 digest at upload (the chain of custody), goes to
//! the clip store, and reaches the requesting agency only through a link signed for that
//! agency that expires; every download is recorded. An owner can withdraw a clip until its
//! first download; retention deletes it after. Nothing here gives anyone video its owner did
//! not upload: there is no other way in.

use axum::{
    Json,
    body::Body,
    extract::{DefaultBodyLimit, Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use hmac::{Hmac, KeyInit, Mac};
use object_store::{ObjectStoreExt, WriteMultipart, path::Path as ObjectPath};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    Portal, PortalError,
    api::ApiError,
    auth::{ClipReader, Resident},
    db::{self, Clip, PostedBy},
    request,
};

/// The largest clip taken. Uploads stream to the store, so this bounds storage, not memory.
pub const MAX_CLIP_BYTES: usize = 2 * 1024 * 1024 * 1024;
/// How long a clip is kept.
pub const RETENTION_DAYS: i64 = 90;
/// How long a download link works, unless the portal is told otherwise.
pub const LINK_MINUTES: i64 = 15;

pub(crate) fn router() -> OpenApiRouter<Portal> {
    // The upload counts its own bytes against MAX_CLIP_BYTES as they stream.
    let upload = OpenApiRouter::new().routes(routes!(upload)).route_layer(DefaultBodyLimit::disable());
    OpenApiRouter::new()
        .merge(upload)
        .routes(routes!(my_clips))
        .routes(routes!(withdraw))
        .routes(routes!(shared_with_agency))
        .routes(routes!(download))
}

pub(crate) async fn remove(portal: &Portal, key: &str) -> Result<(), PortalError> {
    match portal.clips.delete(&ObjectPath::from(key)).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(PortalError::Clips(e.to_string())),
    }
}

fn store_error(e: object_store::Error) -> ApiError {
    tracing::error!(error = %e, "clip store error");
    ApiError::internal()
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UploadParams {
    /// The name the agency will see: the owner's choice, not their account's.
    shared_as: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PortalClip)]
struct ClipBody {
    id: Uuid,
    request: Uuid,
    shared_as: String,
    sha256: String,
    size: i64,
    content_type: String,
    created_at: DateTime<Utc>,
    delete_after: DateTime<Utc>,
    /// Whether the agency has downloaded it: then it can no longer be withdrawn.
    downloaded: bool,
    withdrawn: bool,
}

impl From<Clip> for ClipBody {
    fn from(c: Clip) -> Self {
        Self {
            id: c.id,
            request: c.request_id,
            shared_as: c.shared_as,
            sha256: c.sha256,
            size: c.size,
            content_type: c.content_type,
            created_at: c.created_at,
            delete_after: c.delete_after,
            downloaded: c.first_downloaded_at.is_some(),
            withdrawn: c.withdrawn_at.is_some(),
        }
    }
}

/// Share a clip: the body is the video, its `Content-Type` a `video/…` type, streamed to the
/// store as it arrives (its digest computed on the way). Only the owner of an active camera in
/// the area of an approved request can.
#[utoipa::path(post, path = "/v1/portal/requests/{request}/clips", request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The video's bytes"), tag = "portal: clips", params(("request" = String, Path, description = "The request's id"), UploadParams), responses((status = 201, description = "The clip, shared with the agency", body = ClipBody), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this"), (status = 404, description = "No such thing as the path names"), (status = 413, description = "Larger than a clip may be")))]
async fn upload(
    Resident(owner): Resident,
    State(portal): State<Portal>,
    Path(request_id): Path<String>,
    Query(params): Query<UploadParams>,
    headers: HeaderMap,
    video: Body,
) -> Result<(StatusCode, Json<ClipBody>), ApiError> {
    let gone = || ApiError::not_found("request_not_found", "no approved request with this id asks you");
    let request_id = Uuid::parse_str(&request_id).map_err(|_| gone())?;
    let request = db::request(&portal.pool, request_id).await?.ok_or_else(gone)?;
    let cameras = db::cameras(&portal.pool, owner.id).await?;
    let asked = request.state == "approved"
        && cameras.iter().any(|c| !c.paused && request.area.contains(c.lat, c.lon));
    if !asked {
        return Err(gone());
    }
    let content_type =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    if !content_type.starts_with("video/") || content_type.len() > 100 {
        return Err(ApiError::bad_request("invalid_field", "Content-Type: must be a video/… type"));
    }
    let shared_as = request::text("shared_as", &params.shared_as, 80)?;
    let id = Uuid::new_v4();
    let key = format!("{request_id}/{id}");
    let (sha256, size) = store_stream(&portal, &key, video).await?;
    let now = db::now();
    let clip = Clip {
        id,
        request_id,
        owner_id: owner.id,
        shared_as,
        object_key: key,
        sha256,
        size: i64::try_from(size).unwrap_or(i64::MAX),
        content_type,
        created_at: now,
        delete_after: now + Duration::days(RETENTION_DAYS),
        first_downloaded_at: None,
        withdrawn_at: None,
        deleted_at: None,
    };
    db::create_clip(&portal.pool, &clip).await?;
    Ok((StatusCode::CREATED, Json(clip.into())))
}

/// Write a body to the clip store under `key` as it arrives, at most [`MAX_CLIP_BYTES`];
/// its SHA-256 (hex) and size. Nothing is left behind if it fails.
async fn store_stream(portal: &Portal, key: &str, body: Body) -> Result<(String, usize), ApiError> {
    let upload = portal.clips.put_multipart(&ObjectPath::from(key)).await.map_err(store_error)?;
    let mut upload = WriteMultipart::new(upload);
    let mut digest = Sha256::new();
    let mut size = 0usize;
    let mut stream = body.into_data_stream();
    let refusal = loop {
        let chunk = match stream.next().await {
            None if size == 0 => {
                break Some(ApiError::bad_request("invalid_field", "body: the clip is empty"));
            }
            None => break None,
            Some(Err(_)) => {
                break Some(ApiError::bad_request("invalid_field", "body: the upload was cut short"));
            }
            Some(Ok(chunk)) => chunk,
        };
        size += chunk.len();
        if size > MAX_CLIP_BYTES {
            break Some(ApiError::too_large("clip_too_large", "a clip may be at most 2 GB"));
        }
        digest.update(&chunk);
        upload.wait_for_capacity(4).await.map_err(store_error)?;
        upload.write(&chunk);
    };
    if let Some(refusal) = refusal {
        let _ = upload.abort().await;
        return Err(refusal);
    }
    upload.finish().await.map_err(store_error)?;
    Ok((hex(&digest.finalize()), size))
}

#[derive(Serialize, ToSchema)]
#[schema(as = PortalClipList)]
struct ClipList {
    clips: Vec<ClipBody>,
}

#[utoipa::path(get, path = "/v1/portal/my/clips", tag = "portal: clips", responses((status = 200, description = "The caller's shared clips", body = ClipList), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this")))]
async fn my_clips(
    Resident(owner): Resident,
    State(portal): State<Portal>,
) -> Result<Json<ClipList>, ApiError> {
    let clips = db::owner_clips(&portal.pool, owner.id).await?;
    Ok(Json(ClipList { clips: clips.into_iter().map(ClipBody::from).collect() }))
}

/// Withdraw a clip nobody has downloaded yet: its bytes are deleted.
#[utoipa::path(delete, path = "/v1/portal/clips/{clip}", tag = "portal: clips", params(("clip" = String, Path, description = "The clip's id")), responses((status = 204, description = "Withdrawn and deleted"), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this"), (status = 404, description = "No such thing as the path names"), (status = 409, description = "Already downloaded")))]
async fn withdraw(
    Resident(owner): Resident,
    State(portal): State<Portal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let gone = || ApiError::not_found("clip_not_found", "you shared no clip with this id");
    let id = Uuid::parse_str(&id).map_err(|_| gone())?;
    let clip = db::clip(&portal.pool, id).await?.filter(|c| c.owner_id == owner.id).ok_or_else(gone)?;
    if !db::withdraw_clip(&portal.pool, owner.id, id).await? {
        return Err(ApiError::conflict(
            "clip_downloaded",
            "the agency has downloaded it, or it was withdrawn already",
        ));
    }
    remove(&portal, &clip.object_key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A shared clip as the agency sees it: the sharer's chosen name, the digest, and a link.
#[derive(Serialize, ToSchema)]
#[schema(as = PortalSharedClip)]
struct SharedClip {
    id: Uuid,
    shared_as: String,
    sha256: String,
    size: i64,
    content_type: String,
    created_at: DateTime<Utc>,
    /// Works for this agency until `link_expires_at`; every download is recorded.
    download_url: String,
    link_expires_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PortalSharedList)]
struct SharedList {
    clips: Vec<SharedClip>,
}

/// The clips shared for one of the agency's requests. Nothing of who did not share.
#[utoipa::path(get, path = "/v1/portal/agencies/{agency}/requests/{request}/clips", tag = "portal: clips", params(("agency" = String, Path, description = "The agency's id"), ("request" = String, Path, description = "The request's id")), responses((status = 200, description = "Clips shared for the request, each with a signed download link", body = SharedList), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this"), (status = 404, description = "No such thing as the path names")))]
async fn shared_with_agency(
    reader: ClipReader,
    State(portal): State<Portal>,
    Path((_, request_id)): Path<(String, String)>,
) -> Result<Json<SharedList>, ApiError> {
    let gone = || ApiError::not_found("request_not_found", "this agency has no request with this id");
    let request_id = Uuid::parse_str(&request_id).map_err(|_| gone())?;
    let request = db::request(&portal.pool, request_id).await?.ok_or_else(gone)?;
    if request.agency_id != reader.agency {
        return Err(gone());
    }
    let expires = Utc::now() + portal.link_lifetime;
    let by = match reader.by {
        PostedBy::Officer(id) => format!("officer:{id}"),
        PostedBy::Token(id) => format!("token:{id}"),
    };
    let clips = db::shared_clips(&portal.pool, request_id).await?;
    let clips = clips
        .into_iter()
        .map(|c| {
            let link = Link {
                clip: c.id,
                agency: reader.agency.clone(),
                by: by.clone(),
                expires: expires.timestamp(),
            };
            SharedClip {
                download_url: link.url(&portal.link_key),
                link_expires_at: expires,
                id: c.id,
                shared_as: c.shared_as,
                sha256: c.sha256,
                size: c.size,
                content_type: c.content_type,
                created_at: c.created_at,
            }
        })
        .collect();
    Ok(Json(SharedList { clips }))
}

/// A download link: for one clip, one agency and who in it, until a time; signed with the
/// portal's key.
struct Link {
    clip: Uuid,
    agency: String,
    by: String,
    expires: i64,
}

impl Link {
    fn signature(&self, key: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
        mac.update(format!("{}\n{}\n{}\n{}", self.clip, self.agency, self.by, self.expires).as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    fn url(&self, key: &[u8]) -> String {
        format!(
            "/v1/portal/clips/{}/download?agency={}&by={}&expires={}&sig={}",
            self.clip,
            self.agency,
            self.by,
            self.expires,
            self.signature(key)
        )
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LinkParams {
    agency: String,
    by: String,
    expires: i64,
    sig: String,
}

/// Serve a clip through a signed link, recording the access.
#[utoipa::path(get, path = "/v1/portal/clips/{clip}/download", tag = "portal: clips", params(("clip" = String, Path, description = "The clip's id"), LinkParams), responses((status = 200, description = "The clip's bytes", body = Vec<u8>), (status = 403, description = "The link is not signed, or has expired"), (status = 404, description = "No such clip")))]
async fn download(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    Query(params): Query<LinkParams>,
) -> Result<Response, ApiError> {
    let refused = || ApiError::forbidden("link_invalid", "this link is not valid");
    let clip_id = Uuid::parse_str(&id).map_err(|_| refused())?;
    let link = Link { clip: clip_id, agency: params.agency, by: params.by, expires: params.expires };
    let expected = link.signature(&portal.link_key);
    if !constant_time_eq(expected.as_bytes(), params.sig.as_bytes()) {
        return Err(refused());
    }
    if Utc::now().timestamp() > link.expires {
        return Err(ApiError::gone(
            "link_expired",
            "this link has expired: list the request's clips for a new one",
        ));
    }
    let by = match link.by.split_once(':') {
        Some(("officer", id)) => PostedBy::Officer(Uuid::parse_str(id).map_err(|_| refused())?),
        Some(("token", id)) => PostedBy::Token(Uuid::parse_str(id).map_err(|_| refused())?),
        _ => return Err(refused()),
    };
    let clip = db::clip(&portal.pool, clip_id).await?.ok_or_else(refused)?;
    let gone = || ApiError::gone("clip_gone", "the clip was withdrawn or has been deleted");
    if clip.withdrawn_at.is_some() || clip.deleted_at.is_some() {
        return Err(gone());
    }
    let bytes = portal
        .clips
        .get(&ObjectPath::from(clip.object_key.as_str()))
        .await
        .map_err(store_error)?
        .bytes()
        .await
        .map_err(store_error)?;
    if !db::record_access(&portal.pool, clip.id, &link.agency, &by).await? {
        return Err(gone());
    }
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&clip.content_type).map_err(|_| ApiError::internal())?,
    );
    headers
        .insert("x-content-sha256", HeaderValue::from_str(&clip.sha256).map_err(|_| ApiError::internal())?);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How many times a clip has been downloaded (for tests and, later, the transparency log).
pub async fn access_count(portal: &Portal, clip: Uuid) -> Result<i64, PortalError> {
    Ok(db::clip_access_count(&portal.pool, clip).await?)
}
