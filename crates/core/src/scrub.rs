//! Free-text scrubbing: removing people from dispatch narratives before they are published.
//!
//! Used only where an agency's policy publishes free text at all (the default drops it). It
//! finds e-mail addresses, phone numbers, licence plates (including CAD shorthand such as
//! "L/8WKN551"), dates (of birth among them), house-number addresses, officers named after
//! their rank, and person names from a name list, and replaces each with a bracketed label.
//! Names come from lists the caller provides, so the core stays free of data files.

use std::{collections::HashSet, fmt, sync::LazyLock};

use regex::Regex;

/// What was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Email,
    Phone,
    Plate,
    Date,
    Address,
    Officer,
    Name,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Email => "[EMAIL]",
            Kind::Phone => "[PHONE]",
            Kind::Plate => "[PLATE]",
            Kind::Date => "[DATE]",
            Kind::Address => "[ADDRESS]",
            Kind::Officer => "[OFFICER]",
            Kind::Name => "[NAME]",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A span of the text (byte offsets, end exclusive) and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
}

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}").unwrap());
static PLATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:L|LIC|LP|PLATE|PLT|ID|DL|OLN|VIN)\s?[/#:]\s?[A-Z0-9]{2,17}\b|\b[0-9][A-Z]{3}[0-9]{3}\b",
    )
    .unwrap()
});
static DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\bDOB\s*[:/]?\s*\S+|\b(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?:19|20)?\d{2}\b|\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b|\b\d{4}-\d{1,2}-\d{1,2}\b|\b(?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)[A-Z]*\.?\s+\d{1,2},?\s+\d{4}\b",
    )
    .unwrap()
});
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)\s?)?(?:\(0\)\s?)?\d[\d\s.-]{4,}\d(?:\s?(?:x|ext\.?)\s?\d{1,5})?")
        .unwrap()
});
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b\d{1,6}[A-Z]?(?:-[A-Z0-9]{1,4})?\s+(?:[NSEW]\.?\s+)?(?:[A-Z0-9][A-Z0-9'.-]*\s+){0,3}(?:ST|STREET|AVE?|AVENUE|RD|ROAD|DR|DRIVE|BLVD|BL|BOULEVARD|LN|LANE|CT|COURT|PL|PLACE|WAY|HWY|HIGHWAY|CIR|CIRCLE|TER|TERRACE|PKWY|PARKWAY)\b\.?",
    )
    .unwrap()
});
static OFFICER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:OFC|OFCR|OFFICER|SGT|SERGEANT|CPL|DEP|DEPUTY|DET|DETECTIVE|LT|CAPT|CHIEF)\.?\s+[A-Z][A-Za-z'-]+").unwrap()
});
/// Dispatch shorthand for a person's record: "CITE/KLOECKL,JACK", "AP/SMITH, JOHN A", and
/// "LAST,FIRST" written without a space.
static CAD_PERSON: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:CITE|CITED|AP|ARR|ARREST|ARRESTED|BOOKED|SUSP|VICT?|WIT|RP|DRIVER|DRVR|OWNER|RO|SUBJ)\s*[/:]\s*([A-Z][A-Z'-]+\s*,\s*[A-Z][A-Z'-]+(?:\s+[A-Z]\b)?)|\b([A-Z][A-Z'-]+,[A-Z][A-Z'-]+)\b",
    )
    .unwrap()
});
/// Honorifics: the word after one is a name even when no list has it.
static TITLED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?i:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s+(\p{Lu}[\p{L}'-]+(?:\s+\p{Lu}(?:\.|\b))?(?:\s+\p{Lu}[\p{L}'-]+){0,2})")
            .unwrap()
});
/// In mixed-case text, a capitalized word (or an initial) right after a name is part of it:
/// "Cettina Fanucci", "Ruth R Montez".
static NAME_TAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:\s+\p{Lu}\.?(?:\s|$))?\s*\p{Lu}[\p{Ll}'’-]+").unwrap());
static WORD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\p{L}[\p{L}'’-]*").unwrap());

/// Common words that are also someone's name in a list ("WILL", "MAY", "WHITE"), and words of
/// dispatch narratives. Never taken for a name on their own.
const NOT_NAMES: &[&str] = &[
    "A",
    "ABOUT",
    "ACROSS",
    "AFTER",
    "AGAIN",
    "ALL",
    "ALSO",
    "AN",
    "AND",
    "ANY",
    "ARE",
    "AREA",
    "AS",
    "AT",
    "AWAY",
    "BACK",
    "BE",
    "BECAUSE",
    "BEEN",
    "BEFORE",
    "BEING",
    "BEST",
    "BETTER",
    "BIG",
    "BILL",
    "BLACK",
    "BLUE",
    "BOTH",
    "BROWN",
    "BUT",
    "BY",
    "CALL",
    "CALLED",
    "CALLER",
    "CAME",
    "CAN",
    "CAR",
    "CASE",
    "CHIEF",
    "CITY",
    "COLD",
    "COME",
    "COULD",
    "COURT",
    "DAY",
    "DID",
    "DO",
    "DOES",
    "DOOR",
    "DOWN",
    "EACH",
    "EAST",
    "EVEN",
    "EVER",
    "FAR",
    "FEW",
    "FIELD",
    "FIRST",
    "FOR",
    "FOUND",
    "FOX",
    "FREE",
    "FROM",
    "FRONT",
    "FULL",
    "GAVE",
    "GET",
    "GO",
    "GOLD",
    "GOOD",
    "GRAY",
    "GREAT",
    "GREEN",
    "GREY",
    "HAD",
    "HALL",
    "HAS",
    "HAVE",
    "HE",
    "HER",
    "HERE",
    "HIGH",
    "HILL",
    "HIM",
    "HIS",
    "HOME",
    "HOUSE",
    "HOW",
    "I",
    "IF",
    "IN",
    "INTO",
    "IS",
    "IT",
    "ITS",
    "JUST",
    "KEY",
    "KIND",
    "KING",
    "KNOW",
    "LAST",
    "LEFT",
    "LESS",
    "LIKE",
    "LINE",
    "LITTLE",
    "LONG",
    "LOT",
    "LOVE",
    "MADE",
    "MAIN",
    "MAKE",
    "MALE",
    "FEMALE",
    "MAN",
    "MANY",
    "MARK",
    "MAY",
    "ME",
    "MIGHT",
    "MILL",
    "MORE",
    "MOST",
    "MUCH",
    "MUST",
    "MY",
    "NEW",
    "NEXT",
    "NO",
    "NONE",
    "NORTH",
    "NOT",
    "NOW",
    "OF",
    "OFF",
    "OLD",
    "ON",
    "ONE",
    "ONLY",
    "OR",
    "OTHER",
    "OUR",
    "OUT",
    "OVER",
    "PARK",
    "PART",
    "PERSON",
    "PLACE",
    "POLICE",
    "POOL",
    "RED",
    "REPORT",
    "RIGHT",
    "RING",
    "ROAD",
    "ROCK",
    "ROSE",
    "SAID",
    "SAME",
    "SAW",
    "SAY",
    "SEE",
    "SHE",
    "SHORT",
    "SHOULD",
    "SIDE",
    "SMALL",
    "SO",
    "SOME",
    "SOUTH",
    "STATE",
    "STILL",
    "STONE",
    "STREET",
    "SUCH",
    "SUMMER",
    "TAKE",
    "THAN",
    "THAT",
    "THE",
    "THEIR",
    "THEM",
    "THEN",
    "THERE",
    "THESE",
    "THEY",
    "THIS",
    "THOSE",
    "THREE",
    "THROUGH",
    "TIME",
    "TO",
    "TOO",
    "TWO",
    "UNDER",
    "UNIT",
    "UP",
    "US",
    "USE",
    "VERY",
    "WALL",
    "WALKER",
    "WANT",
    "WAS",
    "WATER",
    "WAY",
    "WE",
    "WELL",
    "WENT",
    "WERE",
    "WEST",
    "WHAT",
    "WHEN",
    "WHERE",
    "WHICH",
    "WHILE",
    "WHITE",
    "WHO",
    "WHY",
    "WILL",
    "WINTER",
    "WITH",
    "WOOD",
    "WOULD",
    "YEAR",
    "YELLOW",
    "YES",
    "YET",
    "YOU",
    "YOUNG",
    "YOUR",
    "SUBJ",
    "SUBJECT",
    "SUSP",
    "VEH",
    "VEHICLE",
    "RP",
    "WM",
    "WF",
    "BM",
    "BF",
    "HM",
    "HF",
    "AM",
    "PM",
    "MACHETE",
    "GUN",
    "KNIFE",
    "TRANSIENT",
    "TRANSIENTS",
    "BIKE",
    "TRUCK",
    "SUV",
    "SEDAN",
    "VAN",
    "HISPANIC",
    "ASIAN",
    "ADULT",
    "JUVENILE",
    "JUV",
    "NO",
    "REPORT",
    "ADVISED",
    "CONTACTED",
    "CLEAR",
    "CLEARED",
    "LOCATED",
    "UNABLE",
    "LOCATE",
    "GONE",
    "ARRIVAL",
    "ON",
    "SCENE",
    "RESPONDED",
    "REQUEST",
    "REQUESTING",
    "REQ",
    "STATES",
    "STATED",
    "REPORTS",
    "REPORTING",
    "WEARING",
    "SHIRT",
    "JACKET",
    "PANTS",
    "HAT",
    "HOODIE",
    "TALL",
    "THIN",
    "HEAVY",
    "HAIR",
    "BEARD",
    "YELLING",
    "FIGHTING",
    "ARGUING",
    "DRUNK",
    "SLEEPING",
    "LYING",
    "SITTING",
    "STANDING",
    "WALKING",
    "RUNNING",
    "DRIVING",
    "PARKED",
    "BLOCKING",
    "DRIVEWAY",
    "LOT",
    "STORE",
    "BUSINESS",
    "RESIDENCE",
    "APARTMENT",
    "APT",
    "BLDG",
    "BUILDING",
    "HOSPITAL",
    "SCHOOL",
    "CHURCH",
    "BANK",
    "MOTEL",
    "HOTEL",
    "PARKING",
    "GARAGE",
    "YARD",
    "ALLEY",
    "BRIDGE",
    "CREEK",
];

/// A scrubber holding its name list.
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    names: HashSet<String>,
    /// Lower-case English words: a capitalized word in running text that is not one is taken
    /// for a name ("when they sang about Hobbits" loses "Hobbits" too, which is the safe side).
    words: HashSet<String>,
}

impl Scrubber {
    /// `names`: person names, one per item, in any case.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let stop: HashSet<&str> = NOT_NAMES.iter().copied().collect();
        let names = names
            .into_iter()
            .map(|n| n.trim().to_uppercase())
            .filter(|n| n.chars().count() >= 2 && !stop.contains(n.as_str()))
            .collect();
        Self { names, words: HashSet::new() }
    }

    /// Also take capitalized words of running text that are not in `words` (lower-case English
    /// words) for names.
    pub fn with_dictionary<'a>(mut self, words: impl IntoIterator<Item = &'a str>) -> Self {
        self.words = words.into_iter().map(|w| w.trim().to_lowercase()).filter(|w| !w.is_empty()).collect();
        self
    }

    /// A capitalized word that no dictionary knows, in the middle of a sentence.
    fn is_unknown_word(&self, word: &str) -> bool {
        if self.words.is_empty() || word.chars().count() < 2 {
            return false;
        }
        let lower = word.to_lowercase();
        let lower = lower.trim_end_matches(['\'', '’']).trim_end_matches("'s").trim_end_matches("’s");
        let known = |w: &str| self.words.contains(w);
        let stem_known = [
            ("ies", "y"),
            ("es", ""),
            ("s", ""),
            ("ed", ""),
            ("ed", "e"),
            ("ing", ""),
            ("ing", "e"),
            ("ly", ""),
        ]
        .iter()
        .any(|(suffix, add)| lower.strip_suffix(suffix).is_some_and(|stem| known(&format!("{stem}{add}"))));
        !known(lower) && !stem_known && !NOT_NAMES.contains(&lower.to_uppercase().as_str())
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Everything personal in `text`, in order, without overlaps (the first and longest wins).
    pub fn find(&self, text: &str) -> Vec<Found> {
        let mut found = Vec::new();
        let mut add = |re: &Regex, kind: Kind, check: &dyn Fn(&str) -> bool| {
            for m in re.find_iter(text) {
                if check(m.as_str()) {
                    found.push(Found { start: m.start(), end: m.end(), kind });
                }
            }
        };
        add(&EMAIL, Kind::Email, &|_| true);
        add(&PLATE, Kind::Plate, &|_| true);
        add(&DATE, Kind::Date, &|_| true);
        add(&ADDRESS, Kind::Address, &|_| true);
        add(&OFFICER, Kind::Officer, &|_| true);
        add(&PHONE, Kind::Phone, &|s| (7..=15).contains(&s.bytes().filter(u8::is_ascii_digit).count()));
        for c in CAD_PERSON.captures_iter(text) {
            let m = c.get(1).or(c.get(2)).expect("one group matches");
            found.push(Found { start: m.start(), end: m.end(), kind: Kind::Name });
        }
        for c in TITLED.captures_iter(text) {
            let m = c.get(1).expect("group 1");
            found.push(Found { start: m.start(), end: m.end(), kind: Kind::Name });
        }
        // In all-capital text (most dispatch narratives) capitals say nothing about names.
        let letters = text.chars().filter(|c| c.is_alphabetic());
        let (upper, total) =
            letters.fold((0usize, 0usize), |(u, t), c| (u + usize::from(c.is_uppercase()), t + 1));
        let all_caps = total > 0 && upper * 10 >= total * 9;
        // All lower case ("follow up with patricia desrosiers"): listed names that are not
        // English words.
        let all_lower = total > 0 && upper * 20 <= total;
        let words: Vec<regex::Match<'_>> = WORD.find_iter(text).collect();
        let mut names_at: Vec<Option<usize>> = vec![None; words.len()];
        for (i, m) in words.iter().enumerate() {
            let word = m.as_str();
            let capitalized = word.chars().next().is_some_and(char::is_uppercase);
            // An unknown capitalized word is a name even at the start of a sentence ("Shovda is
            // very reliable"): the words that begin sentences are in the dictionary.
            let unknown = !all_caps && capitalized && self.is_unknown_word(word);
            let lower_name = all_lower && self.is_name(word) && self.is_unknown_word(word);
            // In all-capital text a listed name that is also an English word ("WANT", "GREEN")
            // is taken for the word.
            // A word in capitals ("DID NOT WANT TO") is judged like all-capital text, whatever
            // the rest of the text looks like.
            let shouted = word.chars().count() >= 2 && word.chars().all(|c| !c.is_lowercase());
            let caps_name = (all_caps || shouted)
                && self.is_name(word)
                && (self.words.is_empty() || self.is_unknown_word(word));
            let mixed_name = !all_caps && !shouted && capitalized && (self.is_name(word) || unknown);
            if caps_name || mixed_name || lower_name {
                let mut end = m.end();
                if !all_caps && let Some(tail) = NAME_TAIL.find(&text[end..]) {
                    end += tail.end();
                }
                names_at[i] = Some(end);
            }
            // A capitalized unknown word that starts a sentence is a name when a name follows
            // it: "User: Šárka Ottová".
            if i > 0
                && names_at[i].is_some()
                && names_at[i - 1].is_none()
                && !all_caps
                && text[words[i - 1].end()..m.start()].trim().is_empty()
                && words[i - 1].as_str().chars().next().is_some_and(char::is_uppercase)
                && (self.is_unknown_word(words[i - 1].as_str()) || self.is_name(words[i - 1].as_str()))
            {
                names_at[i - 1] = Some(m.end());
            }
        }
        for (m, end) in words.iter().zip(&names_at) {
            if let Some(end) = end {
                found.push(Found { start: m.start(), end: *end, kind: Kind::Name });
            }
        }
        found.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        let mut merged: Vec<Found> = Vec::with_capacity(found.len());
        for f in found {
            match merged.last_mut() {
                Some(last) if f.start < last.end => last.end = last.end.max(f.end),
                _ => merged.push(f),
            }
        }
        merged
    }

    fn is_name(&self, word: &str) -> bool {
        let upper = word.to_uppercase();
        let trimmed = upper.trim_end_matches(['\'', '’', '-']).trim_end_matches("'S").trim_end_matches("’S");
        self.names.contains(trimmed) || trimmed.split('-').all(|part| self.names.contains(part))
    }

    /// `text` with everything found replaced by its label ("[NAME]", "[PHONE]", ...).
    pub fn scrub(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for f in self.find(text) {
            out.push_str(&text[at..f.start]);
            out.push_str(f.kind.label());
            at = f.end;
        }
        out.push_str(&text[at..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrubber() -> Scrubber {
        Scrubber::new(["Smith", "John", "Maria", "Garcia", "White", "Marx", "Ruth"])
    }

    #[test]
    fn removes_what_identifies_people() {
        let s = scrubber();
        let cases = [
            ("CALL JOHN SMITH AT 805-555-0142", "CALL [NAME] [NAME] AT [PHONE]"),
            ("RP STATES VEH L/8WKN551 BLOCKING DRIVEWAY", "RP STATES VEH [PLATE] BLOCKING DRIVEWAY"),
            ("SUBJ ID/2TAD627 DOB 04/12/1988", "SUBJ [PLATE] [DATE]"),
            ("CITE/SMITH, JOHN A 050288 PC647F", "CITE/[NAME] [DATE] PC647F"),
            ("CITE/KLOECKL,JACK 15 NO ALC CP", "CITE/[NAME] 15 NO ALC CP"),
            ("Write to maria.garcia@example.org or call (805) 555 0142", "Write to [EMAIL] or call [PHONE]"),
            ("WM IN WHITE SHIRT AT 2994 HIGUERA ST", "WM IN WHITE SHIRT AT [ADDRESS]"),
            ("OFC MARX ON SCENE", "[OFFICER] ON SCENE"),
            ("Dr. Cettina Fanucci called", "Dr. [NAME] called"),
            ("Signed, John Fenstermacher and Ruth R Montez", "Signed, [NAME] and [NAME]"),
            (
                "MALE YELLING AND TALKING TO HIMSELF W/ MACHETE UNDER HIS ARM",
                "MALE YELLING AND TALKING TO HIMSELF W/ MACHETE UNDER HIS ARM",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(s.scrub(input), want, "{input}");
        }
    }

    #[test]
    fn unknown_capitalized_words_in_running_text_are_names() {
        let s = Scrubber::new(["John"])
            .with_dictionary(["the", "account", "name", "on", "is", "what", "user", "my"]);
        assert_eq!(
            s.scrub("What's the name on the account? User: Šárka Ottová"),
            "What's the name on the account? User: [NAME]"
        );
        assert_eq!(s.scrub("My name is Rubija"), "My name is [NAME]");
        // The first word of a sentence is capitalized anyway: a known word stays.
        assert_eq!(s.scrub("Account is on"), "Account is on");
        assert_eq!(s.scrub("Shovda is on"), "[NAME] is on");
        let s = Scrubber::new(["Patricia", "Mark"])
            .with_dictionary(["follow", "up", "with", "mark", "the", "spot"]);
        assert_eq!(s.scrub("follow up with patricia desrosiers"), "follow up with [NAME] desrosiers");
        // In lower-case text a listed name that is also an English word is left alone.
        assert_eq!(s.scrub("mark the spot"), "mark the spot");
    }

    #[test]
    fn phones_in_many_national_forms() {
        let s = Scrubber::default();
        for phone in [
            "905-674-3793",
            "07700 063 966",
            "+46 (0)8 928 571 38",
            "03.93.92.16.85",
            "345-899-3560x4587",
            "+1-984-182-0190",
        ] {
            assert_eq!(s.scrub(&format!("tel {phone} ok")), "tel [PHONE] ok", "{phone}");
        }
        // Times and case numbers too short to be phones stay.
        assert_eq!(s.scrub("AT 07:08 CASE 2109"), "AT 07:08 CASE 2109");
    }

    #[test]
    fn multibyte_text_is_safe() {
        let s = Scrubber::new(["Željko", "Ström"]);
        assert_eq!(s.scrub("Željko and Emmie Ström ג€“ ok"), "[NAME] and Emmie [NAME] ג€“ ok");
    }
}
