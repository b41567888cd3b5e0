//! The labelled address sets of the usaddress project (`data/addresses/usaddress`), and how
//! well Porchlight's address parser finds the house number and the street in them.

use std::path::Path;

use quick_xml::{Reader, XmlVersion, events::Event};

/// One labelled address string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    pub text: String,
    /// The `AddressNumber` tokens, joined by spaces.
    pub number: Option<String>,
    /// The `StreetName*` tokens (pre-directional, pre-type, name, post-type, post-directional),
    /// joined by spaces.
    pub street: Option<String>,
    pub intersection: bool,
}

/// Read a usaddress XML file (`<AddressCollection><AddressString><Label>token</Label> ...`).
pub fn load(path: &Path) -> Result<Vec<Labelled>, String> {
    let xml = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader = Reader::from_str(&xml);
    let mut out = Vec::new();
    let mut current: Option<(String, Vec<String>, Vec<String>, bool)> = None;
    let mut label: Option<String> = None;
    loop {
        match reader.read_event().map_err(|e| format!("{}: {e}", path.display()))? {
            Event::Start(tag) => {
                let name = tag.name().as_ref().to_owned();
                if name == "AddressString" {
                    current = Some((String::new(), Vec::new(), Vec::new(), false));
                } else if current.is_some() {
                    label = Some(name);
                }
            }
            Event::Text(text) => {
                let text = text.xml_content(XmlVersion::Implicit1_0).into_owned();
                if let Some((raw, numbers, streets, intersection)) = current.as_mut() {
                    raw.push_str(&text);
                    match label.as_deref() {
                        Some("AddressNumber") => numbers.push(text),
                        Some(l) if l.starts_with("StreetName") => streets.push(text),
                        Some("IntersectionSeparator") => *intersection = true,
                        _ => {}
                    }
                }
            }
            Event::GeneralRef(entity) => {
                // &amp; and friends inside a token.
                let text = match entity.as_ref() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    _ => "",
                };
                if let Some((raw, _, _, _)) = current.as_mut() {
                    raw.push_str(text);
                }
            }
            Event::End(tag) => {
                if tag.name().as_ref() == "AddressString" {
                    if let Some((text, numbers, streets, intersection)) = current.take() {
                        let join = |v: Vec<String>| (!v.is_empty()).then(|| v.join(" "));
                        out.push(Labelled {
                            text,
                            number: join(numbers),
                            street: join(streets),
                            intersection,
                        });
                    }
                } else {
                    label = None;
                }
            }
            Event::Eof => return Ok(out),
            _ => {}
        }
    }
}

/// Upper case, without the punctuation the labelled tokens carry ("Ave.", "Road,").
pub fn normalize(s: &str) -> String {
    s.to_uppercase()
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '.' | '#'))
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// How Porchlight's parser did on the strings that carry a house number (and are not
/// intersections).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Score {
    pub strings: usize,
    pub with_number: usize,
    pub number_right: usize,
    pub street_right: usize,
    /// Strings whose number or street was wrong: (text, what the parser said).
    pub misses: Vec<(String, Option<(String, String)>)>,
}

impl Score {
    pub fn number_rate(&self) -> f64 {
        self.number_right as f64 / self.with_number.max(1) as f64
    }

    pub fn street_rate(&self) -> f64 {
        self.street_right as f64 / self.with_number.max(1) as f64
    }
}

pub fn score(set: &[Labelled]) -> Score {
    let mut s = Score { strings: set.len(), ..Score::default() };
    for l in set {
        let (Some(number), false) = (&l.number, l.intersection) else { continue };
        s.with_number += 1;
        let got = porchlight_core::address::house_and_street(&l.text);
        let number_ok = got.as_ref().is_some_and(|(n, _)| normalize(n) == normalize(number));
        let street_ok =
            got.as_ref().is_some_and(|(_, st)| Some(normalize(st)) == l.street.as_deref().map(normalize));
        s.number_right += usize::from(number_ok);
        s.street_right += usize::from(street_ok);
        if !(number_ok && street_ok) {
            s.misses.push((l.text.clone(), got));
        }
    }
    s
}
