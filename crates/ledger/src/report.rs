//! The transparency report: per agency and month, requests made, approved and refused, clips
//! shared and accessed, calls published and withheld by category. It is computed from the
//! log's entries alone, so anyone holding a copy of the log can recompute it and compare.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::entry::Entry;

/// One agency's month.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Month {
    pub requests_made: u64,
    pub requests_approved: u64,
    pub requests_refused: u64,
    /// Clips shared for requests that ended this month.
    pub clips_shared: u64,
    pub clips_accessed: u64,
    pub calls_published: BTreeMap<String, u64>,
    pub calls_withheld: BTreeMap<String, u64>,
}

/// The report: agency, then month (`YYYY-MM`), then the figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub entries: u64,
    pub agencies: BTreeMap<String, BTreeMap<String, Month>>,
}

/// A day's calls by category: published, withheld.
type DayCounts = (BTreeMap<String, u64>, BTreeMap<String, u64>);

/// A report being folded entry by entry, so a server can add only what is new.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    entries: u64,
    events: BTreeMap<String, BTreeMap<String, Month>>,
    /// A day's counts: the latest revision replaces earlier ones.
    days: BTreeMap<(String, String), DayCounts>,
}

impl Tally {
    /// How many entries were added.
    pub fn len(&self) -> u64 {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Add the next entry of the log (its stored text). An entry that does not parse counts
    /// but adds nothing.
    pub fn add(&mut self, text: &str) {
        self.entries += 1;
        let Ok(entry) = Entry::parse(text) else { return };
        let events = &mut self.events;
        fn month<'a>(
            events: &'a mut BTreeMap<String, BTreeMap<String, Month>>,
            agency: &str,
            at: &str,
        ) -> &'a mut Month {
            events
                .entry(agency.to_string())
                .or_default()
                .entry(at.get(..7).unwrap_or("").to_string())
                .or_default()
        }
        match entry {
            Entry::CallsDaily { agency, day, published, withheld, .. } => {
                self.days.insert((agency, day), (published, withheld));
            }
            Entry::RequestCreated { at, agency, .. } => month(events, &agency, &at).requests_made += 1,
            Entry::RequestModerated { at, agency, decision, .. } => {
                let month = month(events, &agency, &at);
                match decision.as_str() {
                    "approved" => month.requests_approved += 1,
                    "refused" => month.requests_refused += 1,
                    _ => {}
                }
            }
            Entry::RequestEnded { at, agency, clips_shared, .. } => {
                month(events, &agency, &at).clips_shared += clips_shared
            }
            Entry::ClipAccessed { at, agency, .. } => month(events, &agency, &at).clips_accessed += 1,
            Entry::PolicyVersion { .. }
            | Entry::RequestPublished { .. }
            | Entry::Account { .. }
            | Entry::Key { .. } => {}
        }
    }

    /// The report of what was added so far.
    pub fn report(&self) -> Report {
        let mut report = Report { entries: self.entries, agencies: self.events.clone() };
        for ((agency, day), (published, withheld)) in &self.days {
            let month = report.month(agency, day.get(..7).unwrap_or(""));
            for (category, n) in published {
                *month.calls_published.entry(category.clone()).or_default() += n;
            }
            for (category, n) in withheld {
                *month.calls_withheld.entry(category.clone()).or_default() += n;
            }
        }
        report
    }
}

impl Report {
    /// Fold the log's entries (their stored text), in log order.
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = &'a str>) -> Self {
        let mut tally = Tally::default();
        for text in entries {
            tally.add(text);
        }
        tally.report()
    }

    fn month(&mut self, agency: &str, month: &str) -> &mut Month {
        self.agencies.entry(agency.to_string()).or_default().entry(month.to_string()).or_default()
    }

    /// The report as a web page: one table per agency, a row per month.
    pub fn to_html(&self, size: u64, root: Option<&str>) -> String {
        let mut page = String::from(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Porchlight transparency report</title>\
             <style>body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem}\
             table{border-collapse:collapse;margin-bottom:2rem}th,td{border:1px solid #bbb;padding:.3rem .6rem;text-align:left}\
             td.n{text-align:right}</style></head><body>\n<h1>Transparency report</h1>\n",
        );
        page.push_str(&format!(
            "<p>Computed from the {size} entries of the public log{}. Anyone can download the log \
             (<a href=\"/v1/log/get-sth\">its signed head</a>, <a href=\"/v1/log/get-entries?start=0&amp;end=99\">its entries</a>), \
             check it with <code>porchlight audit verify</code>, and recompute these figures \
             (<a href=\"/v1/transparency/report\">JSON</a>).</p>\n",
            root.map(|r| format!(" (root <code>{}</code>)", escape(r))).unwrap_or_default()
        ));
        if self.agencies.is_empty() {
            page.push_str("<p>Nothing has been logged yet.</p>\n");
        }
        for (agency, months) in &self.agencies {
            page.push_str(&format!(
                "<h2>{}</h2>\n<table><thead><tr><th>Month</th><th>Requests made</th><th>Approved</th>\
                 <th>Refused</th><th>Clips shared</th><th>Clips accessed</th><th>Calls published</th>\
                 <th>Calls withheld</th></tr></thead><tbody>\n",
                escape(agency)
            ));
            for (month, m) in months {
                page.push_str(&format!(
                    "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td>\
                     <td class=n>{}</td><td>{}</td><td>{}</td></tr>\n",
                    escape(month),
                    m.requests_made,
                    m.requests_approved,
                    m.requests_refused,
                    m.clips_shared,
                    m.clips_accessed,
                    by_category(&m.calls_published),
                    by_category(&m.calls_withheld),
                ));
            }
            page.push_str("</tbody></table>\n");
        }
        page.push_str("</body></html>\n");
        page
    }
}

