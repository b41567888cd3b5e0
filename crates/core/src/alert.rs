//! An alert: one incident version that matched one subscription, and what kind of news it is.
//!
//! An incident's story goes on after its first alert: dispatch reclassifies calls, moves them,
//! and closes them as unfounded. A subscriber who was told of an incident hears again only when
//! what they were told changed (an update) or was taken back (a retraction), each naming the
//! first alert; a new status alone is not news. Someone who was not told is never sent an
//! update or a retraction.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::incident::{Closure, Incident};

/// What an alert tells its subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The first word of this incident to this subscriber.
    New,
    /// What they were told changed: the category, the severity or the place.
    Update,
    /// What they were told was taken back: closed as unfounded, cancelled or with no report.
    Retraction,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::New => "new",
            AlertKind::Update => "update",
            AlertKind::Retraction => "retraction",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [AlertKind::New, AlertKind::Update, AlertKind::Retraction].into_iter().find(|k| k.as_str() == s)
    }
}

/// What a new version of an incident means for those already told of it.
pub fn news_for_recipients(previous: &Incident, current: &Incident) -> Option<AlertKind> {
    match (previous.closure, current.closure) {
        (None, Some(_)) => return Some(AlertKind::Retraction),
        (Some(_), _) => return None,
        (None, None) => {}
    }
    let moved = previous.location != current.location || previous.point != current.point;
    let reclassified =
        previous.category != current.category || previous.category.severity() != current.category.severity();
    (moved || reclassified).then_some(AlertKind::Update)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Increasing per installation: clients resume a stream from the last id they saw.
    pub id: i64,
    pub subscription_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub kind: AlertKind,
    /// For an update or a retraction: the subscriber's first alert of this incident.
    pub refers_to: Option<i64>,
    /// The incident as it was at the version that raised this alert.
    pub incident: Incident,
}

impl Alert {
    /// A sentence to read the alert by: what a call for service is, or what changed.
    pub fn context(&self) -> String {
        let i = &self.incident;
        match self.kind {
            AlertKind::New => i.category.context().to_owned(),
            AlertKind::Update => format!(
                "Dispatch changed this call after your first alert: it is now \"{}\" ({}) at {}.",
                i.call_type,
                i.category.as_str().replace('_', " "),
                i.location
            ),
            AlertKind::Retraction => {
                let how = match i.closure {
                    Some(Closure::Unfounded) => "as unfounded",
                    Some(Closure::Cancelled) => "as cancelled",
                    Some(Closure::NoReport) | None => "with no report",
                };
                format!("Dispatch closed this call {how}: what was first reported did not stand.")
            }
        }
    }
}
