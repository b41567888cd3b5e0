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

/// How usual a call like this is where the subscriber lives: calls of the same category in
/// their area in the 30 days up to it (this one included), and the monthly average over the 12
/// months up to it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BaseRate {
    pub last_30_days: u64,
    pub monthly_average: f64,
}

impl BaseRate {
    /// Count the calls at `times` (received) against one at `at`: 30 days and 365 days back.
    pub fn at(at: DateTime<Utc>, times: impl IntoIterator<Item = DateTime<Utc>>) -> Self {
        let (month, year) = (at - chrono::Duration::days(30), at - chrono::Duration::days(365));
        let (mut last_30_days, mut last_year) = (0u64, 0u64);
        for t in times {
            if t > at {
                continue;
            }
            if t > month {
                last_30_days += 1;
            }
            if t > year {
                last_year += 1;
            }
        }
        Self { last_30_days, monthly_average: last_year as f64 / 12.0 }
    }

    /// "The 3rd property call within 500 m in 30 days; a typical month has 4."
    pub fn sentence(&self, category: crate::category::Category, radius_m: Option<f64>) -> String {
        let n = self.last_30_days;
        let suffix = match (n % 100, n % 10) {
            (11..=13, _) => "th",
            (_, 1) => "st",
            (_, 2) => "nd",
            (_, 3) => "rd",
            _ => "th",
        };
        let area = radius_m.map_or("in your area".to_owned(), |r| format!("within {r:.0} m"));
        let typical = self.monthly_average;
        let typical = if typical < 1.0 && typical > 0.0 {
            "fewer than one".to_owned()
        } else {
            format!("{typical:.0}")
        };
        format!(
            "The {n}{suffix} {} call {area} in 30 days; a typical month has {typical}.",
            category.as_str().replace('_', " ")
        )
    }
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
    /// For a new alert: how usual such a call is in the subscriber's area.
    pub base_rate: Option<BaseRate>,
    /// Sent live; otherwise held for the subscriber's digest (quiet hours, budget, digest-only).
    pub live: bool,
    /// The incident as it was at the version that raised this alert.
    pub incident: Incident,
}

impl Alert {
    /// A line to show the alert by, in a notification or a subject line: the call as dispatch
    /// named it and where, marked when it changes or takes back an earlier alert.
    pub fn headline(&self) -> String {
        let i = &self.incident;
        let mark = match self.kind {
            AlertKind::New => "",
            AlertKind::Update => "Update: ",
            AlertKind::Retraction => "Retracted: ",
        };
        format!("{mark}{} ({}), {}", i.call_type, i.category.as_str().replace('_', " "), i.location)
    }

    /// A sentence to read the alert by: what a call for service is, or what changed.
    pub fn context(&self) -> String {
        let i = &self.incident;
        match self.kind {
            AlertKind::New => match self.base_rate {
                Some(rate) => format!("{} {}", i.category.context(), rate.sentence(i.category, None)),
                None => i.category.context().to_owned(),
            },
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::category::Category;

    #[test]
    fn base_rates_count_back_from_the_call() {
        let at = Utc.with_ymd_and_hms(2018, 5, 1, 12, 0, 0).unwrap();
        let days_before = |d: i64| at - chrono::Duration::days(d);
        // This call, two more this month, nine more in the year, one too old, one after it.
        let mut times = vec![at, days_before(3), days_before(29)];
        times.extend((2..11).map(|m| days_before(m * 31)));
        times.extend([days_before(400), at + chrono::Duration::days(1)]);
        let rate = BaseRate::at(at, times);
        assert_eq!(rate.last_30_days, 3);
        assert_eq!(rate.monthly_average, 1.0);
        assert_eq!(
            rate.sentence(Category::Property, Some(500.0)),
            "The 3rd property call within 500 m in 30 days; a typical month has 1."
        );
        let rare = BaseRate { last_30_days: 1, monthly_average: 0.25 };
        assert_eq!(
            rare.sentence(Category::PublicService, None),
            "The 1st public service call in your area in 30 days; a typical month has fewer than one."
        );
        assert!(
            BaseRate { last_30_days: 12, monthly_average: 0.0 }
                .sentence(Category::Fire, None)
                .contains("12th")
        );
    }
}
