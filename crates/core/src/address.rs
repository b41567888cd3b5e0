//! Parsing the location strings dispatch systems emit, and generalizing them.
//!
//! The parser needs no network and no gazetteer. It recognises house-number addresses (with
//! suffixes, fractions and ranges), already-generalized blocks ("92XX BLOCK OF ...",
//! "4600-BLK ...", "12XX ..."), intersections ("A / B", "A & B", "A AND B", "A AT B"), and bare
//! street names. Anything else is `Place::Unknown`, which the privacy stage withholds rather than
//! publish text it does not understand.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

/// What a location string turned out to be. Holds raw house numbers: never leaves this crate's
/// privacy stage except through [`generalize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    House { number: u32, street: String },
    Block { number: u32, street: String },
    Intersection(String, String),
    Street(String),
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationKind {
    Block,
    Intersection,
    Street,
    /// A coarse area named by a street, for policies that publish cells rather than blocks.
    Area,
}

impl LocationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LocationKind::Block => "block",
            LocationKind::Intersection => "intersection",
            LocationKind::Street => "street",
            LocationKind::Area => "area",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [LocationKind::Block, LocationKind::Intersection, LocationKind::Street, LocationKind::Area]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A location in the only form Porchlight publishes. Made by [`generalize`] alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicLocation {
    kind: LocationKind,
    text: String,
}

impl PublicLocation {
    pub fn kind(&self) -> LocationKind {
        self.kind
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Wisconsin-style grid addresses ("W180 N8085 TOWN HALL RD", "N9497 BEULAH MEADOWS RD"): the
/// grid numbers locate the house as exactly as a house number does.
static GRID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(?:[NSEW]\d+\s+){1,2}").unwrap());
/// "N VAN BUREN ST- E LYON ST": a dash after a word, then a space, separates two streets.
static DASH_SEPARATOR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"([A-Z])-\s+").unwrap());
static FRACTION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b\d+/\d+\b").unwrap());
static SEPARATOR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\s*(?:/|&|\bAND\b|\bAT\b)\s*").unwrap());
static XX_BLOCK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\d*)XX\s*(?:-\s*)?(?:(?:BLOCK|BLK)(?:\s+OF)?\s+)?(.+)$").unwrap());
static NUMBER_BLOCK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\d+)\s*-?\s*(?:BLOCK|BLK)(?:\s+OF)?\s+(.+)$").unwrap());
static HOUSE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\d+)(?:\s*-\s*[A-Z0-9]+|[A-Z])?(?:\s+\d+/\d+)?\s+(.+)$").unwrap());
static UNIT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\s*(?:#|\b(?:APT|APARTMENT|UNIT|STE|SUITE|RM|ROOM|LOT|SPC|SPACE|BLDG|FL|FLOOR)\b).*$")
        .unwrap()
});

/// Street types: "4 AV" is a numbered street, and a string without a house number is taken for
/// a street only when it has one of these or a [`ROUTE_WORDS`] word.
const STREET_TYPES: &[&str] = &[
    "ST",
    "STREET",
    "AV",
    "AVE",
    "AVENUE",
    "DR",
    "DRIVE",
    "RD",
    "ROAD",
    "BL",
    "BLVD",
    "BOULEVARD",
    "LN",
    "LANE",
    "CT",
    "COURT",
    "PL",
    "PLACE",
    "WAY",
    "WY",
    "PKWY",
    "PKY",
    "PY",
    "PARKWAY",
    "HWY",
    "HIGHWAY",
    "TER",
    "TERRACE",
    "CIR",
    "CIRCLE",
    "SQ",
    "TRL",
    "TRAIL",
    "ALY",
    "ALLEY",
    "EXPY",
    "FWY",
    "FREEWAY",
    "LOOP",
    "ROW",
    "CRES",
    "PLZ",
    "PLAZA",
];

/// Named streets without a type, and highway prefixes.
const ROUTE_WORDS: &[&str] = &["BROADWAY", "I", "US", "SR", "RT", "RTE", "ROUTE"];

const DIRECTIONALS: &[&str] = &["N", "S", "E", "W", "NE", "NW", "SE", "SW"];

