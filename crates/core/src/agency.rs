//! Agency identifiers: short, URL-safe slugs chosen by the operator ("milwaukee", "seattle-pd").

use std::fmt;

/// A checked agency slug: 1 to 40 characters of lowercase ASCII letters, digits and dashes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct AgencyId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("agency id {0:?} must be 1 to 40 characters of a-z, 0-9 and '-'")]
pub struct InvalidAgencyId(pub String);

impl AgencyId {
    pub fn parse(s: &str) -> Result<Self, InvalidAgencyId> {
        let ok = !s.is_empty()
            && s.len() <= 40
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok { Ok(Self(s.to_owned())) } else { Err(InvalidAgencyId(s.to_owned())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgencyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_slugs_and_rejects_the_rest() {
        assert!(AgencyId::parse("milwaukee").is_ok());
        assert!(AgencyId::parse("seattle-pd-2").is_ok());
        assert!(AgencyId::parse("").is_err());
        assert!(AgencyId::parse("Milwaukee").is_err());
        assert!(AgencyId::parse("a/b").is_err());
        assert!(AgencyId::parse(&"a".repeat(41)).is_err());
    }
}
