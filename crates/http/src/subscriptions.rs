//! Subscriptions: create, read, delete, list alerts, and stream them live as Server-Sent Events
//! or over a WebSocket.

use std::{
    collections::{BTreeMap, BTreeSet},
    convert::Infallible,
    str::FromStr,
};

use axum::{
    Json,
    extract::ws::{Message, WebSocket, WebSocketUpgrade},
    extract::{
        Path, Query, State,
        rejection::{JsonRejection, QueryRejection},
    },
    http::{HeaderMap, StatusCode},
    response::{
        Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt, stream};
use porchlight_core::{
    alert::{Alert, AlertKind, BaseRate},
    category::{Category, Severity},
    geo::Point,
    pacing::{Pacing, PacingDocument},
    subscription::{Area, InvalidSubscription, QUIET_RADIUS_M, Subscription, quiet_default},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    ApiError, AppState,
    incidents::{IncidentBody, parse_id, parse_limit, parse_time, query_error},
};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(read, delete))
        .routes(routes!(alerts))
        .routes(routes!(stream_alerts))
        .routes(routes!(socket_alerts))
        .routes(routes!(digest))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewSubscriptionBody {
    /// Precise mode: a point, with a radius.
    lat: Option<f64>,
    lon: Option<f64>,
    /// Omitted: the quiet default's 500 m.
    radius_m: Option<f64>,
    /// Private mode, instead of a point: H3 cells of resolution 7 or coarser that cover the
    /// area; the client keeps the exact area and filters what it is sent.
    cells: Option<Vec<String>>,
    /// A neighbourhood, instead of a point: its corners as [longitude, latitude] pairs.
    polygon: Option<Vec<[f64; 2]>>,
    /// Omitted: the quiet default (violence, weapons, fire, hazards; high severity only).
    /// Empty: every category that can alert.
    categories: Option<Vec<String>>,
    /// "low", "medium" or "high"; default "low" when categories are given.
    min_severity: Option<String>,
    /// Quiet hours, a daily budget of live alerts, digest-only mode and the digest's period.
    #[serde(default)]
    #[schema(value_type = Object)]
    pacing: PacingDocument,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Subscription)]
struct SubscriptionBody {
    id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lon: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    radius_m: Option<f64>,
    /// Private mode's cells; absent in precise mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    cells: Option<Vec<String>>,
    /// A neighbourhood's corners, [longitude, latitude], the ring closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    polygon: Option<Vec<[f64; 2]>>,
    categories: Vec<&'static str>,
    min_severity: &'static str,
    #[schema(value_type = Object)]
    pacing: PacingDocument,
    created_at: DateTime<Utc>,
    alerts_url: String,
    stream_url: String,
}

impl From<Subscription> for SubscriptionBody {
    fn from(s: Subscription) -> Self {
        let circle = match &s.area {
            Area::Circle { point, radius_m } => Some((*point, *radius_m)),
            Area::Cells { .. } | Area::Polygon(_) => None,
        };
        Self {
            id: s.id,
            lat: circle.map(|(p, _)| p.lat()),
            lon: circle.map(|(p, _)| p.lon()),
            radius_m: circle.map(|(_, r)| r),
            cells: s.area.cell_names(),
            polygon: s.area.polygon_corners(),
            categories: s.categories.iter().map(|c| c.as_str()).collect(),
            min_severity: s.min_severity.as_str(),
            pacing: s.pacing.document().clone(),
            created_at: s.created_at,
            alerts_url: format!("/v1/subscriptions/{}/alerts", s.id),
            stream_url: format!("/v1/subscriptions/{}/alerts/stream", s.id),
        }
    }
}

/// An alert as the API lists it, and as webhooks and e-mails carry it.
#[derive(Serialize, ToSchema)]
#[schema(as = Alert)]
pub struct AlertBody {
    id: i64,
    created_at: DateTime<Utc>,
    /// new, update or retraction.
    #[schema(value_type = String)]
    kind: AlertKind,
    /// "live", or "digest" when it was held (quiet hours, budget, digest-only).
    delivery: &'static str,
    /// For an update or a retraction: the id of this subscriber's first alert of the incident.
    #[serde(skip_serializing_if = "Option::is_none")]
    refers_to: Option<i64>,
    /// What a call for service is and how usual this one is here, or what changed since the
    /// first alert.
    context: String,
    /// For a new alert: calls of this category in the subscriber's area in the 30 days up to
    /// this one (it included), and the monthly average over the 12 months up to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    base_rate: Option<BaseRate>,
    incident: IncidentBody,
}

