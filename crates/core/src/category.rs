//! Porchlight's call categories: what kind of call this was, in words a resident understands.
//!
//! Agencies' own call types ("BATTERY DV", "TRBL W/SUBJ") are mapped onto these by each agency's
//! mapping file. Some categories are sensitive: by default the privacy stage withholds them.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Violent,
    Weapons,
    Property,
    Disorder,
    Traffic,
    Fire,
    Hazard,
    Suspicious,
    PublicService,
    Administrative,
    DomesticViolence,
    SexualOffense,
    ChildAbuse,
    ElderAbuse,
    Juvenile,
    Suicide,
    MentalHealth,
    Medical,
    Death,
    MissingPerson,
    WelfareCheck,
    Stalking,
    Other,
}

impl Category {
    pub const ALL: [Category; 23] = [
        Category::Violent,
        Category::Weapons,
        Category::Property,
        Category::Disorder,
        Category::Traffic,
        Category::Fire,
        Category::Hazard,
        Category::Suspicious,
        Category::PublicService,
        Category::Administrative,
        Category::DomesticViolence,
        Category::SexualOffense,
        Category::ChildAbuse,
        Category::ElderAbuse,
        Category::Juvenile,
        Category::Suicide,
        Category::MentalHealth,
        Category::Medical,
        Category::Death,
        Category::MissingPerson,
        Category::WelfareCheck,
        Category::Stalking,
        Category::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Violent => "violent",
            Category::Weapons => "weapons",
            Category::Property => "property",
            Category::Disorder => "disorder",
            Category::Traffic => "traffic",
            Category::Fire => "fire",
            Category::Hazard => "hazard",
            Category::Suspicious => "suspicious",
            Category::PublicService => "public_service",
            Category::Administrative => "administrative",
            Category::DomesticViolence => "domestic_violence",
            Category::SexualOffense => "sexual_offense",
            Category::ChildAbuse => "child_abuse",
            Category::ElderAbuse => "elder_abuse",
            Category::Juvenile => "juvenile",
            Category::Suicide => "suicide",
            Category::MentalHealth => "mental_health",
            Category::Medical => "medical",
            Category::Death => "death",
            Category::MissingPerson => "missing_person",
            Category::WelfareCheck => "welfare_check",
            Category::Stalking => "stalking",
            Category::Other => "other",
        }
    }

    /// Categories about a person's health, family, body or age: withheld by the default policy, and
    /// never accepted in a subscription filter.
    pub fn is_sensitive(self) -> bool {
        matches!(
            self,
            Category::DomesticViolence
                | Category::SexualOffense
                | Category::ChildAbuse
                | Category::ElderAbuse
                | Category::Juvenile
                | Category::Suicide
                | Category::MentalHealth
                | Category::Medical
                | Category::Death
                | Category::MissingPerson
                | Category::WelfareCheck
                | Category::Stalking
        )
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown category {0:?}")]
pub struct UnknownCategory(pub String);

impl FromStr for Category {
    type Err = UnknownCategory;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| UnknownCategory(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>(), Ok(c));
        }
        assert!("burglary".parse::<Category>().is_err());
    }
}
