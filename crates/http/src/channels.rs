//! Channels and deliveries: where a subscription's live alerts go besides the live streams
//! (Web Push, a webhook, an e-mail address), the log of every attempt, the dead letters and
//! their redelivery, and the one-click unsubscribe of e-mails.

use axum::{
    Json,
    extract::{
        Path, Query, State,
        rejection::{JsonRejection, QueryRejection},
    },
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use chrono::{DateTime, Utc};
use porchlight_core::channel::{Kind, Target};
use porchlight_store::{Channel, DeliveryLog};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    ApiError, AppState,
    incidents::{parse_id, parse_limit, query_error},
};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(push_key))
        .routes(routes!(create, list))
        .routes(routes!(delete))
        .routes(routes!(resume))
        .routes(routes!(deliveries))
        .routes(routes!(redeliver))
        .routes(routes!(unsubscribe_page, unsubscribe))
}

/// The Web Push key browsers subscribe with (`applicationServerKey`).
#[derive(Serialize, ToSchema)]
struct PushKeyBody {
    public_key: String,
}

#[utoipa::path(get, path = "/v1/push/key", tag = "channels",
    responses((status = 200, body = PushKeyBody), (status = 404, description = "This server sends no Web Push", body = crate::error::ErrorBody)))]
async fn push_key(State(state): State<AppState>) -> Result<Json<PushKeyBody>, ApiError> {
    match state.push_key {
        Some(public_key) => Ok(Json(PushKeyBody { public_key })),
        None => Err(ApiError::not_found("push_not_configured", "this server sends no Web Push")),
    }
}

/// A browser's `PushSubscription`, as `JSON.stringify` gives it.
#[derive(Deserialize, ToSchema)]
struct PushSubscriptionBody {
    endpoint: String,
    keys: PushKeys,
    /// Browsers send it; push services say when a subscription ends by answering 404 or 410.
    #[serde(default, rename = "expirationTime")]
    #[schema(value_type = Option<Object>)]
    _expiration_time: Option<serde_json::Value>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PushKeys {
    p256dh: String,
    auth: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum NewChannelBody {
    #[serde(rename = "webpush")]
    WebPush {
        subscription: PushSubscriptionBody,
    },
    Webhook {
        url: String,
    },
    Email {
        address: String,
    },
}

#[derive(Serialize, ToSchema)]
struct ChannelBody {
    id: Uuid,
    /// webpush, webhook or email.
    #[schema(value_type = String)]
    kind: Kind,
    /// active, paused (failed for too long: resume it) or gone (the browser unsubscribed).
    state: &'static str,
    /// The webhook's URL, the push service's endpoint or the address.
    target: String,
    /// Failed attempts since the last success.
    failures: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    failing_since: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    /// A webhook's signing secret: shown here once, when the channel is made.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl From<Channel> for ChannelBody {
    fn from(c: Channel) -> Self {
        Self {
            id: c.id,
            kind: c.target.kind(),
            state: c.state.as_str(),
            target: match c.target {
                Target::WebPush { endpoint, .. } => endpoint,
                Target::Webhook { url } => url,
                Target::Email { address } => address,
            },
            failures: c.failures,
            failing_since: c.failing_since,
            created_at: c.created_at,
            secret: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct ChannelList {
    channels: Vec<ChannelBody>,
}

/// The most channels one subscription may have (issue 13: limits everywhere).
pub const MAX_CHANNELS: usize = 10;

/// Add a channel (Web Push, a webhook or an e-mail address) to a subscription.
#[utoipa::path(post, path = "/v1/subscriptions/{id}/channels", tag = "channels", params(("id" = String, Path, description = "The subscription's id: its only credential")),
    request_body = NewChannelBody,
    responses(
        (status = 201, body = ChannelBody),
        (status = 400, description = "The body or a field of it is invalid", body = crate::error::ErrorBody),
        (status = 404, description = "No such subscription", body = crate::error::ErrorBody),
        (status = 409, description = "The subscription has as many channels as it may", body = crate::error::ErrorBody),
    ))]
async fn create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<NewChannelBody>, JsonRejection>,
) -> Result<(StatusCode, Json<ChannelBody>), ApiError> {
    let id = parse_id("subscription", &id)?;
    let Json(body) = body.map_err(ApiError::bad_body)?;
    let target = match body {
        NewChannelBody::WebPush { subscription: s } => {
            if state.push_key.is_none() {
                return Err(ApiError::bad_request("push_not_configured", "this server sends no Web Push"));
            }
            Target::WebPush { endpoint: s.endpoint, p256dh: s.keys.p256dh, auth: s.keys.auth }
        }
        NewChannelBody::Webhook { url } => Target::Webhook { url },
        NewChannelBody::Email { address } => Target::Email { address },
    };
    target.check().map_err(|e| ApiError::bad_request("invalid_channel", e.to_string()))?;
    if state.store.channels(id).await?.len() >= MAX_CHANNELS {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many_channels",
            format!("a subscription may have at most {MAX_CHANNELS} channels; delete one first"),
        ));
    }
    let (channel, secret) = state.store.create_channel(id, &target).await?.ok_or_else(not_found)?;
    let mut body = ChannelBody::from(channel);
    if body.kind == Kind::Webhook {
        body.secret = Some(format!("whsec_{}", STANDARD.encode(secret)));
    }
    Ok((StatusCode::CREATED, Json(body)))
}