impl From<Alert> for AlertBody {
    fn from(a: Alert) -> Self {
        Self {
            id: a.id,
            created_at: a.created_at,
            kind: a.kind,
            delivery: if a.live { "live" } else { "digest" },
            refers_to: a.refers_to,
            context: a.context(),
            base_rate: a.base_rate,
            incident: a.incident.into(),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct AlertList {
    alerts: Vec<AlertBody>,
}

/// Subscribe to alerts for an area (a point and radius, private mode's cells, or a
/// neighbourhood polygon) and categories. No account: the id answered is the credential.
#[utoipa::path(post, path = "/v1/subscriptions", tag = "subscriptions", request_body = NewSubscriptionBody,
    responses((status = 201, body = SubscriptionBody), (status = 400, description = "The body or a field of it is invalid", body = crate::error::ErrorBody), (status = 413, description = "The body is larger than 2 MB", body = crate::error::ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    body: Result<Json<NewSubscriptionBody>, JsonRejection>,
) -> Result<(StatusCode, Json<SubscriptionBody>), ApiError> {
    let Json(body) = body.map_err(ApiError::bad_body)?;
    let min_severity = body
        .min_severity
        .as_deref()
        .map(Severity::from_str)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_severity", e))?;
    let filter = match (body.categories, min_severity) {
        (None, None) => quiet_default(),
        (None, Some(floor)) => (quiet_default().0, floor),
        (Some(names), floor) => (
            names
                .iter()
                .map(|c| Category::from_str(c))
                .collect::<Result<BTreeSet<_>, _>>()
                .map_err(|e| ApiError::bad_request("invalid_category", e.to_string()))?,
            floor.unwrap_or_default(),
        ),
    };
    let pacing = Pacing::new(body.pacing).map_err(|(field, reason)| {
        ApiError::bad_request("invalid_pacing", format!("pacing.{field}: {reason}"))
    })?;
    let invalid = |e: InvalidSubscription| match e {
        InvalidSubscription::Radius(_) => ApiError::bad_request("invalid_radius", e.to_string()),
        InvalidSubscription::SensitiveCategory(_) => ApiError::bad_request("invalid_category", e.to_string()),
        InvalidSubscription::Cells(_) => ApiError::bad_request("invalid_cells", e.to_string()),
        InvalidSubscription::Polygon(_) => ApiError::bad_request("invalid_polygon", e.to_string()),
    };
    let area = match (body.lat, body.lon, body.radius_m, body.cells, body.polygon) {
        (Some(lat), Some(lon), radius_m, None, None) => {
            let point = Point::new(lat, lon)
                .map_err(|e| ApiError::bad_request("invalid_coordinates", e.to_string()))?;
            Area::Circle { point, radius_m: radius_m.unwrap_or(QUIET_RADIUS_M) }
        }
        (None, None, None, Some(cells), None) => Area::cells_named(&cells).map_err(invalid)?,
        (None, None, None, None, Some(corners)) => Area::polygon(&corners).map_err(invalid)?,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_area",
                "give one area: lat and lon (and radius_m), cells for private mode, or a polygon",
            ));
        }
    };
    let subscription = Subscription::in_area(area, filter, Utc::now()).map_err(invalid)?;
    let subscription = subscription.with_pacing(pacing);
    state.alerts.subscribe(subscription.clone()).await?;
    Ok((StatusCode::CREATED, Json(subscription.into())))
}

async fn find(state: &AppState, id: &str) -> Result<Subscription, ApiError> {
    let id = parse_id("subscription", id)?;
    state.store.subscription(id).await?.ok_or_else(not_found)
}

fn not_found() -> ApiError {
    ApiError::not_found("subscription_not_found", "no subscription with this id")
}

/// A subscription.
#[utoipa::path(get, path = "/v1/subscriptions/{id}", tag = "subscriptions", params(("id" = String, Path, description = "The subscription's id: its only credential")),
    responses((status = 200, body = SubscriptionBody), (status = 400, description = "A parameter is malformed", body = crate::error::ErrorBody), (status = 404, description = "No such subscription", body = crate::error::ErrorBody)))]
