//! Who is calling, as extractors: a route states what it needs in its arguments
//! (`PlatformAdmin`, `AgencyAdmin`, `SignedIn`, `Caller`), so none can forget to check.
//!
//! A browser signs in for a session: a random token in a `Secure`, `HttpOnly`,
//! `SameSite=Strict` cookie, and a CSRF token it must send back in `x-csrf-token` with every
//! request that changes anything. An agency's system sends `Authorization: Bearer plt_…`.
//! Only SHA-256 hashes of both kinds of token are stored.

use axum::{
    extract::{FromRequestParts, Path},
    http::{HeaderMap, Method, request::Parts},
};
use axum_extra::extract::CookieJar;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use crate::{
    Portal,
    api::ApiError,
    db::{self, Account, Token},
    domain::Role,
};

pub(crate) const SESSION_COOKIE: &str = "porchlight_session";
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";
pub(crate) const TOKEN_PREFIX: &str = "plt_";

/// A fresh random token (256 bits from the system's source, through two UUID v4s), base64url.
pub(crate) fn new_token() -> String {
    let bytes: Vec<u8> =
        [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()].iter().flat_map(|u| u.into_bytes()).collect();
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Who is calling.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// A person signed in through a session.
    Account(Account),
    /// An agency's system, by its API token.
    Agency(Token),
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")
}

impl FromRequestParts<Portal> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, ApiError> {
        if let Some(token) = bearer(&parts.headers) {
            if !token.starts_with(TOKEN_PREFIX) {
                return Err(ApiError::unauthorized("token_invalid", "not a Porchlight API token"));
            }
            return match db::token(&portal.pool, &hash(token)).await? {
                Some(t) => Ok(Self::Agency(t)),
                None => {
                    Err(ApiError::unauthorized("token_invalid", "the token is unknown, expired or revoked"))
                }
            };
        }
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(cookie) = jar.get(SESSION_COOKIE) else {
            return Err(ApiError::unauthorized("not_signed_in", "sign in first"));
        };
        let Some((account, csrf_hash)) = db::session(&portal.pool, &hash(cookie.value())).await? else {
            return Err(ApiError::unauthorized(
                "not_signed_in",
                "the session is unknown or expired: sign in again",
            ));
        };
        // A change must carry the session's CSRF token: another site can make the browser
        // send the cookie, but cannot read the token.
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
            if hash(sent) != csrf_hash {
                return Err(ApiError::forbidden(
                    "csrf_token_missing",
                    "send the session's CSRF token in x-csrf-token",
                ));
            }
        }
        Ok(Self::Account(account))
    }
}

/// Any signed-in person (not an agency's token).
pub(crate) struct SignedIn(pub Account);

impl FromRequestParts<Portal> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, portal).await? {
            Caller::Account(a) => Ok(Self(a)),
            Caller::Agency(_) => Err(ApiError::forbidden("people_only", "an API token cannot do this")),
        }
    }
}

/// A platform administrator.
pub(crate) struct PlatformAdmin(pub Account);

impl FromRequestParts<Portal> for PlatformAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, ApiError> {
        let SignedIn(account) = SignedIn::from_request_parts(parts, portal).await?;
        if account.role == Role::PlatformAdmin {
            Ok(Self(account))
        } else {
            Err(ApiError::forbidden("platform_admins_only", "only a platform administrator can do this"))
        }
    }
}

/// An administrator of the verified agency named by the route's `{agency}`.
pub(crate) struct AgencyAdmin {
    pub account: Account,
    pub agency: String,
}

impl FromRequestParts<Portal> for AgencyAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, ApiError> {
        let SignedIn(account) = SignedIn::from_request_parts(parts, portal).await?;
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, portal)
            .await
            .map_err(|_| ApiError::not_found("route_not_found", "no such route"))?;
        let agency = params.into_iter().find(|(k, _)| k == "agency").map(|(_, v)| v).unwrap_or_default();
        if account.role != Role::AgencyAdmin || account.agency_id.as_deref() != Some(agency.as_str()) {
            return Err(ApiError::forbidden(
                "agency_admins_only",
                "only an administrator of this agency can do this",
            ));
        }
        match db::agency(&portal.pool, &agency).await? {
            Some(a) if a.verified_at.is_some() => Ok(Self { account, agency }),
            _ => Err(ApiError::forbidden("agency_not_verified", "the agency has not been verified yet")),
        }
    }
}

/// A resident (camera owners are residents).
pub(crate) struct Resident(pub Account);

impl FromRequestParts<Portal> for Resident {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, ApiError> {
        let SignedIn(account) = SignedIn::from_request_parts(parts, portal).await?;
        if account.role == Role::Resident {
            Ok(Self(account))
        } else {
            Err(ApiError::forbidden("residents_only", "only a resident can do this"))
        }
    }
}

/// A moderator.
pub(crate) struct Moderator(pub Account);

impl FromRequestParts<Portal> for Moderator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, ApiError> {
        let SignedIn(account) = SignedIn::from_request_parts(parts, portal).await?;
        if account.role == Role::Moderator {
            Ok(Self(account))
        } else {
            Err(ApiError::forbidden("moderators_only", "only a moderator can do this"))
        }
    }
}

/// The verified agency of the route's `{agency}`, and who acts for it: one of its officers, or
/// its system with a token holding `scope`.
async fn acting_for_agency(
    parts: &mut Parts,
    portal: &Portal,
    scope: &str,
) -> Result<(String, db::PostedBy), ApiError> {
    let caller = Caller::from_request_parts(parts, portal).await?;
    let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, portal)
        .await
        .map_err(|_| ApiError::not_found("route_not_found", "no such route"))?;
    let agency = params.into_iter().find(|(k, _)| k == "agency").map(|(_, v)| v).unwrap_or_default();
    let by = match caller {
        Caller::Account(a) if a.role == Role::Officer && a.agency_id.as_deref() == Some(agency.as_str()) => {
            db::PostedBy::Officer(a.id)
        }
        Caller::Agency(t) if t.agency_id == agency && t.scopes.iter().any(|s| s == scope) => {
            db::PostedBy::Token(t.id)
        }
        _ => return Err(ApiError::forbidden("officers_only", "only an officer of this agency can do this")),
    };
    match db::agency(&portal.pool, &agency).await? {
        Some(a) if a.verified_at.is_some() => Ok((agency, by)),
        _ => Err(ApiError::forbidden("agency_not_verified", "the agency has not been verified yet")),
    }
}

/// Who may post requests for the agency of the route: an officer, or a `requests:write` token.
pub(crate) struct Poster {
    pub agency: String,
    pub by: db::PostedBy,
}

impl FromRequestParts<Portal> for Poster {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, ApiError> {
        let (agency, by) = acting_for_agency(parts, portal, "requests:write").await?;
        Ok(Self { agency, by })
    }
}

/// Who may see the clips shared with the agency of the route: an officer, or a `clips:read`
/// token.
pub(crate) struct ClipReader {
    pub agency: String,
    pub by: db::PostedBy,
}

impl FromRequestParts<Portal> for ClipReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, ApiError> {
        let (agency, by) = acting_for_agency(parts, portal, "clips:read").await?;
        Ok(Self { agency, by })
    }
}
