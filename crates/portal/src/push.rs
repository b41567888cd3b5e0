//! Web Push notices: a resident registers their browser's `PushSubscription`; when a request
//! is approved, each browser of each owner of an active camera in its area is sent a notice,
//! encrypted to the browser's keys (RFC 8291) and signed with the portal's own VAPID key
//! (RFC 8292), once. A push service's 404 or 410 removes the subscription.

use std::time::Duration;

use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
    http::StatusCode,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;
use web_push_native::{
    Auth, WebPushBuilder,
    jwt_simple::algorithms::{ECDSAP256PublicKeyLike, ES256KeyPair},
    p256::PublicKey,
};

use crate::{
    Portal, PortalError,
    api::{ApiError, body},
    auth::Resident,
    db,
};

/// The portal's VAPID key, made once and kept in its settings.
pub(crate) struct Vapid {
    key: ES256KeyPair,
    public: String,
}

impl Vapid {
    pub(crate) async fn load(pool: &porchlight_db::Db) -> Result<Self, PortalError> {
        let bytes = db::setting_or_insert(pool, "vapid_key", ES256KeyPair::generate().to_bytes()).await?;
        let key =
            ES256KeyPair::from_bytes(&bytes).map_err(|e| PortalError::Mail(format!("the VAPID key: {e}")))?;
        let public = URL_SAFE_NO_PAD.encode(key.public_key().public_key().to_bytes_uncompressed());
        Ok(Self { key, public })
    }
}

pub(crate) fn router() -> OpenApiRouter<Portal> {
    OpenApiRouter::new().routes(routes!(key)).routes(routes!(subscribe)).routes(routes!(unsubscribe))
}

#[derive(Serialize, ToSchema)]
#[schema(as = PortalKey)]
struct KeyBody {
    public_key: String,
}

/// The browser's `applicationServerKey`.
#[utoipa::path(get, path = "/v1/portal/push/key", tag = "portal: notifications", responses((status = 200, description = "The portal's Web Push key", body = KeyBody)))]
async fn key(State(portal): State<Portal>) -> Json<KeyBody> {
    Json(KeyBody { public_key: portal.vapid.public.clone() })
}

/// A browser's `PushSubscription`, as `JSON.stringify` gives it.
#[derive(Deserialize, ToSchema)]
#[schema(as = PortalPushSubscription)]
struct PushSubscriptionBody {
    endpoint: String,
    keys: PushKeys,
    #[serde(default, rename = "expirationTime")]
    _expiration_time: Option<serde_json::Value>,
}

#[derive(Deserialize, ToSchema)]
#[schema(as = PortalPushKeys)]
#[serde(deny_unknown_fields)]
struct PushKeys {
    p256dh: String,
    auth: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PortalSubscription)]
struct SubscriptionBody {
    id: Uuid,
}

/// The most browsers an account may register for notices (issue 13: limits everywhere).
pub const MAX_BROWSERS: i64 = 20;

#[utoipa::path(post, path = "/v1/portal/push/subscriptions", tag = "portal: notifications", request_body = PushSubscriptionBody, responses((status = 201, description = "Requests covering the caller's cameras will be pushed to this browser", body = SubscriptionBody), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this"), (status = 409, description = "The account has as many browsers as it may")))]
async fn subscribe(
    Resident(owner): Resident,
    State(portal): State<Portal>,
    subscription: Result<Json<PushSubscriptionBody>, JsonRejection>,
) -> Result<(StatusCode, Json<SubscriptionBody>), ApiError> {
    let s = body(subscription)?;
    let url =
        s.endpoint.parse::<http::Uri>().ok().filter(|u| matches!(u.scheme_str(), Some("https" | "http")));
    if url.is_none() || s.endpoint.len() > 2048 {
        return Err(ApiError::bad_request("invalid_field", "endpoint: not an http or https URL"));
    }
    let p256dh = URL_SAFE_NO_PAD.decode(s.keys.p256dh.trim_end_matches('=')).unwrap_or_default();
    if PublicKey::from_sec1_bytes(&p256dh).is_err() {
        return Err(ApiError::bad_request("invalid_field", "keys.p256dh: not a P-256 public key"));
    }
    if URL_SAFE_NO_PAD.decode(s.keys.auth.trim_end_matches('=')).map(|a| a.len()) != Ok(16) {
        return Err(ApiError::bad_request("invalid_field", "keys.auth: not a 16-byte secret"));
    }
    if db::push_subscription_count(&portal.pool, owner.id).await? >= MAX_BROWSERS {
        return Err(ApiError::conflict(
            "too_many_browsers",
            format!("an account may have at most {MAX_BROWSERS} browsers; remove one first"),
        ));
    }
    let id =
        db::add_push_subscription(&portal.pool, owner.id, &s.endpoint, &s.keys.p256dh, &s.keys.auth).await?;
    Ok((StatusCode::CREATED, Json(SubscriptionBody { id })))
}