/// Upper-case, fold white space and cut what follows the first `,` or `;` (a city or a place
/// name: "5237 N 35TH ST,MKE", "2994 HIGUERA S; SHADY LANE MHP;").
fn normalize(text: &str) -> String {
    let head = text.split([',', ';']).next().unwrap_or("");
    head.split_whitespace().collect::<Vec<_>>().join(" ").to_uppercase()
}

fn clean_street(street: &str) -> Option<String> {
    let street = UNIT.replace(street, "");
    let street = street.trim().trim_end_matches(['-', '.']).trim();
    let has_letter = street.chars().any(|c| c.is_ascii_alphabetic());
    (has_letter && street.split(' ').count() <= 8).then(|| street.to_owned())
}

fn looks_like_street(street: &str) -> bool {
    street.split([' ', '-']).any(|w| STREET_TYPES.contains(&w) || ROUTE_WORDS.contains(&w))
}

/// A cross street may carry a house number ("1234 MAIN ST / 5TH AV"): keep the street only.
fn cross_street(side: &str) -> Option<String> {
    let side = side.trim();
    match HOUSE.captures(side) {
        Some(c) if !is_numbered_street(&c[2]) => clean_street(&c[2]),
        _ => clean_street(side),
    }
}

/// "4 AV", "45 ST NE": a number followed only by a street type is a numbered street.
fn is_numbered_street(rest: &str) -> bool {
    let mut words = rest.split(' ').filter(|w| !DIRECTIONALS.contains(w));
    matches!((words.next(), words.next()), (Some(w), None) if STREET_TYPES.contains(&w))
}

fn hundreds(digits: &str) -> Option<u32> {
    if digits.is_empty() { Some(0) } else { digits.parse::<u32>().ok()?.checked_mul(100) }
}

/// Parse one location string.
pub fn parse(text: &str) -> Place {
    let s = normalize(text);
    if s.is_empty() {
        return Place::Unknown;
    }
    let s = GRID.replace(&s, "").into_owned();
    let s = DASH_SEPARATOR.replace_all(&s, "$1 / ").into_owned();
    let without_fractions = FRACTION.replace_all(&s, "");
    let sides: Vec<&str> = SEPARATOR.split(&without_fractions).collect();
    if sides.len() == 2 && sides.iter().all(|p| !p.trim().is_empty()) {
        return match (cross_street(sides[0]), cross_street(sides[1])) {
            (Some(a), Some(b)) => Place::Intersection(a, b),
            _ => Place::Unknown,
        };
    }
    if sides.len() > 2 {
        return Place::Unknown;
    }
    if let Some(c) = XX_BLOCK.captures(&s) {
        return match (hundreds(&c[1]), clean_street(&c[2])) {
            (Some(number), Some(street)) => Place::Block { number, street },
            _ => Place::Unknown,
        };
    }
    if let Some(c) = NUMBER_BLOCK.captures(&s) {
        return match (c[1].parse().ok(), clean_street(&c[2])) {
            (Some(number), Some(street)) => Place::Block { number, street },
            _ => Place::Unknown,
        };
    }
    if let Some(c) = HOUSE.captures(&s)
        && !is_numbered_street(&c[2])
    {
        return match (c[1].parse().ok(), clean_street(&c[2])) {
            (Some(number), Some(street)) => Place::House { number, street },
            _ => Place::Unknown,
        };
    }
    match clean_street(&s) {
        Some(street) if looks_like_street(&street) => Place::Street(street),
        _ => Place::Unknown,
    }
}

/// Parse a location given as a number and a street in two fields.
pub fn parse_parts(number: &str, street: &str) -> Place {
    if number.trim().is_empty() {
        return parse(street);
    }
    parse(&format!("{} {}", number.trim(), street.trim()))
}

/// Parse a location given as two cross streets in two fields.
pub fn parse_cross_streets(a: &str, b: &str) -> Place {
    match (a.trim().is_empty(), b.trim().is_empty()) {
        (false, false) => parse(&format!("{} / {}", a.trim(), b.trim())),
        (false, true) => parse(a),
        (true, false) => parse(b),
        (true, true) => Place::Unknown,
    }
}

