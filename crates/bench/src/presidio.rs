//! The Presidio evaluator's synthetic PII set (`data/pii/presidio`), and how well the
//! free-text scrubber finds the entity types that apply to dispatch narratives.

use std::{collections::BTreeMap, path::Path};

use porchlight_core::scrub::{Kind, Scrubber};

/// One labelled span, in byte offsets of its text.
#[derive(Debug, Clone)]
pub struct Span {
    pub entity: String,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone)]
pub struct Sample {
    pub text: String,
    pub spans: Vec<Span>,
}

/// Read the JSON array; its offsets count characters, and are turned into byte offsets here.
pub fn load(path: &Path) -> Result<Vec<Sample>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let records = value.as_array().ok_or("not a JSON array")?;
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        let full = r["full_text"].as_str().ok_or("full_text")?.to_owned();
        let bytes: Vec<usize> = full.char_indices().map(|(b, _)| b).chain([full.len()]).collect();
        let spans = r["spans"]
            .as_array()
            .ok_or("spans")?
            .iter()
            .filter_map(|s| {
                let start = *bytes.get(usize::try_from(s["start_position"].as_u64()?).ok()?)?;
                let end = *bytes.get(usize::try_from(s["end_position"].as_u64()?).ok()?)?;
                Some(Span { entity: s["entity_type"].as_str()?.to_owned(), start, end })
            })
            .collect();
        out.push(Sample { text: full, spans });
    }
    Ok(out)
}

/// The scrubber's kind for a Presidio entity type, for the types that apply.
pub fn kind_for(entity: &str) -> Option<Kind> {
    match entity {
        "PERSON" => Some(Kind::Name),
        "PHONE_NUMBER" => Some(Kind::Phone),
        "EMAIL_ADDRESS" => Some(Kind::Email),
        "STREET_ADDRESS" => Some(Kind::Address),
        _ => None,
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Rates {
    pub gold: usize,
    pub found: usize,
    pub detections: usize,
    pub true_detections: usize,
}

impl Rates {
    pub fn recall(&self) -> f64 {
        self.found as f64 / self.gold.max(1) as f64
    }

    pub fn precision(&self) -> f64 {
        self.true_detections as f64 / self.detections.max(1) as f64
    }
}

/// Recall (a labelled span counts as found when detections of its kind cover at least half of
/// its letters and digits) and precision (a detection counts as true when it overlaps a
/// labelled span of its kind), per kind.
pub fn evaluate(set: &[Sample], scrubber: &Scrubber) -> BTreeMap<Kind, Rates> {
    let mut rates: BTreeMap<Kind, Rates> = BTreeMap::new();
    for sample in set {
        let found = scrubber.find(&sample.text);
        for span in &sample.spans {
            let Some(kind) = kind_for(&span.entity) else { continue };
            let r = rates.entry(kind).or_default();
            r.gold += 1;
            let chars: Vec<(usize, char)> = sample.text[span.start..span.end]
                .char_indices()
                .filter(|(_, c)| c.is_alphanumeric())
                .map(|(i, c)| (i + span.start, c))
                .collect();
            let covered = chars
                .iter()
                .filter(|(i, _)| found.iter().any(|f| f.kind == kind && f.start <= *i && *i < f.end))
                .count();
            if !chars.is_empty() && covered * 2 >= chars.len() {
                r.found += 1;
            }
        }
        for f in &found {
            let r = rates.entry(f.kind).or_default();
            r.detections += 1;
            let hit = sample
                .spans
                .iter()
                .any(|s| kind_for(&s.entity) == Some(f.kind) && s.start < f.end && f.start < s.end);
            r.true_detections += usize::from(hit);
        }
    }
    rates
}