async fn read(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SubscriptionBody>, ApiError> {
    Ok(Json(find(&state, &id).await?.into()))
}

/// Unsubscribe: the subscription, its alerts and its channels are deleted.
#[utoipa::path(delete, path = "/v1/subscriptions/{id}", tag = "subscriptions", params(("id" = String, Path, description = "The subscription's id: its only credential")),
    responses((status = 204, description = "Deleted"), (status = 400, description = "A parameter is malformed", body = crate::error::ErrorBody), (status = 404, description = "No such subscription", body = crate::error::ErrorBody)))]
async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let id = parse_id("subscription", &id)?;
    if state.alerts.unsubscribe(id).await? { Ok(StatusCode::NO_CONTENT) } else { Err(not_found()) }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AlertParams {
    /// Made at or after this time (RFC 3339).
    since: Option<String>,
    /// The last alert id of the previous page.
    after: Option<String>,
    /// At most this many, up to 1000 (default 100).
    limit: Option<String>,
}

/// The subscription's alerts, oldest first.
#[utoipa::path(get, path = "/v1/subscriptions/{id}/alerts", tag = "subscriptions", params(("id" = String, Path, description = "The subscription's id: its only credential"), AlertParams),
    responses((status = 200, body = AlertList), (status = 400, description = "A parameter is malformed", body = crate::error::ErrorBody), (status = 404, description = "No such subscription", body = crate::error::ErrorBody)))]
async fn alerts(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Result<Query<AlertParams>, QueryRejection>,
) -> Result<Json<AlertList>, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    let subscription = find(&state, &id).await?;
    let since = parse_time("since", p.since.as_deref())?;
    let after = p
        .after
        .as_deref()
        .map(|a| {
            a.parse::<i64>().map_err(|_| ApiError::bad_request("invalid_query", "after must be an alert id"))
        })
        .transpose()?;
    let limit = parse_limit(p.limit.as_deref(), 100)?;
    let alerts = state.store.alerts(subscription.id, since, after, limit).await?;
    Ok(Json(AlertList { alerts: alerts.into_iter().map(AlertBody::from).collect() }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DigestParams {
    /// last (the default) or current.
    period: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Digest)]
struct DigestBody {
    /// The period: `[from, to)`, closing at the subscriber's digest hour.
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// Whether the period has closed (`last`) or is still filling (`current`).
    closed: bool,
    total: usize,
    by_category: BTreeMap<&'static str, usize>,
    /// The alerts held for the digest in the period, oldest first.
    alerts: Vec<AlertBody>,
}

/// The subscriber's digest: the alerts held back (quiet hours, budget, digest-only) in the last
/// closed period (`?period=last`, the default) or in the one still filling (`current`).
#[utoipa::path(get, path = "/v1/subscriptions/{id}/digest", tag = "subscriptions", params(("id" = String, Path, description = "The subscription's id: its only credential"), DigestParams),
    responses((status = 200, body = DigestBody), (status = 400, description = "A parameter is malformed", body = crate::error::ErrorBody), (status = 404, description = "No such subscription", body = crate::error::ErrorBody)))]
async fn digest(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Result<Query<DigestParams>, QueryRejection>,
) -> Result<Json<DigestBody>, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    let subscription = find(&state, &id).await?;
    let now = Utc::now();
    let (last_from, last_to) = subscription.pacing.last_digest(now);
    let (from, to, closed) = match p.period.as_deref() {
        None | Some("last") => (last_from, last_to, true),
        Some("current") => (last_to, now, false),
        Some(_) => return Err(ApiError::bad_request("invalid_query", "period must be last or current")),
    };
    let held = state.store.held_alerts(subscription.id, from, to).await?;
    let mut by_category: BTreeMap<&'static str, usize> = BTreeMap::new();
    for a in &held {
        *by_category.entry(a.incident.category.as_str()).or_default() += 1;
    }
    Ok(Json(DigestBody {
        from,
        to,
        closed,
        total: held.len(),
        by_category,
        alerts: held.into_iter().map(AlertBody::from).collect(),
    }))
}

fn event(alert: Alert) -> Result<Event, Infallible> {
    let id = alert.id.to_string();
    let data = serde_json::to_string(&AlertBody::from(alert)).expect("alert serializes");
    Ok(Event::default().event("alert").id(id).data(data))
}

/// Alerts read from the store at a time when a live listener catches up.
const CATCH_UP: u32 = 1000;