/// How much of a location a policy publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generalization {
    /// House numbers rounded down to a multiple of `block_size`; intersections and streets kept.
    HundredBlock { block_size: u32 },
    /// Intersections kept; addresses and blocks reduced to their street.
    IntersectionOnly,
    /// Only a street: an intersection is reduced to its first street.
    StreetOnly,
    /// A coarse area named after the street; the point is snapped to a coarse cell.
    Cell,
}

/// The public form of a place under a policy's generalization. `None` for a place that cannot
/// be published.
pub fn generalize(place: &Place, rule: Generalization) -> Option<PublicLocation> {
    let street = |s: &str| (LocationKind::Street, display_street(s));
    let (kind, text) = match (rule, place) {
        (_, Place::Unknown) => return None,
        (
            Generalization::HundredBlock { block_size },
            Place::House { number, street } | Place::Block { number, street },
        ) => {
            let block_size = block_size.max(1);
            let block = number / block_size * block_size;
            (LocationKind::Block, format!("{block} block of {}", display_street(street)))
        }
        (
            Generalization::HundredBlock { .. } | Generalization::IntersectionOnly,
            Place::Intersection(a, b),
        ) => (LocationKind::Intersection, format!("{} & {}", display_street(a), display_street(b))),
        (Generalization::Cell, Place::House { street: s, .. } | Place::Block { street: s, .. })
        | (Generalization::Cell, Place::Street(s) | Place::Intersection(s, _)) => {
            (LocationKind::Area, format!("{} area", display_street(s)))
        }
        (
            _,
            Place::House { street: s, .. }
            | Place::Block { street: s, .. }
            | Place::Street(s)
            | Place::Intersection(s, _),
        ) => street(s),
    };
    Some(PublicLocation { kind, text })
}

/// "N 35TH ST" -> "N 35th St", "RAINIER AV S" -> "Rainier Av S", "I-94" -> "I-94".
fn display_street(street: &str) -> String {
    street.split(' ').map(display_word).collect::<Vec<_>>().join(" ")
}

