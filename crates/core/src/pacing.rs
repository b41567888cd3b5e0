//! When a subscriber is alerted: live, or held for their digest.
//!
//! A resident can set quiet hours in their own time zone (alerts wait for the digest), a daily
//! budget of live alerts (beyond it, the digest), or digest-only mode. The digest is a summary
//! per day or per week, closing at an hour they choose; it holds everything that was not sent
//! live in its period.

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// How often a digest closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigestEvery {
    #[default]
    Daily,
    /// Weekly, closing on Monday at the digest hour.
    Weekly,
}

/// A subscriber's pacing as they write it (and as it is stored): times as "22:00", the zone
/// as the tz database names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacingDocument {
    #[serde(default = "utc")]
    pub time_zone: String,
    /// `["22:00", "07:00"]`: no live alerts from 22:00 until 07:00.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<[String; 2]>,
    /// Live alerts a day at most; the rest go to the digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_budget: Option<u32>,
    /// No live alerts at all: only the digest.
    #[serde(default)]
    pub digest_only: bool,
    #[serde(default)]
    pub digest_every: DigestEvery,
    /// The local hour (0 to 23) at which the digest closes.
    #[serde(default = "seven")]
    pub digest_hour: u32,
}

fn utc() -> String {
    "UTC".into()
}

fn seven() -> u32 {
    7
}

impl Default for PacingDocument {
    fn default() -> Self {
        Self {
            time_zone: utc(),
            quiet_hours: None,
            daily_budget: None,
            digest_only: false,
            digest_every: DigestEvery::Daily,
            digest_hour: seven(),
        }
    }
}

/// A checked pacing.
#[derive(Debug, Clone, PartialEq)]
pub struct Pacing {
    document: PacingDocument,
    time_zone: Tz,
    quiet: Option<(NaiveTime, NaiveTime)>,
}

impl Default for Pacing {
    fn default() -> Self {
        Self { document: PacingDocument::default(), time_zone: Tz::UTC, quiet: None }
    }
}

/// Why an alert was held for the digest, or that it goes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Live,
    QuietHours,
    OverBudget,
    DigestOnly,
}

impl Route {
    /// "live" or "digest", as stored and served.
    pub fn delivery(self) -> &'static str {
        match self {
            Route::Live => "live",
            _ => "digest",
        }
    }
}

impl Pacing {
    /// Check a pacing document. Errors name the field.
    pub fn new(document: PacingDocument) -> Result<Self, (&'static str, String)> {
        let time_zone: Tz = document
            .time_zone
            .parse()
            .map_err(|_| ("time_zone", format!("unknown time zone {:?}", document.time_zone)))?;
        let quiet = match &document.quiet_hours {
            None => None,
            Some([start, end]) => {
                let time = |s: &str| {
                    NaiveTime::parse_from_str(s.trim(), "%H:%M")
                        .map_err(|_| ("quiet_hours", format!("{s:?} is not a time such as \"22:00\"")))
                };
                Some((time(start)?, time(end)?))
            }
        };
        if document.digest_hour > 23 {
            return Err(("digest_hour", "must be an hour from 0 to 23".into()));
        }
        if document.daily_budget == Some(0) && !document.digest_only {
            return Err(("daily_budget", "must be at least 1; for no live alerts, set digest_only".into()));
        }
        Ok(Self { document, time_zone, quiet })
    }

    pub fn document(&self) -> &PacingDocument {
        &self.document
    }

    /// Whether `now` falls in the quiet hours (a window may wrap past midnight).
    pub fn is_quiet(&self, now: DateTime<Utc>) -> bool {
        let Some((start, end)) = self.quiet else { return false };
        let t = now.with_timezone(&self.time_zone).time();
        match start.cmp(&end) {
            std::cmp::Ordering::Less => start <= t && t < end,
            std::cmp::Ordering::Greater => t >= start || t < end,
            std::cmp::Ordering::Equal => false,
        }
    }

