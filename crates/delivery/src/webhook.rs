//! Webhooks: each alert as a JSON POST, signed as the Standard Webhooks specification says
//! (<https://www.standardwebhooks.com>), so receivers can use its libraries:
//!
//! - `webhook-id`: `alert_<id>`, the same on every retry and redelivery of an alert: one per
//!   subscriber, incident and version, the key to drop repeats by;
//! - `webhook-timestamp`: the attempt's time in Unix seconds (reject old ones to stop replays);
//! - `webhook-signature`: `v1,` and the base64 HMAC-SHA256, keyed with the channel's secret, of
//!   `<webhook-id>.<webhook-timestamp>.<body>`.
//!
//! The secret is shown once, when the channel is made, as `whsec_` and its base64 (by the API).

use porchlight_core::alert::{Alert, AlertKind};
use serde::Serialize;

use crate::{Failure, Sent};

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// The `webhook-signature` value for a message.
pub use porchlight_core::signature::webhook::sign as signature;

#[derive(Serialize)]
struct Payload {
    /// `alert.new`, `alert.update` or `alert.retraction`.
    r#type: &'static str,
    timestamp: chrono::DateTime<chrono::Utc>,
    data: porchlight_http::AlertBody,
}

pub(crate) async fn send(http: &reqwest::Client, url: &str, secret: &[u8], alert: &Alert) -> Sent {
    let now = chrono::Utc::now();
    let body = serde_json::to_vec(&Payload {
        r#type: match alert.kind {
            AlertKind::New => "alert.new",
            AlertKind::Update => "alert.update",
            AlertKind::Retraction => "alert.retraction",
        },
        timestamp: now,
        data: porchlight_http::AlertBody::from(alert.clone()),
    })
    .expect("a payload serializes");
    let id = format!("alert_{}", alert.id);
    let timestamp = now.timestamp();
    let request = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(ID_HEADER, &id)
        .header(TIMESTAMP_HEADER, timestamp)
        .header(SIGNATURE_HEADER, signature(secret, &id, timestamp, &body))
        .body(body);
    let status = status_of(request).await?;
    if status.is_success() {
        Ok(Some(status.as_u16()))
    } else {
        Err(Failure::new(Some(status.as_u16()), format!("the receiver answered {status}")))
    }
}

/// Send a request and read its (small) answer, so that the connection can be used again;
/// the status, or why there was none.
pub(crate) async fn status_of(request: reqwest::RequestBuilder) -> Result<reqwest::StatusCode, Failure> {
    let response = request.send().await.map_err(|e| Failure::new(None, request_error(&e)))?;
    let status = response.status();
    let _ = response.bytes().await;
    Ok(status)
}

/// What went wrong with a request, in words a subscriber can act on, without the URL.
pub(crate) fn request_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer in time".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else if e.is_builder() {
        "the URL cannot be requested".into()
    } else {
        format!("the request failed: {}", e.without_url_ref())
    }
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let text = self.to_string();
        match self.url() {
            Some(url) => text.replace(url.as_str(), "the endpoint"),
            None => text,
        }
    }
}