fn not_found() -> ApiError {
    ApiError::not_found("subscription_not_found", "no subscription with this id")
}

/// The subscription's channels.
#[utoipa::path(get, path = "/v1/subscriptions/{id}/channels", tag = "channels", params(("id" = String, Path, description = "The subscription's id: its only credential")),
    responses((status = 200, body = ChannelList), (status = 400, description = "The id is not a UUID", body = crate::error::ErrorBody), (status = 404, description = "No such subscription", body = crate::error::ErrorBody)))]
async fn list(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<ChannelList>, ApiError> {
    let id = parse_id("subscription", &id)?;
    state.store.subscription(id).await?.ok_or_else(not_found)?;
    let channels = state.store.channels(id).await?;
    Ok(Json(ChannelList { channels: channels.into_iter().map(ChannelBody::from).collect() }))
}

fn channel_not_found() -> ApiError {
    ApiError::not_found("channel_not_found", "no channel with this id in this subscription")
}

/// Remove a channel.
#[utoipa::path(delete, path = "/v1/subscriptions/{id}/channels/{channel}", tag = "channels", params(("id" = String, Path, description = "The subscription's id: its only credential"), ("channel" = String, Path, description = "The channel's id")),
    responses((status = 204, description = "Removed"), (status = 400, description = "An id is not a UUID", body = crate::error::ErrorBody), (status = 404, description = "No such channel", body = crate::error::ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    Path((id, channel)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (id, channel) = (parse_id("subscription", &id)?, parse_id("channel", &channel)?);
    if state.store.delete_channel(id, channel).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(channel_not_found())
    }
}

/// Take a paused channel back into service. Its dead letters stay dead until redelivered.
#[utoipa::path(post, path = "/v1/subscriptions/{id}/channels/{channel}/resume", tag = "channels", params(("id" = String, Path, description = "The subscription's id: its only credential"), ("channel" = String, Path, description = "The channel's id")),
    responses((status = 200, body = ChannelBody), (status = 400, description = "An id is not a UUID", body = crate::error::ErrorBody), (status = 404, description = "No such channel", body = crate::error::ErrorBody)))]