fn display_word(word: &str) -> String {
    if DIRECTIONALS.contains(&word) {
        return word.to_owned();
    }
    if word.chars().any(|c| c.is_ascii_digit()) {
        let ordinal = ["ST", "ND", "RD", "TH"].iter().any(|suffix| {
            word.strip_suffix(suffix).is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        });
        return if ordinal { word.to_lowercase() } else { word.to_owned() };
    }
    let mut out = String::with_capacity(word.len());
    let mut start = true;
    for c in word.chars() {
        out.extend(if start { c.to_uppercase().collect::<Vec<_>>() } else { c.to_lowercase().collect() });
        start = !c.is_alphabetic();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCKS: Generalization = Generalization::HundredBlock { block_size: 100 };

    fn public(text: &str) -> Option<String> {
        generalize(&parse(text), BLOCKS).map(|l| l.text)
    }

    #[test]
    fn real_dispatch_strings_generalize() {
        let cases = [
            ("5237 N 35TH ST,MKE", Some("5200 block of N 35th St")),
            ("3017-A N 28TH ST,MKE", Some("3000 block of N 28th St")),
            ("1234 1/2 W VLIET ST", Some("1200 block of W Vliet St")),
            ("1201-1205 E BRADY ST", Some("1200 block of E Brady St")),
            ("812 W STATE ST APT 5", Some("800 block of W State St")),
            ("2994 HIGUERA S; SHADY LANE MHP;", Some("2900 block of Higuera S")),
            ("45 N MAIN ST # D29", Some("0 block of N Main St")),
            ("N 60TH ST / W CAPITOL DR,MKE", Some("N 60th St & W Capitol Dr")),
            ("MILL/PILGRIM, MENOMONEE FALLS", Some("Mill & Pilgrim")),
            ("62ND/LAYTON", Some("62nd & Layton")),
            ("S KING ST / 8 AV S", Some("S King St & 8 Av S")),
            ("MAIN ST AND 5TH AV", Some("Main St & 5th Av")),
            ("4600-BLK N 39TH ST,MKE", Some("4600 block of N 39th St")),
            ("4200 BLK PREFUMO CANYON;", Some("4200 block of Prefumo Canyon")),
            ("92XX BLOCK OF RAINIER AV S", Some("9200 block of Rainier Av S")),
            ("143XX BLOCK OF 30 AV NE", Some("14300 block of 30 Av NE")),
            ("XX BLOCK OF S MAIN ST", Some("0 block of S Main St")),
            ("12XX MARKET ST", Some("1200 block of Market St")),
            ("W CAPITOL DR", Some("W Capitol Dr")),
            ("234 N BROADWAY,MKE", Some("200 block of N Broadway")),
            ("W180 N8085 TOWN HALL RD, MENOMONEE FALLS", Some("Town Hall Rd")),
            ("N9497 BEULAH MEADOWS RD", Some("Beulah Meadows Rd")),
            ("N VAN BUREN ST- E LYON ST", Some("N Van Buren St & E Lyon St")),
            ("4 AV", Some("4 Av")),
            ("NE 45 ST", Some("NE 45 St")),
            ("DSHA", None),
            ("D3, MKE", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(public(input).as_deref(), want, "{input}");
        }
    }

    #[test]
    fn already_blocked_inputs_are_not_generalized_twice() {
        assert_eq!(parse("4600-BLK N 39TH ST"), Place::Block { number: 4600, street: "N 39TH ST".into() });
        assert_eq!(
            generalize(&parse("4600-BLK N 39TH ST"), Generalization::HundredBlock { block_size: 1000 })
                .unwrap()
                .text,
            "4000 block of N 39th St"
        );
    }

    #[test]
    fn coarser_rules_drop_more() {
        let cases = [
            ("5237 N 35TH ST", Generalization::IntersectionOnly, "N 35th St"),
            ("N 60TH ST / W CAPITOL DR", Generalization::IntersectionOnly, "N 60th St & W Capitol Dr"),
            ("5237 N 35TH ST", Generalization::StreetOnly, "N 35th St"),
            ("N 60TH ST / W CAPITOL DR", Generalization::StreetOnly, "N 60th St"),
            ("5237 N 35TH ST", Generalization::Cell, "N 35th St area"),
            ("92XX BLOCK OF RAINIER AV S", Generalization::Cell, "Rainier Av S area"),
        ];
        for (input, rule, want) in cases {
            assert_eq!(generalize(&parse(input), rule).unwrap().text, want, "{input} {rule:?}");
        }
        assert_eq!(generalize(&parse("DSHA"), Generalization::StreetOnly), None);
    }

    #[test]
    fn two_field_forms() {
        assert_eq!(parse_parts("52XX", "N 35TH ST"), parse("52XX N 35TH ST"));
        assert_eq!(parse_parts("", "W CAPITOL DR"), Place::Street("W CAPITOL DR".into()));
        assert_eq!(
            parse_cross_streets("N 60TH ST", "W CAPITOL DR"),
            Place::Intersection("N 60TH ST".into(), "W CAPITOL DR".into())
        );
    }

    proptest::proptest! {
        /// Whatever the input, the published text never holds a house number that is not a
        /// multiple of the block size.
        #[test]
        fn no_exact_house_number_leaks(
            number in 1u32..200_000,
            suffix in "(|-A|A| 1/2|-[0-9]{1,4})",
            street in "(N |S |E |W )?[A-Z0-9]{1,10}( [A-Z]{1,6}){0,3}",
            unit in "(| APT [0-9]{1,4}| # [A-Z]?[0-9]{1,3}|,MKE|; SOME PLACE;)",
        ) {
            let input = format!("{number}{suffix} {street}{unit}");
            if let Some(loc) = generalize(&parse(&input), BLOCKS) {
                let n = number.to_string();
                if number % 100 != 0 {
                    proptest::prop_assert!(
                        !loc.text.split(|c: char| !c.is_ascii_digit()).any(|t| t == n)
                            || street.split(|c: char| !c.is_ascii_digit()).any(|t| t == n),
                        "{input} -> {}", loc.text
                    );
                }
            }
        }
    }
}
