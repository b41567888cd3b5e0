//! The portal's domain: roles, addresses, passwords, agency ids and token scopes, each checked
//! where it is made. No IO.

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};
use serde::{Deserialize, Serialize};

/// What an account may do. Camera owners are residents with cameras.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Resident,
    /// Posts requests for its agency, sees the clips shared with them.
    Officer,
    /// Manages its agency's officers and API tokens.
    AgencyAdmin,
    /// Approves or refuses requests.
    Moderator,
    /// Verifies agencies, appoints agency administrators and moderators.
    PlatformAdmin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Resident => "resident",
            Self::Officer => "officer",
            Self::AgencyAdmin => "agency_admin",
            Self::Moderator => "moderator",
            Self::PlatformAdmin => "platform_admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Resident, Self::Officer, Self::AgencyAdmin, Self::Moderator, Self::PlatformAdmin]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// Why a value was refused: the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    pub field: &'static str,
    pub reason: &'static str,
}

fn invalid(field: &'static str, reason: &'static str) -> Invalid {
    Invalid { field, reason }
}

/// An e-mail address, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let text = text.trim().to_lowercase();
        let ok = text.len() <= 254
            && !text.chars().any(|c| c.is_whitespace() || c.is_control())
            && text.rsplit_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            });
        if ok { Ok(Self(text)) } else { Err(invalid("email", "not an e-mail address")) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: what others see of an account.
pub fn display_name(text: &str) -> Result<String, Invalid> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 80 || text.chars().any(char::is_control) {
        return Err(invalid("display_name", "must be 1 to 80 characters, none of them control characters"));
    }
    Ok(text.to_owned())
}

/// The shortest password taken (NIST SP 800-63B asks for at least 8; a passphrase is better).
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Hash a new password with argon2id and a fresh random salt (a PHC string).
pub fn hash_password(password: &str) -> Result<String, Invalid> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(invalid("password", "must be at least 12 characters"));
    }
    if password.len() > 1024 {
        return Err(invalid("password", "must be at most 1024 bytes"));
    }
    Ok(Argon2::default()
        .hash_password(password.as_bytes())
        .expect("argon2id hashes any password")
        .to_string())
}

/// Whether `password` is the one `hash` was made from.
pub fn password_matches(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// An agency's id: lower-case letters, digits and hyphens, 2 to 40 of them.
pub fn agency_id(text: &str) -> Result<String, Invalid> {
    let ok = (2..=40).contains(&text.len())
        && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !text.starts_with('-');
    if ok {
        Ok(text.to_owned())
    } else {
        Err(invalid("id", "must be 2 to 40 lower-case letters, digits or hyphens"))
    }
}

/// What an agency's API token may do.
pub const SCOPES: [&str; 2] = ["requests:write", "clips:read"];

pub fn scopes(given: &[String]) -> Result<Vec<String>, Invalid> {
    if given.is_empty() || given.iter().any(|s| !SCOPES.contains(&s.as_str())) {
        return Err(invalid("scopes", "must be one or more of requests:write, clips:read"));
    }
    let mut scopes = given.to_vec();
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_argon2id_with_a_salt_each() {
        let a = hash_password("correct horse battery").unwrap();
        let b = hash_password("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$v=19$"), "{a}");
        assert_ne!(a, b, "a fresh salt each time");
        assert!(password_matches("correct horse battery", &a));
        assert!(!password_matches("correct horse batterY", &a));
        assert_eq!(hash_password("short").unwrap_err().field, "password");
    }

    #[test]
    fn fields_are_checked_by_name() {
        assert_eq!(Email::parse(" Officer@City.Example ").unwrap().as_str(), "officer@city.example");
        assert!(Email::parse("officer").is_err());
        assert!(agency_id("milwaukee-pd").is_ok());
        assert!(agency_id("Milwaukee PD").is_err());
        assert_eq!(scopes(&["clips:read".into(), "clips:read".into()]).unwrap(), vec!["clips:read"]);
        assert!(scopes(&["everything".into()]).is_err());
    }
}