async fn resume(
    State(state): State<AppState>,
    Path((id, channel)): Path<(String, String)>,
) -> Result<Json<ChannelBody>, ApiError> {
    let (id, channel) = (parse_id("subscription", &id)?, parse_id("channel", &channel)?);
    let channel = state.store.resume_channel(id, channel).await?.ok_or_else(channel_not_found)?;
    Ok(Json(channel.into()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeliveryParams {
    /// pending, delivered or dead (the dead letters).
    state: Option<String>,
    /// The last delivery id of the previous page.
    after: Option<String>,
    /// At most this many, up to 1000 (default 100).
    limit: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct AttemptBody {
    at: DateTime<Utc>,
    /// delivered, failed or gone.
    outcome: String,
    /// The HTTP status or SMTP reply code, when there was an answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    duration_ms: u64,
}

#[derive(Serialize, ToSchema)]
struct PeriodBody {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
struct DeliveryBody {
    id: i64,
    channel: Uuid,
    #[schema(value_type = String)]
    kind: Kind,
    /// The alert delivered; absent for a digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    alert: Option<i64>,
    /// An e-mail digest: the period whose held alerts it carried.
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<PeriodBody>,
    state: String,
    /// When retries began (or began again, on redelivery).
    since: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_attempt_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    done_at: Option<DateTime<Utc>>,
    /// Why a dead letter is dead.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    attempts: Vec<AttemptBody>,
}

impl From<DeliveryLog> for DeliveryBody {
    fn from(d: DeliveryLog) -> Self {
        Self {
            id: d.id,
            channel: d.channel_id,
            kind: d.kind,
            alert: d.alert_id,
            digest: d.digest.map(|(from, to)| PeriodBody { from, to }),
            state: d.state,
            since: d.since,
            next_attempt_at: d.due_at,
            done_at: d.done_at,
            reason: d.reason,
            attempts: d
                .attempts
                .into_iter()
                .map(|a| AttemptBody {
                    at: a.at,
                    outcome: a.outcome,
                    status: a.status,
                    error: a.error,
                    duration_ms: a.duration_ms,
                })
                .collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct DeliveryList {
    deliveries: Vec<DeliveryBody>,
}

/// The delivery log: each alert's delivery to each channel with every attempt, oldest first;
/// `?state=dead` lists the dead letters.
#[utoipa::path(get, path = "/v1/subscriptions/{id}/deliveries", tag = "channels", params(("id" = String, Path, description = "The subscription's id: its only credential"), DeliveryParams),
    responses((status = 200, body = DeliveryList), (status = 400, description = "A parameter is malformed", body = crate::error::ErrorBody), (status = 404, description = "No such subscription", body = crate::error::ErrorBody)))]
async fn deliveries(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Result<Query<DeliveryParams>, QueryRejection>,
) -> Result<Json<DeliveryList>, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    let id = parse_id("subscription", &id)?;
    state.store.subscription(id).await?.ok_or_else(not_found)?;
    if let Some(s) = p.state.as_deref()
        && !matches!(s, "pending" | "delivered" | "dead")
    {
        return Err(ApiError::bad_request("invalid_query", "state must be pending, delivered or dead"));
    }
    let after = p
        .after
        .as_deref()
        .map(|a| {
            a.parse::<i64>()
                .map_err(|_| ApiError::bad_request("invalid_query", "after must be a delivery id"))
        })
        .transpose()?;
    let limit = parse_limit(p.limit.as_deref(), 100)?;
    let log = state.store.deliveries(id, p.state.as_deref(), after, limit).await?;
    Ok(Json(DeliveryList { deliveries: log.into_iter().map(DeliveryBody::from).collect() }))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct RedeliverBody {
    /// The dead letters to send again; omitted: all of them.
    ids: Option<Vec<i64>>,
}

#[derive(Serialize, ToSchema)]
struct RedeliverAnswer {
    /// Dead letters queued again (those of paused or gone channels stay dead).
    queued: u64,
}

/// Queue dead letters again: those named in `ids`, or all of them.
#[utoipa::path(post, path = "/v1/subscriptions/{id}/deliveries/redeliver", tag = "channels", params(("id" = String, Path, description = "The subscription's id: its only credential")),
    request_body(content = Option<RedeliverBody>, description = "Which dead letters; none or an empty body for all"),
    responses((status = 200, body = RedeliverAnswer), (status = 400, description = "The body or the id is invalid", body = crate::error::ErrorBody), (status = 404, description = "No such subscription", body = crate::error::ErrorBody)))]
async fn redeliver(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<RedeliverBody>, JsonRejection>,
) -> Result<Json<RedeliverAnswer>, ApiError> {
    let id = parse_id("subscription", &id)?;
    // An empty body means every dead letter.
    let body = match body {
        Ok(Json(b)) => b,
        Err(_) if headers.get(header::CONTENT_LENGTH).is_none_or(|l| l == "0") => RedeliverBody::default(),
        Err(e) => return Err(ApiError::bad_body(e)),
    };
    state.store.subscription(id).await?.ok_or_else(not_found)?;
    let queued = state.store.redeliver(id, body.ids.as_deref()).await?;
    Ok(Json(RedeliverAnswer { queued }))
}

/// The e-mail channel an unsubscribe token names.
async fn email_channel(state: &AppState, token: &str) -> Result<Channel, ApiError> {
    let gone = || ApiError::not_found("unsubscribe_not_found", "this link is not valid, or was used already");
    let secret = URL_SAFE_NO_PAD.decode(token).map_err(|_| gone())?;
    let channel = state.store.channel_by_secret(&secret).await?.ok_or_else(gone)?;
    if channel.target.kind() == Kind::Email { Ok(channel) } else { Err(gone()) }
}

/// The page an unsubscribe link opens: a button, not the deed, since mail scanners follow
/// links (RFC 8058 keeps the one-click POST for mail clients).
#[utoipa::path(get, path = "/v1/unsubscribe/{token}", tag = "channels", params(("token" = String, Path, description = "The unsubscribe token from the e-mail")),
    responses((status = 200, description = "A page with the unsubscribe button", content_type = "text/html", body = String), (status = 404, description = "No such token", body = crate::error::ErrorBody)))]
async fn unsubscribe_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    email_channel(&state, &token).await?;
    Ok(Html(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Stop alert e-mails</title></head><body>\
         <p>Stop the Porchlight alert e-mails to this address? Your other alerts stay as they are.</p>\
         <form method=\"post\"><button type=\"submit\">Stop the e-mails</button></form></body></html>",
    )
    .into_response())
}

/// One-click unsubscribe: the e-mail channel is deleted, the subscription and its other
/// channels stay.
#[utoipa::path(post, path = "/v1/unsubscribe/{token}", tag = "channels", params(("token" = String, Path, description = "The unsubscribe token from the e-mail")),
    responses((status = 200, description = "Unsubscribed", content_type = "text/html", body = String), (status = 404, description = "No such token", body = crate::error::ErrorBody)))]
async fn unsubscribe(State(state): State<AppState>, Path(token): Path<String>) -> Result<Response, ApiError> {
    let channel = email_channel(&state, &token).await?;
    state.store.delete_channel(channel.subscription_id, channel.id).await?;
    Ok(Html(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Unsubscribed</title></head><body>\
         <p>No more alert e-mails will go to this address.</p></body></html>",
    )
    .into_response())
}
