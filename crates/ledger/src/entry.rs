//! What the log records: small JSON documents with no personal data, one per event that
//! touches residents' privacy. Both worlds write them (each into an outbox of its own, in the
//! same transaction as the event), and the binary moves them into the log; this module is the
//! one definition of their form, so that the transparency report and any auditor read what the
//! worlds wrote.
//!
//! An entry's bytes are its canonical JSON ([`Entry::to_canonical`]): object keys sorted,
//! no whitespace, integers and strings only, as RFC 8785 (JCS) writes such documents. The log
//! hashes those exact bytes and serves them unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One event of the log. `at` is when it happened, RFC 3339 in UTC to the second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Entry {
    /// A version of an agency's privacy policy, in full, and who approved it.
    #[serde(rename = "policy.version")]
    PolicyVersion { at: String, agency: String, version: u32, approved_by: String, policy: Value },
    /// One day's calls of an agency (the day in the agency's time zone), published and
    /// withheld, by category. A later revision replaces an earlier one for the same day
    /// (records of a day can arrive after it was first counted).
    #[serde(rename = "calls.daily")]
    CallsDaily {
        at: String,
        agency: String,
        day: String,
        revision: u32,
        published: BTreeMap<String, u64>,
        withheld: BTreeMap<String, u64>,
    },
    /// A video request was made by an agency.
    #[serde(rename = "request.created")]
    RequestCreated { at: String, request: String, agency: String },
    /// A moderator decided on a request: `approved` or `refused`, with the reason given.
    #[serde(rename = "request.moderated")]
    RequestModerated { at: String, request: String, agency: String, decision: String, reason: Option<String> },
    /// An approved request became public and went to the owners of cameras in its area.
    #[serde(rename = "request.published")]
    RequestPublished { at: String, request: String, agency: String },
    /// A request ended: `closed` by its agency or `expired`, with how many clips owners
    /// shared for it and how many times they were accessed. Never who declined.
    #[serde(rename = "request.ended")]
    RequestEnded {
        at: String,
        request: String,
        agency: String,
        how: String,
        clips_shared: u64,
        clip_accesses: u64,
    },
    /// An agency downloaded a shared clip.
    #[serde(rename = "clip.accessed")]
    ClipAccessed { at: String, request: String, clip_sha256: String, agency: String },
    /// An account event that grants power: `agency.verified`, `officer.added`,
    /// `officer.removed`, `agency_admin.appointed`, `moderator.appointed`,
    /// `moderator.removed`. `account` is the account's public id, never a name or an address.
    #[serde(rename = "account")]
    Account { at: String, event: String, agency: Option<String>, account: Option<String> },
    /// A signing key came into use or was revoked: the log's own (`log`, with its public
    /// key) or a dispatch centre's push key (`push`, with the agency and key id).
    #[serde(rename = "key")]
    Key { at: String, event: String, purpose: String, agency: Option<String>, key: String },
}

impl Entry {
    /// The entry's canonical JSON: the bytes the log hashes.
    pub fn to_canonical(&self) -> String {
        let value = serde_json::to_value(self).expect("entries serialize");
        canonical(&value)
    }

    /// Read an entry from the log's bytes.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// When the event happened.
    pub fn at(&self) -> &str {
        match self {
            Entry::PolicyVersion { at, .. }
            | Entry::CallsDaily { at, .. }
            | Entry::RequestCreated { at, .. }
            | Entry::RequestModerated { at, .. }
            | Entry::RequestPublished { at, .. }
            | Entry::RequestEnded { at, .. }
            | Entry::ClipAccessed { at, .. }
            | Entry::Account { at, .. }
            | Entry::Key { at, .. } => at,
        }
    }
}

/// A time as entries write it: RFC 3339, UTC, whole seconds.
pub fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Canonical JSON of a value: keys sorted by their UTF-16 code units (RFC 8785; for the ASCII
/// keys of entries that is byte order), no whitespace, serde_json's escaping of strings.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth_and_drops_whitespace() {
        let value: Value =
            serde_json::from_str(r#"{ "b": [ {"z": 1, "a": "x\"y"} ], "a": null, "é": 2, "Z": true }"#)
                .unwrap();
        assert_eq!(canonical(&value), r#"{"Z":true,"a":null,"b":[{"a":"x\"y","z":1}],"é":2}"#);
    }

    #[test]
    fn entries_round_trip_through_their_canonical_form() {
        let entry = Entry::RequestModerated {
            at: time(chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap()),
            request: "0190".into(),
            agency: "mpd".into(),
            decision: "refused".into(),
            reason: Some("too wide".into()),
        };
        let text = entry.to_canonical();
        assert_eq!(
            text,
            r#"{"agency":"mpd","at":"2027-01-15T08:00:00Z","decision":"refused","kind":"request.moderated","reason":"too wide","request":"0190"}"#
        );
        assert_eq!(Entry::parse(&text).unwrap(), entry);
    }
}