/// A subscription's live alerts: first those stored after `after` (a reconnecting client's last
/// one), then each new one as it is made. A listener that falls behind the live channel (a slow
/// client) catches up from the store instead of skipping alerts, and never holds up anyone
/// else. Alerts held for the digest are not sent live. `stored_after(id)` reads the stored
/// alerts after `id`, in order, at most [`CATCH_UP`] of them.
fn alert_feed<R, F>(
    stored_after: R,
    live: tokio::sync::broadcast::Receiver<Alert>,
    after: Option<i64>,
) -> impl Stream<Item = Alert>
where
    R: Fn(i64) -> F,
    F: std::future::Future<Output = Result<Vec<Alert>, porchlight_store::StoreError>>,
{
    struct Feed<R> {
        stored_after: R,
        live: tokio::sync::broadcast::Receiver<Alert>,
        /// The last alert sent (or the client's), once known.
        high_water: Option<i64>,
        /// Read the store from here before listening again.
        catch_up_from: Option<i64>,
        ready: std::collections::VecDeque<Alert>,
    }
    let feed =
        Feed { stored_after, live, high_water: after, catch_up_from: after, ready: Default::default() };
    stream::unfold(feed, |mut f| async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            if let Some(alert) = f.ready.pop_front() {
                return Some((alert, f));
            }
            if let Some(from) = f.catch_up_from.take() {
                let stored = match (f.stored_after)(from).await {
                    Ok(stored) => stored,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not read missed alerts; closing the stream");
                        return None;
                    }
                };
                if stored.len() == CATCH_UP as usize {
                    f.catch_up_from = stored.last().map(|a| a.id);
                }
                if let Some(last) = stored.last() {
                    f.high_water = Some(last.id);
                }
                f.ready.extend(stored.into_iter().filter(|a| a.live));
                continue;
            }
            match f.live.recv().await {
                Ok(alert) if f.high_water.is_none_or(|seen| alert.id > seen) => {
                    f.high_water = Some(alert.id);
                    return Some((alert, f));
                }
                // Already sent from the store.
                Ok(_) => {}
                // Fell behind: what was missed is in the store, after the last one sent. (A
                // client that has been sent nothing yet starts from the oldest still buffered.)
                Err(RecvError::Lagged(_)) => f.catch_up_from = f.high_water,
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

/// Stored alerts being read.
type StoredAlerts = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Vec<Alert>, porchlight_store::StoreError>> + Send>,
>;

/// A subscription's stored alerts after an id, for [`alert_feed`].
fn stored_after(
    store: porchlight_store::Store,
    subscription: Uuid,
) -> impl Fn(i64) -> StoredAlerts + Send + 'static {
    move |after| {
        let store = store.clone();
        Box::pin(async move { store.alerts(subscription, None, Some(after), CATCH_UP).await })
    }
}

/// Live streams (SSE and WebSocket together) one subscription may have open at once on one
/// server: a few devices, not a crowd sharing one id.
pub const MAX_LIVE_STREAMS: usize = 5;

/// A receiver of the subscription's live alerts, unless it has [`MAX_LIVE_STREAMS`] open.
async fn listen(state: &AppState, id: Uuid) -> Result<tokio::sync::broadcast::Receiver<Alert>, ApiError> {
    state.alerts.live_at_most(id, MAX_LIVE_STREAMS).await.ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "too_many_streams",
            format!("at most {MAX_LIVE_STREAMS} live streams a subscription at once: close one first"),
        )
    })
}

/// Live alerts as Server-Sent Events (`event: alert`, the alert's JSON as data, its id as
/// the event id): those after `Last-Event-ID` first, then each new one.
#[utoipa::path(get, path = "/v1/subscriptions/{id}/alerts/stream", tag = "subscriptions",
    params(("id" = String, Path, description = "The subscription's id: its only credential"), ("Last-Event-ID" = Option<String>, Header, description = "The last alert id the client has")),
    responses((status = 200, description = "An endless event stream", content_type = "text/event-stream", body = String), (status = 400, description = "A parameter is malformed", body = crate::error::ErrorBody), (status = 404, description = "No such subscription", body = crate::error::ErrorBody), (status = 429, description = "The subscription has as many live streams open as it may", body = crate::error::ErrorBody)))]
async fn stream_alerts(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let subscription = find(&state, &id).await?;
    // Listen before reading the backlog, so nothing falls between the two.
    let live = listen(&state, subscription.id).await?;
    let last_seen =
        headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i64>().ok());
    let events = alert_feed(stored_after(state.store.clone(), subscription.id), live, last_seen).map(event);
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Resume {
    /// The id of the last alert the client has: it gets those after it first.
    after: Option<i64>,
}

