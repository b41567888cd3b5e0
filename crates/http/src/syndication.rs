//! Published incidents in the formats other tools read (issue 11): CAP 1.2 alerts (OASIS
//! Common Alerting Protocol) per incident and as Atom feeds of CAP alerts per agency or per
//! area, and Atom feeds (RFC 4287) per agency and per subscription for feed readers.
//!
//! How our taxonomy maps onto CAP's closed lists (README, "CAP"): a 911 call is a report, not
//! a confirmed event, and context beats fear:
//! - `category`: violent, weapons, property, disorder, suspicious → Security; fire → Fire;
//!   hazard → Safety; traffic → Transport; anything else → Other.
//! - `urgency`: Past once the call is closed, else Unknown (residents are not asked to act).
//! - `severity`: Moderate for a high-severity category, Minor otherwise.
//! - `certainty`: Possible (what dispatch was told), Unlikely once closed as unfounded,
//!   cancelled or with no report.
//! - `msgType`: Alert for an incident's first version, Update for later ones, Cancel when the
//!   call closes in a way that takes the report back; `references` lists the earlier versions.
//! - `area`: the generalized location as `areaDesc` and a 100 m circle round the cell centre
//!   that the public point already is: never a house.

use axum::extract::{Path, Query, State, rejection::QueryRejection};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use porchlight_core::agency::AgencyId;
use porchlight_core::alert::{Alert, AlertKind};
use porchlight_core::category::{Category, Severity};
use porchlight_core::incident::{Closure, Incident};
use porchlight_store::IncidentQuery;
use quick_xml::escape::escape;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::incidents::{parse_agency, parse_bbox, parse_id, parse_limit, query_error};
use crate::{ApiError, AppState};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(cap_alert))
        .routes(routes!(cap_feed))
        .routes(routes!(agency_feed))
        .routes(routes!(subscription_feed))
}

const CAP_NS: &str = "urn:oasis:names:tc:emergency:cap:1.2";
const ATOM_NS: &str = "http://www.w3.org/2005/Atom";
const FEED_LIMIT: u32 = 100;

/// The server's own address as the client reached it, for absolute links in feeds.
fn base(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let scheme = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or("http");
    format!("{scheme}://{host}")
}

/// CAP's times: no fractions, and the zone as -00:00 for UTC (CAP 1.2, 3.3.2).
fn cap_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S-00:00").to_string()
}

fn atom_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn cap_category(c: Category) -> &'static str {
    match c {
        Category::Violent
        | Category::Weapons
        | Category::Property
        | Category::Disorder
        | Category::Suspicious => "Security",
        Category::Fire => "Fire",
        Category::Hazard => "Safety",
        Category::Traffic => "Transport",
        _ => "Other",
    }
}

fn identifier(i: &Incident, version: u32) -> String {
    format!("porchlight-{}-{version}", i.id)
}

fn sender(i: &Incident) -> String {
    format!("{}@porchlight", i.agency)
}

