//! HMAC-SHA256 signatures on both sides of Porchlight: pushes from dispatch centres, which it
//! checks, and webhooks to subscribers, which it signs (and which a receiver checks with
//! [`webhook::verify`], as the Standard Webhooks specification says).

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How far a signed timestamp may be from now, either way: a replay older than this is refused.
pub const REPLAY_WINDOW_SECS: i64 = 300;

/// Why a signature was refused: each a distinct reason a sender can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the timestamp is missing")]
    MissingTimestamp,
    #[error("the signature is missing or not of the form the scheme names")]
    MissingSignature,
    #[error("the timestamp is not Unix seconds")]
    BadTimestamp,
    #[error("the timestamp is more than five minutes from now")]
    Stale,
    #[error("the signature is not hex")]
    NotHex,
    #[error("the signature does not match")]
    Mismatch,
}

fn mac(secret: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            mac.update(b".");
        }
        mac.update(part);
    }
    mac
}

fn fresh(timestamp: &str, now_secs: i64) -> Result<i64, SignatureError> {
    let seconds: i64 = timestamp.parse().map_err(|_| SignatureError::BadTimestamp)?;
    if now_secs.checked_sub(seconds).is_none_or(|d| d.checked_abs().is_none_or(|d| d > REPLAY_WINDOW_SECS)) {
        return Err(SignatureError::Stale);
    }
    Ok(seconds)
}

/// Pushes from a dispatch centre: `X-Porchlight-Timestamp` (Unix seconds) and
/// `X-Porchlight-Signature: v1=<hex>`, the HMAC-SHA256 of `<timestamp>.<body>` keyed with one of
/// the agency's live push keys (two are live while a key is rotated).
pub mod push {
    use super::*;

    /// The signature header's value for a body, as a dispatch centre sends it.
    pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
        let digest = mac(secret, &[timestamp.to_string().as_bytes(), body]).finalize().into_bytes();
        format!("v1={}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    /// Check a push's headers against the agency's live keys at `now_secs`. Compares in
    /// constant time.
    pub fn verify<'k>(
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        keys: impl IntoIterator<Item = &'k [u8]>,
        now_secs: i64,
    ) -> Result<(), SignatureError> {
        let timestamp = timestamp.ok_or(SignatureError::MissingTimestamp)?;
        let signature =
            signature.and_then(|s| s.strip_prefix("v1=")).ok_or(SignatureError::MissingSignature)?;
        fresh(timestamp, now_secs)?;
        let signature = decode_hex(signature).ok_or(SignatureError::NotHex)?;
        let signed_by_a_live_key = keys
            .into_iter()
            .any(|secret| mac(secret, &[timestamp.as_bytes(), body]).verify_slice(&signature).is_ok());
        if signed_by_a_live_key { Ok(()) } else { Err(SignatureError::Mismatch) }
    }

    fn decode_hex(s: &str) -> Option<Vec<u8>> {
        if !s.len().is_multiple_of(2) {
            return None;
        }
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
    }
}

/// Webhooks to subscribers, signed as the Standard Webhooks specification says
/// (<https://www.standardwebhooks.com>): `webhook-signature: v1,<base64>`, the HMAC-SHA256 of
/// `<webhook-id>.<webhook-timestamp>.<body>` keyed with the channel's secret.
pub mod webhook {
    use super::*;

    /// The `webhook-signature` value for a message.
    pub fn sign(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
        let digest =
            mac(secret, &[id.as_bytes(), timestamp.to_string().as_bytes(), body]).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(digest))
    }

    /// Check a webhook as a receiver should: a fresh timestamp, and one of the
    /// space-separated signatures (a sender rotating its secret sends several) of the `v1`
    /// scheme matching. Compares in constant time.
    pub fn verify(
        secret: &[u8],
        id: &str,
        timestamp: Option<&str>,
        signatures: Option<&str>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<(), SignatureError> {
        let timestamp = timestamp.ok_or(SignatureError::MissingTimestamp)?;
        let signatures = signatures.ok_or(SignatureError::MissingSignature)?;
        fresh(timestamp, now_secs)?;
        let mut any_v1 = false;
        for candidate in signatures.split(' ').filter_map(|s| s.strip_prefix("v1,")) {
            any_v1 = true;
            let Ok(candidate) = STANDARD.decode(candidate) else { continue };
            if mac(secret, &[id.as_bytes(), timestamp.as_bytes(), body]).verify_slice(&candidate).is_ok() {
                return Ok(());
            }
        }
        Err(if any_v1 { SignatureError::Mismatch } else { SignatureError::MissingSignature })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_are_checked_against_every_live_key_and_refused_for_each_reason() {
        let now = 1_700_000_000;
        let body = br#"{"records":[]}"#;
        let keys: [&[u8]; 2] = [b"old secret", b"new secret"];
        let ts = now.to_string();
        for secret in keys {
            let signature = push::sign(secret, now, body);
            assert_eq!(push::verify(Some(&ts), Some(&signature), body, keys, now), Ok(()));
        }
        let good = push::sign(b"new secret", now, body);
        let check = |ts: Option<&str>, sig: Option<&str>, body: &[u8]| push::verify(ts, sig, body, keys, now);
        assert_eq!(
            check(Some(&ts), Some(&push::sign(b"wrong", now, body)), body),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(check(Some(&ts), Some(&good), b"{}"), Err(SignatureError::Mismatch));
        let old = (now - 301).to_string();
        assert_eq!(
            check(Some(&old), Some(&push::sign(b"new secret", now - 301, body)), body),
            Err(SignatureError::Stale)
        );
        assert_eq!(check(None, Some(&good), body), Err(SignatureError::MissingTimestamp));
        assert_eq!(check(Some(&ts), None, body), Err(SignatureError::MissingSignature));
        assert_eq!(check(Some(&ts), Some("v2=00"), body), Err(SignatureError::MissingSignature));
        assert_eq!(check(Some("soon"), Some(&good), body), Err(SignatureError::BadTimestamp));
        assert_eq!(check(Some(&i64::MIN.to_string()), Some(&good), body), Err(SignatureError::Stale));
        assert_eq!(check(Some(&ts), Some("v1=zz"), body), Err(SignatureError::NotHex));
        assert_eq!(check(Some(&ts), Some("v1=é0"), body), Err(SignatureError::NotHex));
    }

    #[test]
    fn webhooks_verify_as_standard_webhooks_says() {
        // The specification's own example (standard-webhooks/spec, "Verifying webhooks").
        let secret = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        let signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(webhook::sign(&secret, id, 1_614_265_330, body), signature);
        let at = Some("1614265330");
        assert_eq!(webhook::verify(&secret, id, at, Some(signature), body, 1_614_265_330), Ok(()));
        // Among several, and not only the first.
        let several = format!("v1,bm90IHRoaXMgb25l {signature}");
        assert_eq!(webhook::verify(&secret, id, at, Some(&several), body, 1_614_265_330), Ok(()));
        assert_eq!(
            webhook::verify(&secret, id, at, Some(signature), b"{}", 1_614_265_330),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            webhook::verify(&secret, id, at, Some(signature), body, 1_614_265_330 + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            webhook::verify(&secret, id, at, Some("v1a,xyz"), body, 1_614_265_330),
            Err(SignatureError::MissingSignature)
        );
    }
}
