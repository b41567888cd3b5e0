//! Web Push: an alert to a browser through its push service, encrypted to the browser's keys
//! (RFC 8291, `aes128gcm` of RFC 8188) and signed with this server's VAPID key (RFC 8292).
//! No app and no account: the browser's `PushSubscription` is the whole registration.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use porchlight_core::alert::{Alert, AlertKind};
use porchlight_store::Store;
use serde::Serialize;
use web_push_native::{
    Auth, WebPushBuilder,
    jwt_simple::algorithms::{ECDSAP256PublicKeyLike, ES256KeyPair},
    p256::PublicKey,
};

use crate::{Error, Failure, Sent, webhook::status_of};

/// The settings key of the VAPID private key.
const KEY_SETTING: &str = "vapid_key";
/// How long a push service keeps an alert for a browser that is offline.
const TTL: Duration = Duration::from_secs(12 * 60 * 60);
/// Push services take at least 4,096 bytes of payload; the context is cut to stay well inside.
const MAX_BODY_CHARS: usize = 1_000;

/// This server's VAPID key pair, made once and kept in the store.
pub struct Vapid {
    key: ES256KeyPair,
    public: String,
}

impl Vapid {
    pub(crate) async fn load(store: &Store) -> Result<Self, Error> {
        let bytes = store.setting_or_insert(KEY_SETTING, || ES256KeyPair::generate().to_bytes()).await?;
        let key = ES256KeyPair::from_bytes(&bytes).map_err(|e| Error::VapidKey(e.to_string()))?;
        let public = URL_SAFE_NO_PAD.encode(key.public_key().public_key().to_bytes_uncompressed());
        Ok(Self { key, public })
    }

    pub fn public_key(&self) -> &str {
        &self.public
    }
}

pub(crate) struct Keys<'a> {
    pub endpoint: &'a str,
    pub p256dh: &'a str,
    pub auth: &'a str,
}

/// What the browser's service worker receives: enough to show a notification and open the
/// incident.
#[derive(Serialize)]
struct Notification<'a> {
    alert: i64,
    kind: &'a str,
    title: String,
    body: String,
    incident: uuid::Uuid,
    url: String,
}

pub(crate) async fn send(
    http: &reqwest::Client,
    vapid: &Vapid,
    contact: &str,
    keys: Keys<'_>,
    alert: &Alert,
    public_url: &str,
) -> Sent {
    let bad = |what: &str| Failure {
        permanent: true,
        ..Failure::new(None, format!("the push subscription's {what}"))
    };
    let endpoint: http::Uri = keys.endpoint.parse().map_err(|_| bad("endpoint is not a URL"))?;
    let p256dh = URL_SAFE_NO_PAD
        .decode(keys.p256dh.trim_end_matches('='))
        .map_err(|_| bad("p256dh is not base64url"))?;
    let auth =
        URL_SAFE_NO_PAD.decode(keys.auth.trim_end_matches('=')).map_err(|_| bad("auth is not base64url"))?;
    let public = PublicKey::from_sec1_bytes(&p256dh).map_err(|_| bad("p256dh is not a P-256 point"))?;
    let auth: [u8; 16] = auth.try_into().map_err(|_| bad("auth is not 16 bytes"))?;
    let mut body = alert.context();
    if let Some((cut, _)) = body.char_indices().nth(MAX_BODY_CHARS) {
        body.truncate(cut);
    }
    let payload = serde_json::to_vec(&Notification {
        alert: alert.id,
        kind: alert.kind.as_str(),
        title: alert.headline(),
        body,
        incident: alert.incident.id,
        // The incident's page in the web app, where a click on the notification opens.
        url: format!("{}/incidents/{}", public_url.trim_end_matches('/'), alert.incident.id),
    })
    .expect("a notification serializes");
    let request = WebPushBuilder::new(endpoint, public, Auth::from(auth))
        .with_valid_duration(TTL)
        .with_vapid(&vapid.key, contact)
        .build(payload)
        .map_err(|e| Failure::new(None, format!("the message could not be encrypted or signed: {e}")))?;
    let (parts, body) = request.into_parts();
    // A retraction matters as much as the first word; both outrank an update.
    let urgency = if alert.kind == AlertKind::Update { "normal" } else { "high" };
    let request = http
        .post(keys.endpoint)
        .headers(parts.headers)
        .header("Urgency", urgency)
        // The same topic on every attempt: a push service replaces an undelivered repeat.
        .header("Topic", format!("alert{}", alert.id))
        .body(body);
    let status = status_of(request).await?;
    match status.as_u16() {
        200..=299 => Ok(Some(status.as_u16())),
        404 | 410 => Err(Failure {
            gone: true,
            ..Failure::new(
                Some(status.as_u16()),
                format!("the push service answered {status}: the subscription is gone"),
            )
        }),
        413 => Err(Failure {
            permanent: true,
            ..Failure::new(Some(status.as_u16()), "the push service refused the payload as too large")
        }),
        _ => Err(Failure::new(Some(status.as_u16()), format!("the push service answered {status}"))),
    }
}