/// One CAP alert for incident `i` at its version, given the earlier versions' (identifier,
/// sent) for `references`.
fn cap_xml(i: &Incident, earlier: &[(String, DateTime<Utc>)], base: &str) -> String {
    let closed_back = matches!(i.closure, Some(Closure::Unfounded | Closure::Cancelled | Closure::NoReport));
    let msg_type = if closed_back {
        "Cancel"
    } else if i.version > 1 {
        "Update"
    } else {
        "Alert"
    };
    let closed = closed_back || i.status.as_deref().is_some_and(|s| s.to_lowercase().contains("closed"));
    let severity = if i.category.severity() == Severity::High { "Moderate" } else { "Minor" };
    let certainty = if closed_back { "Unlikely" } else { "Possible" };
    let references: Vec<String> =
        earlier.iter().map(|(id, sent)| format!("{},{id},{}", sender(i), cap_time(*sent))).collect();
    let mut out = String::new();
    // Standalone or inside an Atom entry, the alert declares CAP's namespace itself.
    out.push_str(&format!("<alert xmlns=\"{CAP_NS}\">"));
    out.push_str(&format!("<identifier>{}</identifier>", identifier(i, i.version)));
    out.push_str(&format!("<sender>{}</sender>", escape(sender(i))));
    out.push_str(&format!("<sent>{}</sent>", cap_time(i.updated_at)));
    out.push_str("<status>Actual</status>");
    out.push_str(&format!("<msgType>{msg_type}</msgType>"));
    out.push_str(
        "<source>Porchlight, from the agency's dispatch records under its published privacy policy</source>",
    );
    out.push_str("<scope>Public</scope>");
    if !references.is_empty() {
        out.push_str(&format!("<references>{}</references>", references.join(" ")));
    }
    out.push_str(&format!("<incidents>{}</incidents>", i.id));
    out.push_str("<info><language>en-US</language>");
    out.push_str(&format!("<category>{}</category>", cap_category(i.category)));
    out.push_str(&format!("<event>{}</event>", escape(&i.call_type)));
    out.push_str(&format!("<urgency>{}</urgency>", if closed { "Past" } else { "Unknown" }));
    out.push_str(&format!("<severity>{severity}</severity><certainty>{certainty}</certainty>"));
    out.push_str(&format!("<senderName>{}</senderName>", escape(&i.agency)));
    out.push_str(&format!("<headline>{}</headline>", escape(format!("{}, {}", i.call_type, i.location))));
    let mut description = i.category.context().to_string();
    if let Some(status) = &i.status {
        description.push_str(&format!(" Status: {status}."));
    }
    out.push_str(&format!("<description>{}</description>", escape(&description)));
    out.push_str(&format!("<web>{}/incidents/{}</web>", escape(base), i.id));
    out.push_str(&format!("<area><areaDesc>{}</areaDesc>", escape(&i.location)));
    if let Some(p) = i.point {
        out.push_str(&format!("<circle>{:.6},{:.6} 0.1</circle>", p.lat(), p.lon()));
    }
    out.push_str("</area></info></alert>");
    out
}

/// An incident's earlier versions, as CAP references them.
async fn earlier(state: &AppState, i: &Incident) -> Result<Vec<(String, DateTime<Utc>)>, ApiError> {
    let mut out = Vec::new();
    for version in 1..i.version {
        if let Some(v) = state.store.incident_at_version(i.id, version).await? {
            out.push((identifier(&v, version), v.updated_at));
        }
    }
    Ok(out)
}

fn xml(content_type: &'static str, body: String) -> Response {
    ([(header::CONTENT_TYPE, content_type)], format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"))
        .into_response()
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct VersionParams {
    /// An earlier version of the incident; the latest by default.
    version: Option<u32>,
}

/// `GET /v1/incidents/{id}/cap[?version=N]`: the incident as a CAP 1.2 alert.
#[utoipa::path(get, path = "/v1/incidents/{id}/cap", tag = "formats",
    params(("id" = String, Path, description = "The incident's id (a UUID)"), VersionParams),
    responses((status = 200, description = "A CAP 1.2 alert", content_type = "application/cap+xml", body = String),
        (status = 400, description = "A parameter is malformed", body = crate::error::ErrorBody), (status = 404, description = "No such incident or version", body = crate::error::ErrorBody)))]
async fn cap_alert(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    params: Result<Query<VersionParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    let id = parse_id("incident", &id)?;
    let not_found = || ApiError::not_found("incident_not_found", "no incident with this id");
    let latest = state.store.incident(id).await?.ok_or_else(not_found)?;
    let incident = match p.version {
        Some(v) if v != latest.version => {
            state.store.incident_at_version(id, v).await?.ok_or_else(not_found)?
        }
        _ => latest,
    };
    let earlier = earlier(&state, &incident).await?;
    Ok(xml("application/cap+xml", cap_xml(&incident, &earlier, &base(&headers))))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct FeedParams {
    /// An agency's id.
    agency: Option<String>,
    /// west,south,east,north in degrees.
    bbox: Option<String>,
    /// At most this many entries, up to 1000 (default 100).
    limit: Option<String>,
}

struct Feed<'a> {
    id: String,
    title: String,
    self_link: String,
    updated: DateTime<Utc>,
    entries: Vec<String>,
    base: &'a str,
}

