//! What an auditor checks, given what it downloaded: the head's signature, that the entries
//! hash to the signed root, that each entry is a canonical Porchlight entry, and, against the
//! head it saw last, that the log only grew (no shrinking, no rewritten prefix, no second head
//! for the same size, a consistency proof that verifies). No IO: `porchlight audit` fetches.

use serde::{Deserialize, Serialize};

use crate::entry::{Entry, canonical, time};
use crate::head::{HeadError, LogKey, SignedHead, TreeHead};
use crate::{Hash, Tree, leaf_hash, verify_consistency};

/// What an auditor keeps between runs: the key it trusts and the last head it verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub public_key: String,
    pub head: Option<SignedHead>,
}

/// Something wrong with the log. Each says what and where, in words an operator or a
/// journalist can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("the latest tree head is not validly signed: {0}")]
    Signature(HeadError),
    #[error("the head you saw at {at} (size {size}) is not validly signed by the key you trust: {error}")]
    SeenSignature { size: u64, at: String, error: HeadError },
    #[error("the log's head says {signed} entries, but it served {served}: entries were removed or withheld")]
    Count { signed: u64, served: u64 },
    #[error(
        "the {size} entries served do not hash to the root of the head signed at {at}: an entry was \
         changed, removed, inserted or reordered after the head was signed"
    )]
    Root { size: u64, at: String },
    #[error("entry {index} is not a Porchlight log entry: {reason}")]
    Entry { index: u64, reason: String },
    #[error("the log shrank: you saw {seen} entries at {at}, it now has {now}")]
    Shrunk { seen: u64, now: u64, at: String },
    #[error(
        "fork: two heads signed for size {size} with different roots ({seen_root} at {seen_at}, \
         {root} at {at}); keep both heads, they are the evidence"
    )]
    Fork { size: u64, seen_root: String, seen_at: String, root: String, at: String },
    #[error(
        "the first {size} entries no longer hash to the head you saw at {at}: the log was rewritten \
         after that head was signed"
    )]
    Rewritten { size: u64, at: String },
    #[error("the log's consistency proof from size {old} to {new} does not verify")]
    Consistency { old: u64, new: u64 },
}

fn at(timestamp_ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(timestamp_ms as i64)
        .map(time)
        .unwrap_or_else(|| timestamp_ms.to_string())
}

/// Check a download: `head` the log's latest signed head, `entries` its entries `0..`
/// as served, `seen` the head verified last time (if any) and `consistency` the log's proof
/// from `seen`'s size to `head`'s. Returns every problem found; none means the log is sound
/// as far as this auditor can see.
pub fn check(
    key: &LogKey,
    head: &SignedHead,
    entries: &[String],
    seen: Option<&SignedHead>,
    consistency: Option<&[Hash]>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let new = match head.verify(key) {
        Ok(h) => h,
        Err(e) => {
            problems.push(Problem::Signature(e));
            return problems;
        }
    };
    let mut tree = Tree::new();
    for (index, text) in entries.iter().enumerate() {
        tree.push(leaf_hash(text.as_bytes()));
        if let Some(reason) = entry_problem(text) {
            problems.push(Problem::Entry { index: index as u64, reason });
        }
    }
    if tree.len() != new.size {
        problems.push(Problem::Count { signed: new.size, served: tree.len() });
    }
    if tree.root(new.size).is_some_and(|r| r != new.root) {
        problems.push(Problem::Root { size: new.size, at: at(new.timestamp) });
    }
    let Some(seen) = seen else { return problems };
    let old: TreeHead = match seen.verify(key) {
        Ok(h) => h,
        Err(error) => {
            problems.push(Problem::SeenSignature { size: seen.tree_size, at: at(seen.timestamp), error });
            return problems;
        }
    };
    if new.size < old.size {
        problems.push(Problem::Shrunk { seen: old.size, now: new.size, at: at(old.timestamp) });
        return problems;
    }
    if new.size == old.size && new.root != old.root {
        problems.push(Problem::Fork {
            size: new.size,
            seen_root: seen.sha256_root_hash.clone(),
            seen_at: at(old.timestamp),
            root: head.sha256_root_hash.clone(),
            at: at(new.timestamp),
        });
    }
    if tree.root(old.size).is_some_and(|r| r != old.root) && new.size != old.size {
        problems.push(Problem::Rewritten { size: old.size, at: at(old.timestamp) });
    }
    if let Some(proof) = consistency
        && !verify_consistency(old.size, new.size, proof, &old.root, &new.root)
    {
        problems.push(Problem::Consistency { old: old.size, new: new.size });
    }
    problems
}