/// The same live alerts over a WebSocket, one JSON text message each (browsers cannot set
/// `Last-Event-ID` on a WebSocket, so a reconnecting client says `?after=`).
#[utoipa::path(get, path = "/v1/subscriptions/{id}/alerts/socket", tag = "subscriptions", params(("id" = String, Path, description = "The subscription's id: its only credential"), Resume),
    responses((status = 101, description = "Switching to a WebSocket: one alert's JSON per text message"), (status = 400, description = "Not a WebSocket handshake, or a malformed parameter"), (status = 404, description = "No such subscription", body = crate::error::ErrorBody), (status = 429, description = "The subscription has as many live streams open as it may", body = crate::error::ErrorBody)))]
async fn socket_alerts(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(resume): Query<Resume>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let subscription = find(&state, &id).await?;
    let live = listen(&state, subscription.id).await?;
    let feed = alert_feed(stored_after(state.store.clone(), subscription.id), live, resume.after);
    Ok(upgrade.on_upgrade(move |socket| forward(socket, feed)))
}

/// Send each alert until the feed ends or the client goes; a client that reads slowly only
/// slows its own task, and catches up from the store if it falls behind.
async fn forward(mut socket: WebSocket, feed: impl Stream<Item = Alert>) {
    let mut feed = std::pin::pin!(feed);
    loop {
        tokio::select! {
            next = feed.next() => {
                let Some(alert) = next else {
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                };
                let text = serde_json::to_string(&AlertBody::from(alert)).expect("alert serializes");
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use porchlight_core::{address::LocationKind, incident::Incident};

    use super::*;

    fn alert(id: i64) -> Alert {
        let at = chrono::DateTime::parse_from_rfc3339("2018-05-01T05:00:00Z").unwrap().with_timezone(&Utc);
        Alert {
            id,
            subscription_id: Uuid::nil(),
            created_at: at,
            kind: AlertKind::New,
            refers_to: None,
            base_rate: None,
            live: true,
            incident: Incident {
                id: Uuid::nil(),
                agency: "milwaukee".into(),
                version: 1,
                received_at: at,
                updated_at: at,
                call_type: "THEFT".into(),
                category: Category::Property,
                priority: None,
                status: None,
                location_kind: LocationKind::Block,
                location: "5200 block of N 35th St".into(),
                point: None,
                placed_by: None,
                place_confidence: None,
                policy_version: 1,
                narrative: None,
                units: Vec::new(),
                closure: None,
                initial_call_type: "THEFT".into(),
            },
        }
    }

    /// The store as the feed sees it: every alert made, read after an id.
    fn store(
        made: Vec<Alert>,
    ) -> impl Fn(i64) -> std::future::Ready<Result<Vec<Alert>, porchlight_store::StoreError>> {
        move |after| std::future::ready(Ok(made.iter().filter(|a| a.id > after).cloned().collect()))
    }

    async fn ids(feed: impl Stream<Item = Alert>) -> Vec<i64> {
        feed.map(|a| a.id).collect().await
    }

    /// A client that falls behind the live channel gets what it missed from the store, in
    /// order, once each; then the live alerts still buffered are not sent again.
    #[tokio::test]
    async fn a_lagging_listener_catches_up_from_the_store() {
        let (tx, rx) = tokio::sync::broadcast::channel(2);
        let mut feed = Box::pin(alert_feed(store((1..=10).map(alert).collect()), rx, None));
        tx.send(alert(1)).unwrap();
        assert_eq!(feed.next().await.map(|a| a.id), Some(1));
        // Nine more while the client reads nothing: the channel keeps only the last two.
        for id in 2..=10 {
            tx.send(alert(id)).unwrap();
        }
        drop(tx);
        assert_eq!(ids(feed).await, (2..=10).collect::<Vec<_>>());
    }

    /// A reconnecting client gets the stored alerts after its last one, then live ones, and
    /// a live one it was already sent from the store is not repeated; alerts held for the
    /// digest are not sent live.
    #[tokio::test]
    async fn a_reconnecting_listener_resumes_after_its_last_alert() {
        let mut made: Vec<Alert> = (1..=5).map(alert).collect();
        made[3].live = false;
        let (tx, rx) = tokio::sync::broadcast::channel(16);
        let feed = alert_feed(store(made), rx, Some(2));
        for id in [5, 6] {
            tx.send(alert(id)).unwrap();
        }
        drop(tx);
        assert_eq!(ids(feed).await, [3, 5, 6]);
    }
}
