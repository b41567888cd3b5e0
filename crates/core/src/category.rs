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

/// How much a call of a category can matter to a neighbour. Subscriptions set a floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    #[default]
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Severity::Low, Severity::Medium, Severity::High]
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown severity {s:?} (low, medium or high)"))
    }
}

impl Category {
    /// The default severity of a call of this category: high where a neighbour may need to act
    /// (violence, weapons, fire, hazards), medium for property, suspicious and traffic calls,
    /// low for the rest.
    pub fn severity(self) -> Severity {
        match self {
            Category::Violent | Category::Weapons | Category::Fire | Category::Hazard => Severity::High,
            Category::Property | Category::Suspicious | Category::Traffic => Severity::Medium,
            _ => Severity::Low,
        }
    }

    /// Whether a call of this category can be alerted at all. Officers' own errands and call
    /// types no mapping rule recognised (`other`) are listed but never pushed to anyone; the
    /// sensitive categories are withheld before they could be.
    pub fn can_alert(self) -> bool {
        !matches!(self, Category::Administrative | Category::Other) && !self.is_sensitive()
    }

    /// What a resident should keep in mind about a call of this category: a call for service
    /// is a report, not a finding.
    pub fn context(self) -> &'static str {
        match self {
            Category::Violent | Category::Weapons => {
                "A call for service is a report to dispatch, not a confirmed crime; reports of violence \
                 and of shots are often unfounded or reclassified once officers arrive."
            }
            Category::Property => {
                "A call for service is a report, not a confirmed crime; many property calls are \
                 about something found after the fact."
            }
            Category::Suspicious => {
                "A call about something suspicious is one person's concern, not evidence of a crime."
            }
            Category::Disorder => {
                "A disturbance call is a report of noise or conflict, not a confirmed crime."
            }
            Category::Traffic => "A traffic call is about a collision, a hazard on the road or a stop.",
            Category::Fire | Category::Hazard => {
                "A report to dispatch: the situation may already be handled when you read this."
            }
            _ => "A call for service is a report to dispatch, not a confirmed crime.",
        }
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
    fn severities_and_what_can_alert() {
        assert_eq!(Category::Weapons.severity(), Severity::High);
        assert!(Severity::High > Severity::Medium && Severity::Medium > Severity::Low);
        assert!(Category::Disorder.can_alert());
        assert!(!Category::Other.can_alert() && !Category::Administrative.can_alert());
        assert!(!Category::Medical.can_alert());
        assert_eq!("high".parse::<Severity>(), Ok(Severity::High));
        assert!(Category::ALL.iter().all(|c| c.context().contains("report") || c.context().contains("call")));
    }

    #[test]
    fn names_round_trip() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>(), Ok(c));
        }
        assert!("burglary".parse::<Category>().is_err());
    }
}