fn by_category(counts: &BTreeMap<String, u64>) -> String {
    if counts.is_empty() {
        return "0".into();
    }
    let total: u64 = counts.values().sum();
    let parts: Vec<String> = counts.iter().map(|(c, n)| format!("{}: {n}", escape(c))).collect();
    format!("{total} ({})", parts.join(", "))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(entry: Entry) -> String {
        entry.to_canonical()
    }

    #[test]
    fn the_report_counts_each_agencys_months_and_takes_a_days_latest_revision() {
        let day = |revision, published: &[(&str, u64)], withheld: &[(&str, u64)]| {
            e(Entry::CallsDaily {
                at: "2026-11-02T06:00:00Z".into(),
                agency: "mpd".into(),
                day: "2026-10-31".into(),
                revision,
                published: published.iter().map(|(c, n)| (c.to_string(), *n)).collect(),
                withheld: withheld.iter().map(|(c, n)| (c.to_string(), *n)).collect(),
            })
        };
        let req = |kind: &str, at: &str| match kind {
            "created" => {
                e(Entry::RequestCreated { at: at.into(), request: "r1".into(), agency: "mpd".into() })
            }
            "approved" | "refused" => e(Entry::RequestModerated {
                at: at.into(),
                request: "r1".into(),
                agency: "mpd".into(),
                decision: kind.into(),
                reason: None,
            }),
            "ended" => e(Entry::RequestEnded {
                at: at.into(),
                request: "r1".into(),
                agency: "mpd".into(),
                how: "expired".into(),
                clips_shared: 3,
                clip_accesses: 4,
            }),
            _ => e(Entry::ClipAccessed {
                at: at.into(),
                request: "r1".into(),
                clip_sha256: "ab".into(),
                agency: "mpd".into(),
            }),
        };
        let entries = [
            day(1, &[("theft", 5)], &[("sexual_assault", 1)]),
            req("created", "2026-10-30T10:00:00Z"),
            req("approved", "2026-10-31T10:00:00Z"),
            req("created", "2026-11-01T10:00:00Z"),
            req("refused", "2026-11-01T11:00:00Z"),
            req("access", "2026-11-03T11:00:00Z"),
            req("ended", "2026-11-30T11:00:00Z"),
            day(2, &[("theft", 6), ("fire", 1)], &[("sexual_assault", 2)]),
            "not json".into(),
        ];
        let report = Report::from_entries(entries.iter().map(String::as_str));
        assert_eq!(report.entries, 9);
        let months = &report.agencies["mpd"];
        let october = &months["2026-10"];
        assert_eq!((october.requests_made, october.requests_approved, october.requests_refused), (1, 1, 0));
        assert_eq!(october.calls_published, BTreeMap::from([("fire".into(), 1), ("theft".into(), 6)]));
        assert_eq!(october.calls_withheld, BTreeMap::from([("sexual_assault".into(), 2)]));
        let november = &months["2026-11"];
        assert_eq!((november.requests_made, november.requests_refused), (1, 1));
        assert_eq!((november.clips_shared, november.clips_accessed), (3, 1));
        let html = report.to_html(9, Some("<root>"));
        assert!(html.contains("<h2>mpd</h2>") && html.contains("7 (fire: 1, theft: 6)"), "{html}");
        assert!(html.contains("&lt;root&gt;") && !html.contains("<root>"));
    }
}
