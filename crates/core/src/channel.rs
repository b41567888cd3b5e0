//! Channels: where a subscriber's alerts go besides the live streams. A browser's push
//! subscription (Web Push), a webhook, or an e-mail address; each checked here when it is
//! registered, so that a delivery fails only for reasons of the moment.

use serde::{Deserialize, Serialize};

/// Where alerts go. The strings are kept as the subscriber gave them, once checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Target {
    /// A browser's `PushSubscription`: its push service endpoint, and the keys the payload is
    /// encrypted to (RFC 8291), base64url as the browser gives them.
    #[serde(rename = "webpush")]
    WebPush { endpoint: String, p256dh: String, auth: String },
    /// A URL that receives each alert as a signed JSON POST.
    Webhook { url: String },
    /// An address that receives each alert, and the digest, by e-mail.
    Email { address: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    #[serde(rename = "webpush")]
    WebPush,
    Webhook,
    Email,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WebPush => "webpush",
            Self::Webhook => "webhook",
            Self::Email => "email",
        }
    }
}

/// Whether a channel takes deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Active,
    /// Failed for too long: new alerts go straight to the dead letters until the subscriber
    /// resumes it.
    Paused,
    /// The push service said the browser's subscription is gone (404 or 410); it takes nothing
    /// more.
    Gone,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Gone => "gone",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "paused" => Some(Self::Paused),
            "gone" => Some(Self::Gone),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTarget {
    #[error("{field}: {reason}")]
    Field { field: &'static str, reason: &'static str },
}

fn invalid(field: &'static str, reason: &'static str) -> InvalidTarget {
    InvalidTarget::Field { field, reason }
}

impl Target {
    pub fn kind(&self) -> Kind {
        match self {
            Self::WebPush { .. } => Kind::WebPush,
            Self::Webhook { .. } => Kind::Webhook,
            Self::Email { .. } => Kind::Email,
        }
    }

    /// Check every field; the error names the field and the reason.
    pub fn check(&self) -> Result<(), InvalidTarget> {
        match self {
            Self::WebPush { endpoint, p256dh, auth } => {
                check_url("endpoint", endpoint)?;
                let key = base64url("keys.p256dh", p256dh)?;
                if key.len() != 65 || key[0] != 4 {
                    return Err(invalid("keys.p256dh", "not an uncompressed P-256 public key (65 bytes)"));
                }
                if base64url("keys.auth", auth)?.len() != 16 {
                    return Err(invalid("keys.auth", "not a 16-byte authentication secret"));
                }
                Ok(())
            }
            Self::Webhook { url } => check_url("url", url),
            Self::Email { address } => check_address(address),
        }
    }
}

/// An absolute http or https URL with a host, and nothing that would let it name a user.
fn check_url(field: &'static str, text: &str) -> Result<(), InvalidTarget> {
    if text.len() > 2048 {
        return Err(invalid(field, "longer than 2048 characters"));
    }
    let url = url::Url::parse(text).map_err(|_| invalid(field, "not an absolute URL"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(invalid(field, "not an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(field, "has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(field, "carries a user name or password"));
    }
    Ok(())
}

/// The shape of an address (RFC 5321's limits, one `@`, a dotted domain, nothing that could
/// end a header line); whether it takes mail is for its server to say.
fn check_address(address: &str) -> Result<(), InvalidTarget> {
    const FIELD: &str = "address";
    if address.len() > 254 {
        return Err(invalid(FIELD, "longer than 254 characters"));
    }
    if address.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';')) {
        return Err(invalid(FIELD, "holds a space, a control character or a separator"));
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err(invalid(FIELD, "has no @"));
    };
    if local.is_empty() || local.len() > 64 || local.contains('@') {
        return Err(invalid(FIELD, "the part before the @ is empty, too long or holds another @"));
    }
    let labels_ok = domain
        .split('.')
        .all(|l| !l.is_empty() && !l.starts_with('-') && l.chars().all(|c| c.is_alphanumeric() || c == '-'));
    if !domain.contains('.') || !labels_ok {
        return Err(invalid(FIELD, "the domain is not a dotted host name"));
    }
    Ok(())
}

/// Decode unpadded (or padded) base64url, as browsers give push keys.
pub fn base64url(field: &'static str, text: &str) -> Result<Vec<u8>, InvalidTarget> {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).map_err(|_| invalid(field, "not base64url"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const P256DH: &str =
        "BLn9b-VR0ca83knDNZ32dCHGyjJp-1riX9ZTN40MqV8K_LpQmLqxC_DoHvqvFXO_nGdAB4W9dogZb_sM-uV4JbY";
    const AUTH: &str = "_ordMnz7uTCmrpBTeUV4Bw";

    fn push(endpoint: &str, p256dh: &str, auth: &str) -> Target {
        Target::WebPush { endpoint: endpoint.into(), p256dh: p256dh.into(), auth: auth.into() }
    }

    #[test]
    fn push_subscriptions_need_a_url_and_both_keys() {
        assert_eq!(push("https://push.example/abc", P256DH, AUTH).check(), Ok(()));
        let field = |t: Target| match t.check() {
            Err(InvalidTarget::Field { field, .. }) => field,
            Ok(()) => "ok",
        };
        assert_eq!(field(push("push.example/abc", P256DH, AUTH)), "endpoint");
        assert_eq!(field(push("ftp://push.example/abc", P256DH, AUTH)), "endpoint");
        assert_eq!(field(push("https://push.example/abc", &P256DH[..40], AUTH)), "keys.p256dh");
        assert_eq!(field(push("https://push.example/abc", "BL+9", AUTH)), "keys.p256dh");
        assert_eq!(field(push("https://push.example/abc", P256DH, &AUTH[..10])), "keys.auth");
    }

    #[test]
    fn base64url_matches_the_alphabet() {
        assert_eq!(base64url("x", "_ordMnz7uTCmrpBTeUV4Bw").unwrap().len(), 16);
        assert_eq!(base64url("x", "aGVsbG8").unwrap(), b"hello");
        assert_eq!(base64url("x", "aGVsbG8=").unwrap(), b"hello");
        assert!(base64url("x", "a").is_err());
    }

    #[test]
    fn webhooks_and_addresses() {
        assert!(Target::Webhook { url: "https://hooks.example/porchlight".into() }.check().is_ok());
        assert!(Target::Webhook { url: "https://user:pw@hooks.example/".into() }.check().is_err());
        for good in ["resident@example.org", "a.b+alerts@mail.example.co.uk"] {
            assert_eq!(Target::Email { address: good.into() }.check(), Ok(()), "{good}");
        }
        for bad in
            ["resident", "@example.org", "resident@localhost", "a b@example.org", "a@b.org\r\nBcc: x@y.z"]
        {
            assert!(Target::Email { address: bad.into() }.check().is_err(), "{bad}");
        }
    }
}