#[utoipa::path(delete, path = "/v1/portal/push/subscriptions/{id}", tag = "portal: notifications", params(("id" = String, Path, description = "The push subscription's id")), responses((status = 204, description = "Removed"), (status = 400, description = "The body or a parameter is invalid"), (status = 401, description = "Not signed in (session cookie and X-CSRF-Token header for changes, or an agency's bearer token)"), (status = 403, description = "The caller's role may not do this"), (status = 404, description = "No such thing as the path names")))]
async fn unsubscribe(
    Resident(owner): Resident,
    State(portal): State<Portal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let gone = || ApiError::not_found("subscription_not_found", "you have no push subscription with this id");
    let id = Uuid::parse_str(&id).map_err(|_| gone())?;
    if db::delete_push_subscription(&portal.pool, Some(owner.id), id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(gone())
    }
}

/// Attempts before a push notice is given up.
const MAX_ATTEMPTS: u32 = 8;

/// Sends the portal's Web Push notices.
#[derive(Debug, Clone)]
pub struct PushSender {
    http: reqwest::Client,
    /// Who runs the portal, for push services: a `mailto:` or `https:` URL.
    contact: String,
}

impl PushSender {
    pub fn new(contact: &str) -> Result<Self, PortalError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| PortalError::Mail(format!("the HTTP client: {e}")))?;
        Ok(Self { http, contact: contact.to_owned() })
    }

    /// Send one notice: whether the subscription is gone, or why it failed.
    async fn send(
        &self,
        vapid: &Vapid,
        subscription: &db::PushSubscription,
        request: &db::Request,
    ) -> Result<(), Sent> {
        let endpoint: http::Uri =
            subscription.endpoint.parse().map_err(|_| Sent::Failed("bad endpoint".into()))?;
        let p256dh = URL_SAFE_NO_PAD.decode(subscription.p256dh.trim_end_matches('=')).unwrap_or_default();
        let public = PublicKey::from_sec1_bytes(&p256dh).map_err(|_| Sent::Failed("bad key".into()))?;
        let auth: [u8; 16] = URL_SAFE_NO_PAD
            .decode(subscription.auth.trim_end_matches('='))
            .ok()
            .and_then(|a| a.try_into().ok())
            .ok_or_else(|| Sent::Failed("bad auth".into()))?;
        let payload = serde_json::to_vec(&serde_json::json!({
            "title": "A request for camera footage near you",
            "body": format!("{}: {}", request.incident_type.replace('_', " "), request.description.chars().take(300).collect::<String>()),
            "request": request.id,
            "url": "/v1/portal/inbox",
        }))
        .expect("a notice serializes");
        let built = WebPushBuilder::new(endpoint, public, Auth::from(auth))
            .with_valid_duration(Duration::from_secs(24 * 60 * 60))
            .with_vapid(&vapid.key, &self.contact)
            .build(payload)
            .map_err(|e| Sent::Failed(format!("encrypting: {e}")))?;
        let (parts, body) = built.into_parts();
        let response = self
            .http
            .post(&subscription.endpoint)
            .headers(parts.headers)
            .header("Urgency", "normal")
            .body(body)
            .send()
            .await
            .map_err(|_| Sent::Failed("the push service did not answer".into()))?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            404 | 410 => Err(Sent::Gone),
            status => Err(Sent::Failed(format!("the push service answered {status}"))),
        }
    }
}

enum Sent {
    Gone,
    Failed(String),
}

impl Portal {
    /// Send the push notices that are due; how many were delivered.
    pub async fn send_push_notices(&self, sender: &PushSender) -> Result<usize, PortalError> {
        let now = Utc::now();
        let due = db::take_push_notices(&self.pool, now, now + chrono::Duration::minutes(2)).await?;
        let mut sent = 0;
        for (request, subscription, attempts) in due {
            let outcome = match sender.send(&self.vapid, &subscription, &request).await {
                Ok(()) => {
                    sent += 1;
                    Ok(())
                }
                Err(Sent::Gone) => {
                    // The browser unsubscribed: forget it (its notices go with it).
                    db::delete_push_subscription(&self.pool, None, subscription.id).await?;
                    continue;
                }
                Err(Sent::Failed(e)) if attempts + 1 >= MAX_ATTEMPTS => Err((e, None)),
                Err(Sent::Failed(e)) => {
                    Err((e, Some(Utc::now() + chrono::Duration::minutes(1 << attempts.min(10)))))
                }
            };
            db::record_notice(&self.pool, db::Notices::Push, request.id, subscription.id, outcome).await?;
        }
        Ok(sent)
    }

    /// Send push notices every few seconds until the task is dropped.
    pub async fn run_push_notices(self, sender: PushSender) {
        loop {
            if let Err(e) = self.send_push_notices(&sender).await {
                tracing::error!(error = %e, "sending push notices failed; retrying");
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}
