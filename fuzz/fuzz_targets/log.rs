//! The transparency log's verifier on arbitrary input: a signed head (JSON), entries (lines)
//! and proofs (32-byte chunks). Never a panic; an audit of a forged head reports a problem;
//! proofs of a real tree built from the entries verify, and the same proofs altered do not.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use porchlight_ledger::{
    Tree, audit, head::{LogKey, SignedHead, Signer, TreeHead}, leaf_hash, verify_consistency, verify_inclusion,
};

static SIGNER: LazyLock<Signer> = LazyLock::new(|| Signer::from_seed([7; 32]));
static KEY: LazyLock<LogKey> = LazyLock::new(|| SIGNER.public_key());

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.lines();
    let head_line = lines.next().unwrap_or_default();
    let entries: Vec<String> = lines.take(64).map(str::to_owned).collect();

    // Whatever head is served, the audit answers without panicking; a head it did not sign
    // is reported.
    if let Ok(head) = serde_json::from_str::<SignedHead>(head_line) {
        let problems = audit::check(&KEY, &head, &entries, None, None);
        let genuine = head.verify(&KEY).is_ok();
        assert!(genuine || !problems.is_empty(), "a forged head passed: {head_line}");
    }

    // A real tree of the entries: its proofs verify; a flipped bit in any of them does not.
    let mut tree = Tree::new();
    for e in &entries {
        tree.push(leaf_hash(e.as_bytes()));
    }
    let size = tree.len();
    if size == 0 {
        return;
    }
    let pick = |i: usize| u64::from(*data.get(i).unwrap_or(&0));
    let (index, old) = (pick(0) % size, 1 + pick(1) % size);
    let root = tree.root(size).unwrap();
    let proof = tree.inclusion_proof(index, size).unwrap();
    let leaf = tree.leaf(index).unwrap();
    assert!(verify_inclusion(&leaf, index, size, &proof, &root));
    let consistency = tree.consistency_proof(old, size).unwrap();
    let old_root = tree.root(old).unwrap();
    assert!(verify_consistency(old, size, &consistency, &old_root, &root));
    if let Some(first) = proof.first() {
        let mut bad = proof.clone();
        let mut hash = *first;
        hash[usize::try_from(pick(2)).unwrap() % 32] ^= 1;
        bad[0] = hash;
        assert!(!verify_inclusion(&leaf, index, size, &bad, &root));
    }
    // Proofs of arbitrary hashes, sizes and indexes: an answer, never a panic.
    let hashes: Vec<[u8; 32]> = data.chunks_exact(32).take(64).map(|c| c.try_into().unwrap()).collect();
    if let Some((first, rest)) = hashes.split_first() {
        let _ = verify_inclusion(first, pick(3), pick(4), rest, first);
        let _ = verify_consistency(pick(5), pick(6), rest, first, first);
    }
    // A head signed by the log's key verifies.
    let signed = SIGNER.sign(&TreeHead { size, timestamp: 1, root });
    assert!(signed.verify(&KEY).is_ok());
});
