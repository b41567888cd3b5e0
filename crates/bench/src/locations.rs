//! The labelled set of real dispatch location strings (`data/locations/labelled.tsv`), and how
//! the parser does on it.

use std::path::Path;

use porchlight_core::address::{self, Place};

/// What a location string is, reduced to what the privacy stage needs: the class, the house or
/// block number, and the street (or both streets).
pub fn classify(text: &str) -> (&'static str, Option<u32>, String, String) {
    match address::parse(text) {
        Place::House { number, street } | Place::Block { number, street } => {
            ("numbered", Some(number), street, String::new())
        }
        Place::Intersection(a, b) => ("intersection", None, a, b),
        Place::Street(s) => ("street", None, s, String::new()),
        Place::Unknown => ("none", None, String::new(), String::new()),
    }
}

/// One labelled string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub city: String,
    pub text: String,
    /// address, block, intersection, street, landmark or empty.
    pub kind: String,
    pub number: Option<u32>,
    pub street: String,
    pub street2: String,
}

impl Label {
    /// The class the parser should report for this kind.
    pub fn class(&self) -> &'static str {
        match self.kind.as_str() {
            "address" | "block" => "numbered",
            "intersection" => "intersection",
            "street" => "street",
            _ => "none",
        }
    }
}

/// Read the TSV: city, text (with `\n` for line breaks), kind, number, street, street2.
/// Lines starting with `#` are comments.
pub fn load(path: &Path) -> Result<Vec<Label>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 6 {
            return Err(format!(
                "{}: line {}: expected 6 tab-separated fields, got {}",
                path.display(),
                i + 1,
                f.len()
            ));
        }
        let number = match f[3] {
            "" => None,
            n => Some(n.parse().map_err(|_| format!("{}: line {}: number {n:?}", path.display(), i + 1))?),
        };
        out.push(Label {
            city: f[0].to_owned(),
            text: f[1].replace("\\n", "\n"),
            kind: f[2].to_owned(),
            number,
            street: f[4].to_owned(),
            street2: f[5].to_owned(),
        });
    }
    Ok(out)
}

fn same(a: &str, b: &str) -> bool {
    crate::usaddress::normalize(a) == crate::usaddress::normalize(b)
}

/// Whether the parser got this string exactly right: class, number and street(s).
pub fn exactly_right(label: &Label) -> bool {
    let (class, number, street, street2) = classify(&label.text);
    class == label.class()
        && number == label.number
        && same(&street, &label.street)
        && same(&street2, &label.street2)
}