    /// The start of the subscriber's local day that holds `now`: budgets count from it.
    pub fn day_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let local = now.with_timezone(&self.time_zone).date_naive();
        self.local(local.and_time(NaiveTime::MIN))
    }

    fn local(&self, naive: chrono::NaiveDateTime) -> DateTime<Utc> {
        self.time_zone
            .from_local_datetime(&naive)
            .earliest()
            .or_else(|| self.time_zone.from_local_datetime(&(naive + Duration::hours(1))).earliest())
            .map_or_else(|| naive.and_utc(), |t| t.with_timezone(&Utc))
    }

    /// Where a new alert goes, given how many live new alerts the subscriber had today.
    pub fn route_new(&self, now: DateTime<Utc>, live_today: u32) -> Route {
        if self.document.digest_only {
            Route::DigestOnly
        } else if self.is_quiet(now) {
            Route::QuietHours
        } else if self.document.daily_budget.is_some_and(|b| live_today >= b) {
            Route::OverBudget
        } else {
            Route::Live
        }
    }

    /// Where an update or a retraction goes: corrections are not counted against the budget,
    /// but they wait out quiet hours like anything else.
    pub fn route_correction(&self, now: DateTime<Utc>) -> Route {
        if self.document.digest_only {
            Route::DigestOnly
        } else if self.is_quiet(now) {
            Route::QuietHours
        } else {
            Route::Live
        }
    }

    /// The digest period that closed last at or before `now`: `[from, to)`.
    pub fn last_digest(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let local = now.with_timezone(&self.time_zone);
        let hour = NaiveTime::from_hms_opt(self.document.digest_hour, 0, 0).unwrap_or(NaiveTime::MIN);
        let mut close_day = local.date_naive();
        if local.time() < hour {
            close_day = close_day.pred_opt().unwrap_or(close_day);
        }
        let days = match self.document.digest_every {
            DigestEvery::Daily => 1,
            DigestEvery::Weekly => {
                let back = close_day.weekday().num_days_from_monday();
                close_day -= Duration::days(i64::from(back));
                7
            }
        };
        let to = self.local(close_day.and_time(hour));
        let from = self.local((close_day - Duration::days(days)).and_time(hour));
        (from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacing(doc: serde_json::Value) -> Pacing {
        Pacing::new(serde_json::from_value(doc).unwrap()).unwrap()
    }

    #[test]
    fn quiet_hours_wrap_midnight_in_the_subscribers_zone() {
        let p =
            pacing(serde_json::json!({"time_zone": "America/Chicago", "quiet_hours": ["22:00", "07:00"]}));
        // 04:00 UTC is 23:00 in Chicago in May (UTC-5): quiet. 15:00 UTC is 10:00: not.
        let at = |h| Utc.with_ymd_and_hms(2018, 5, 1, h, 0, 0).unwrap();
        assert!(p.is_quiet(at(4)));
        assert_eq!(p.route_new(at(4), 0), Route::QuietHours);
        assert!(!p.is_quiet(at(15)));
        assert_eq!(p.route_new(at(15), 0), Route::Live);
        assert_eq!(p.day_start(at(4)).to_rfc3339(), "2018-04-30T05:00:00+00:00");
    }

    #[test]
    fn budgets_and_digest_only() {
        let now = Utc.with_ymd_and_hms(2018, 5, 1, 15, 0, 0).unwrap();
        let p = pacing(serde_json::json!({"daily_budget": 3}));
        assert_eq!((p.route_new(now, 2), p.route_new(now, 3)), (Route::Live, Route::OverBudget));
        assert_eq!(p.route_correction(now), Route::Live);
        let d = pacing(serde_json::json!({"digest_only": true}));
        assert_eq!((d.route_new(now, 0).delivery(), d.route_correction(now)), ("digest", Route::DigestOnly));
        let bad = |doc| Pacing::new(serde_json::from_value(doc).unwrap()).unwrap_err().0;
        assert_eq!(bad(serde_json::json!({"time_zone": "Mars/Olympus"})), "time_zone");
        assert_eq!(bad(serde_json::json!({"quiet_hours": ["late", "07:00"]})), "quiet_hours");
        assert_eq!(bad(serde_json::json!({"digest_hour": 24})), "digest_hour");
        assert_eq!(bad(serde_json::json!({"daily_budget": 0})), "daily_budget");
    }

    #[test]
    fn digest_periods_close_at_the_chosen_hour() {
        let p = pacing(serde_json::json!({"time_zone": "America/Chicago", "digest_hour": 7}));
        // 2018-05-01 15:00 UTC = 10:00 Chicago: the last digest closed today at 07:00.
        let now = Utc.with_ymd_and_hms(2018, 5, 1, 15, 0, 0).unwrap();
        let (from, to) = p.last_digest(now);
        assert_eq!(
            (from.to_rfc3339(), to.to_rfc3339()),
            ("2018-04-30T12:00:00+00:00".into(), "2018-05-01T12:00:00+00:00".into())
        );
        let w = pacing(serde_json::json!({"digest_every": "weekly", "digest_hour": 7}));
        let (from, to) = w.last_digest(now);
        // 2018-05-01 was a Tuesday: the week closed on Monday 2018-04-30 at 07:00.
        assert_eq!(
            (from.to_rfc3339(), to.to_rfc3339()),
            ("2018-04-23T07:00:00+00:00".into(), "2018-04-30T07:00:00+00:00".into())
        );
    }
}