impl Feed<'_> {
    fn render(self) -> String {
        format!(
            "<feed xmlns=\"{ATOM_NS}\"><id>{}</id><title>{}</title><updated>{}</updated>\
             <author><name>Porchlight</name></author><link rel=\"self\" href=\"{}{}\"/>\
             <generator>Porchlight</generator>{}</feed>",
            escape(&self.id),
            escape(&self.title),
            atom_time(self.updated),
            escape(self.base),
            escape(&self.self_link),
            self.entries.concat()
        )
    }
}

fn incident_entry(i: &Incident, base: &str, content: Option<String>) -> String {
    let title = format!("{}, {}", i.call_type, i.location);
    format!(
        "<entry><id>urn:uuid:{id}</id><title>{title}</title><updated>{updated}</updated>\
         <published>{published}</published><category term=\"{category}\"/>\
         <link rel=\"alternate\" type=\"text/html\" href=\"{base}/incidents/{id}\"/>\
         <link rel=\"alternate\" type=\"application/cap+xml\" href=\"{base}/v1/incidents/{id}/cap\"/>\
         <summary>{summary}</summary>{content}</entry>",
        id = i.id,
        title = escape(&title),
        updated = atom_time(i.updated_at),
        published = atom_time(i.received_at),
        category = i.category.as_str(),
        base = escape(base),
        summary = escape(i.category.context()),
        content = content.unwrap_or_default(),
    )
}

async fn incidents_for(
    state: &AppState,
    p: &FeedParams,
) -> Result<(Option<AgencyId>, Vec<Incident>), ApiError> {
    let agency = parse_agency(p.agency.as_deref())?;
    let query = IncidentQuery {
        bbox: p.bbox.as_deref().map(parse_bbox).transpose()?,
        agency: agency.clone(),
        limit: parse_limit(p.limit.as_deref(), FEED_LIMIT)?,
        ..IncidentQuery::default()
    };
    Ok((agency, state.store.incidents(&query).await?))
}

/// `GET /v1/cap.atom?agency=&bbox=`: an Atom feed whose entries each carry the incident's
/// CAP alert: a CAP feed per agency or per area.
#[utoipa::path(get, path = "/v1/cap.atom", tag = "formats", params(FeedParams),
    responses((status = 200, description = "An Atom feed of CAP 1.2 alerts", content_type = "application/atom+xml", body = String),
        (status = 400, description = "A parameter is malformed", body = crate::error::ErrorBody)))]
async fn cap_feed(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<FeedParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(query_error)?;
    let base = base(&headers);
    let (agency, incidents) = incidents_for(&state, &p).await?;
    let mut entries = Vec::with_capacity(incidents.len());
    for i in &incidents {
        let earlier = earlier(&state, i).await?;
        entries.push(incident_entry(i, &base, Some(cap_xml(i, &earlier, &base))));
    }
    let what = match (&agency, &p.bbox) {
        (Some(a), _) => format!("{a}'s calls"),
        (None, Some(b)) => format!("calls in {b}"),
        (None, None) => "all calls".to_string(),
    };
    let feed = Feed {
        id: format!(
            "{base}/v1/cap.atom?agency={}&bbox={}",
            p.agency.as_deref().unwrap_or(""),
            p.bbox.as_deref().unwrap_or("")
        ),
        title: format!("Porchlight CAP alerts: {what}"),
        self_link: "/v1/cap.atom".into(),
        updated: incidents.iter().map(|i| i.updated_at).max().unwrap_or_else(Utc::now),
        entries,
        base: &base,
    };
    Ok(xml("application/atom+xml", feed.render()))
}