/// Why an entry's text is not a canonical Porchlight entry, if it is not.
fn entry_problem(text: &str) -> Option<String> {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Some(format!("not JSON ({e})")),
    };
    if let Err(e) = serde_json::from_value::<Entry>(value.clone()) {
        return Some(format!("not a known kind of entry ({e})"));
    }
    (canonical(&value) != text).then(|| "not in canonical form".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::Signer;

    fn log(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                Entry::RequestCreated {
                    at: "2026-11-01T00:00:00Z".into(),
                    request: format!("r{i}"),
                    agency: "mpd".into(),
                }
                .to_canonical()
            })
            .collect()
    }

    fn head(signer: &Signer, entries: &[String], timestamp: u64) -> SignedHead {
        let mut tree = Tree::new();
        for e in entries {
            tree.push(leaf_hash(e.as_bytes()));
        }
        signer.sign(&TreeHead { size: tree.len(), timestamp, root: tree.root(tree.len()).unwrap() })
    }

    #[test]
    fn a_sound_log_that_grew_has_no_problems() {
        let signer = Signer::from_seed([1; 32]);
        let key = signer.public_key();
        let entries = log(13);
        let old = head(&signer, &entries[..5], 1);
        let new = head(&signer, &entries, 2);
        let mut tree = Tree::new();
        entries.iter().for_each(|e| tree.push(leaf_hash(e.as_bytes())));
        let proof = tree.consistency_proof(5, 13).unwrap();
        assert_eq!(check(&key, &new, &entries, Some(&old), Some(&proof)), vec![]);
        assert_eq!(check(&key, &new, &entries, None, None), vec![]);
    }

    #[test]
    fn edits_removals_reorders_forks_and_foreign_keys_are_each_named() {
        let signer = Signer::from_seed([1; 32]);
        let key = signer.public_key();
        let entries = log(9);
        let signed = head(&signer, &entries, 1);

        let mut edited = entries.clone();
        edited[4] = edited[4].replace("r4", "r5");
        assert_eq!(check(&key, &signed, &edited, None, None), vec![Problem::Root { size: 9, at: at(1) }]);

        let mut removed = entries.clone();
        removed.remove(3);
        let problems = check(&key, &signed, &removed, None, None);
        assert!(problems.contains(&Problem::Count { signed: 9, served: 8 }), "{problems:?}");

        let mut reordered = entries.clone();
        reordered.swap(1, 2);
        assert_eq!(check(&key, &signed, &reordered, None, None), vec![Problem::Root { size: 9, at: at(1) }]);

        let mut garbled = entries.clone();
        garbled[0] = garbled[0].replace(",", ", ");
        let problems = check(&key, &head(&signer, &garbled, 1), &garbled, None, None);
        assert!(matches!(problems.as_slice(), [Problem::Entry { index: 0, .. }]), "{problems:?}");

        // The operator signs a second head for the same size over rewritten entries.
        let forked = head(&signer, &edited, 2);
        let problems = check(&key, &forked, &edited, Some(&signed), None);
        assert!(matches!(problems.as_slice(), [Problem::Fork { size: 9, .. }]), "{problems:?}");

        // The log grows over a rewritten prefix.
        let mut grown = edited.clone();
        grown.extend(log(3));
        let problems = check(&key, &head(&signer, &grown, 3), &grown, Some(&signed), None);
        assert_eq!(problems, vec![Problem::Rewritten { size: 9, at: at(1) }]);

        let shrunk = head(&signer, &entries[..4], 4);
        let problems = check(&key, &shrunk, &entries[..4], Some(&signed), None);
        assert_eq!(problems, vec![Problem::Shrunk { seen: 9, now: 4, at: at(1) }]);

        let other = Signer::from_seed([2; 32]);
        let problems = check(&key, &head(&other, &entries, 5), &entries, None, None);
        assert_eq!(problems, vec![Problem::Signature(HeadError::Signature)]);
    }
}
