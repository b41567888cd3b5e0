//! The push and webhook signature checks on arbitrary headers and bodies: never a panic,
//! never a forged signature accepted, and what was signed is always accepted.

#![no_main]

use libfuzzer_sys::fuzz_target;
use porchlight_core::signature::{push, webhook};

const NOW: i64 = 1_700_000_000;
const KEYS: [&[u8]; 2] = [b"old secret", b"new secret"];

fuzz_target!(|data: &[u8]| {
    // Timestamp, signature and body, split at the first two NUL bytes.
    let mut parts = data.splitn(3, |b| *b == 0);
    let (Some(timestamp), Some(signature), Some(body)) = (parts.next(), parts.next(), parts.next()) else { return };
    let (timestamp, signature) = (String::from_utf8_lossy(timestamp), String::from_utf8_lossy(signature));
    let pushed = push::verify(Some(&timestamp), Some(&signature), body, KEYS, NOW);
    if pushed.is_ok() {
        // Only a real signature of this body at this time passes.
        let seconds: i64 = timestamp.parse().unwrap();
        assert!(KEYS.iter().any(|k| push::sign(k, seconds, body).eq_ignore_ascii_case(&signature)));
    }
    let hooked = webhook::verify(KEYS[0], "msg_1", Some(&timestamp), Some(&signature), body, NOW);
    if hooked.is_ok() {
        let seconds: i64 = timestamp.parse().unwrap();
        assert!(signature.split(' ').any(|s| s == webhook::sign(KEYS[0], "msg_1", seconds, body)));
    }
    // What is signed passes, at any time within the window.
    let at = NOW - (body.len() as i64 % 300);
    let at_text = at.to_string();
    assert_eq!(push::verify(Some(&at_text), Some(&push::sign(KEYS[1], at, body)), body, KEYS, NOW), Ok(()));
    let signed = webhook::sign(KEYS[0], "msg_1", at, body);
    assert_eq!(webhook::verify(KEYS[0], "msg_1", Some(&at_text), Some(&signed), body, NOW), Ok(()));
});