/// `GET /v1/agencies/{id}/incidents.atom`: the agency's recent calls, for feed readers.
#[utoipa::path(get, path = "/v1/agencies/{id}/incidents.atom", tag = "formats",
    params(("id" = String, Path, description = "The agency's id")),
    responses((status = 200, description = "An Atom feed", content_type = "application/atom+xml", body = String),
        (status = 404, description = "No such agency", body = crate::error::ErrorBody)))]
async fn agency_feed(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let base = base(&headers);
    let p = FeedParams { agency: Some(id.clone()), bbox: None, limit: None };
    let (agency, incidents) = incidents_for(&state, &p).await?;
    let agency = agency.expect("given");
    let name = state
        .store
        .agency(&agency)
        .await?
        .ok_or_else(|| ApiError::not_found("agency_not_found", "no agency with this id"))?
        .name;
    let feed = Feed {
        id: format!("{base}/v1/agencies/{agency}/incidents.atom"),
        title: format!("{name}: calls published by Porchlight"),
        self_link: format!("/v1/agencies/{agency}/incidents.atom"),
        updated: incidents.iter().map(|i| i.updated_at).max().unwrap_or_else(Utc::now),
        entries: incidents.iter().map(|i| incident_entry(i, &base, None)).collect(),
        base: &base,
    };
    Ok(xml("application/atom+xml", feed.render()))
}

/// `GET /v1/subscriptions/{id}/alerts.atom`: a subscription's latest alerts, for feed
/// readers. Its address holds the subscription's id: keep it as private as the id.
#[utoipa::path(get, path = "/v1/subscriptions/{id}/alerts.atom", tag = "formats",
    params(("id" = String, Path, description = "The subscription's id: its only credential")),
    responses((status = 200, description = "An Atom feed", content_type = "application/atom+xml", body = String),
        (status = 400, description = "The id is not a UUID", body = crate::error::ErrorBody), (status = 404, description = "No such subscription", body = crate::error::ErrorBody)))]
async fn subscription_feed(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let base = base(&headers);
    let id = parse_id("subscription", &id)?;
    state
        .store
        .subscription(id)
        .await?
        .ok_or_else(|| ApiError::not_found("subscription_not_found", "no subscription with this id"))?;
    // The latest alerts: read forwards from the start, keeping the last FEED_LIMIT.
    let mut alerts: Vec<Alert> = Vec::new();
    let mut after = None;
    loop {
        let page = state.store.alerts(id, None, after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        alerts.extend(page);
        if alerts.len() > FEED_LIMIT as usize {
            alerts.drain(..alerts.len() - FEED_LIMIT as usize);
        }
    }
    alerts.reverse();
    let entries = alerts
        .iter()
        .map(|a| {
            let kind = match a.kind {
                AlertKind::New => "new",
                AlertKind::Update => "update",
                AlertKind::Retraction => "retraction",
            };
            format!(
                "<entry><id>{base}/v1/subscriptions/{sub}/alerts#{aid}</id><title>{title}</title><updated>{updated}</updated>\
                 <category term=\"{kind}\"/><link rel=\"alternate\" type=\"text/html\" href=\"{base}/incidents/{incident}\"/>\
                 <summary>{summary}</summary></entry>",
                base = escape(&base),
                sub = id,
                aid = a.id,
                title = escape(a.headline()),
                updated = atom_time(a.created_at),
                incident = a.incident.id,
                summary = escape(a.context()),
            )
        })
        .collect();
    let feed = Feed {
        id: format!("{base}/v1/subscriptions/{id}/alerts.atom"),
        title: "Porchlight: your alerts".into(),
        self_link: format!("/v1/subscriptions/{id}/alerts.atom"),
        updated: alerts.first().map(|a| a.created_at).unwrap_or_else(Utc::now),
        entries,
        base: &base,
    };
    Ok(xml("application/atom+xml", feed.render()))
}
