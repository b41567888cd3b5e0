//! The transparency log's tree (issue 9): entries hashed into a Merkle tree exactly as
//! Certificate Transparency does it (RFC 6962 section 2.1, RFC 9162 section 2.1), so that
//! anyone can check that an entry is in the log (an inclusion proof) and that the log only
//! grew between two sizes (a consistency proof), with any CT tooling or with
//! [`verify_inclusion`] and [`verify_consistency`] here.
//!
//! Around the tree: [`entry`] (what the log records, in canonical JSON), [`head`] (signed
//! tree heads, Ed25519), [`db`] (the log in its own SQLite file), [`api`] (CT-style HTTP
//! endpoints and the transparency report), [`report`] and [`audit`] (what an auditor
//! checks). The tree, entries, heads, report and audit do no IO.

pub mod api;
pub mod audit;
pub mod db;
pub mod entry;
pub mod head;
pub mod report;

pub use db::{Ledger, LedgerError};

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The hash of an entry: SHA-256(0x00 || entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// The hash of an inner node: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two smaller than `n` (n > 1).
fn split(n: u64) -> u64 {
    debug_assert!(n > 1);
    1 << (63 - (n - 1).leading_zeros())
}

/// A log's leaf hashes, with the hashes of every complete, aligned subtree kept level by
/// level, so that a root or a proof costs O(log² n) hashes at most.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// `levels[l][i]`: the hash of leaves `i·2^l .. (i+1)·2^l`.
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    pub fn new() -> Self {
        Self { levels: vec![Vec::new()] }
    }

    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entry `index`'s leaf hash.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.levels.first()?.get(usize::try_from(index).ok()?).copied()
    }

    /// Append an entry's leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        let mut level = 0;
        // Each completed pair makes a node one level up.
        while self.levels[level].len().is_multiple_of(2) {
            let n = self.levels[level].len();
            let node = node_hash(&self.levels[level][n - 2], &self.levels[level][n - 1]);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(node);
            level += 1;
        }
    }

    /// MTH(D[start..end]) for a range the proofs ask for: `start` is a multiple of the
    /// largest power of two not above `end - start`.
    fn subtree(&self, start: u64, end: u64) -> Hash {
        let n = end - start;
        if n == 0 {
            return empty_root();
        }
        if n.is_power_of_two() {
            let level = n.trailing_zeros() as usize;
            return self.levels[level][(start >> level) as usize];
        }
        let k = split(n);
        node_hash(&self.subtree(start, start + k), &self.subtree(start + k, end))
    }

    /// The root of the first `size` entries (MTH(D[0..size])).
    pub fn root(&self, size: u64) -> Option<Hash> {
        (size <= self.len()).then(|| self.subtree(0, size))
    }

    /// The audit path of entry `index` in the tree of the first `size` entries (RFC 6962
    /// PATH(m, D[n])), leaf side first.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Option<Vec<Hash>> {
        if index >= size || size > self.len() {
            return None;
        }
        let mut proof = Vec::new();
        self.path(index, 0, size, &mut proof);
        Some(proof)
    }

    fn path(&self, m: u64, start: u64, end: u64, out: &mut Vec<Hash>) {
        let n = end - start;
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            self.path(m, start, start + k, out);
            out.push(self.subtree(start + k, end));
        } else {
            self.path(m - k, start + k, end, out);
            out.push(self.subtree(start, start + k));
        }
    }

    /// The proof that the tree of `old` entries is a prefix of the tree of `new` entries
    /// (RFC 6962 PROOF(m, D[n])).
    pub fn consistency_proof(&self, old: u64, new: u64) -> Option<Vec<Hash>> {
        if old > new || new > self.len() {
            return None;
        }
        let mut proof = Vec::new();
        if old > 0 && old < new {
            self.subproof(old, 0, new, true, &mut proof);
        }
        Some(proof)
    }

    fn subproof(&self, m: u64, start: u64, end: u64, whole: bool, out: &mut Vec<Hash>) {
        let n = end - start;
        if m == n {
            if !whole {
                out.push(self.subtree(start, end));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, start, start + k, whole, out);
            out.push(self.subtree(start + k, end));
        } else {
            self.subproof(m - k, start + k, end, false, out);
            out.push(self.subtree(start, start + k));
        }
    }
}

/// Check an inclusion proof (RFC 9162 section 2.1.3.2): that `leaf` is entry `index` of the
/// tree of `size` entries whose root is `root`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// Check a consistency proof (RFC 9162 section 2.1.4.2): that the tree of `old` entries with
/// root `old_root` is a prefix of the tree of `new` entries with root `new_root`.
pub fn verify_consistency(old: u64, new: u64, proof: &[Hash], old_root: &Hash, new_root: &Hash) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        return proof.is_empty();
    }
    let mut proof = proof.to_vec();
    if old.is_power_of_two() {
        proof.insert(0, *old_root);
    }
    let Some((first, rest)) = proof.split_first() else { return false };
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && fr == *old_root && sr == *new_root
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// RFC 6962's definitions, word for word, over the entries themselves: the reference the
    /// tree is checked against.
    mod rfc {
        use super::super::{Hash, empty_root, leaf_hash, node_hash, split};

        pub fn mth(d: &[Vec<u8>]) -> Hash {
            match d.len() {
                0 => empty_root(),
                1 => leaf_hash(&d[0]),
                n => {
                    let k = split(n as u64) as usize;
                    node_hash(&mth(&d[..k]), &mth(&d[k..]))
                }
            }
        }

        pub fn path(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
            let n = d.len();
            if n <= 1 {
                return Vec::new();
            }
            let k = split(n as u64) as usize;
            if m < k {
                let mut p = path(m, &d[..k]);
                p.push(mth(&d[k..]));
                p
            } else {
                let mut p = path(m - k, &d[k..]);
                p.push(mth(&d[..k]));
                p
            }
        }

        pub fn proof(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
            if m == 0 || m == d.len() { Vec::new() } else { subproof(m, d, true) }
        }

        fn subproof(m: usize, d: &[Vec<u8>], b: bool) -> Vec<Hash> {
            let n = d.len();
            if m == n {
                return if b { Vec::new() } else { vec![mth(d)] };
            }
            let k = split(n as u64) as usize;
            if m <= k {
                let mut p = subproof(m, &d[..k], b);
                p.push(mth(&d[k..]));
                p
            } else {
                let mut p = subproof(m - k, &d[k..], false);
                p.push(mth(&d[..k]));
                p
            }
        }
    }

    fn entries(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("{{\"entry\":{i}}}").into_bytes()).collect()
    }

    fn tree(d: &[Vec<u8>]) -> Tree {
        let mut t = Tree::new();
        for e in d {
            t.push(leaf_hash(e));
        }
        t
    }

    /// Every size up to 70 (powers of two and not), every entry, every older size: roots,
    /// paths and proofs equal RFC 6962's definitions, and verify.
    #[test]
    fn roots_paths_and_proofs_follow_rfc_6962_for_every_size() {
        let d = entries(70);
        let t = tree(&d);
        assert_eq!(t.root(0), Some(empty_root()));
        for n in 1..=d.len() {
            let root = rfc::mth(&d[..n]);
            assert_eq!(t.root(n as u64), Some(root), "root of {n}");
            for m in 0..n {
                let path = t.inclusion_proof(m as u64, n as u64).unwrap();
                assert_eq!(path, rfc::path(m, &d[..n]), "path {m} of {n}");
                assert!(verify_inclusion(&leaf_hash(&d[m]), m as u64, n as u64, &path, &root), "{m} in {n}");
            }
            for m in 0..=n {
                let proof = t.consistency_proof(m as u64, n as u64).unwrap();
                assert_eq!(proof, rfc::proof(m, &d[..n]), "proof {m} -> {n}");
                let old = rfc::mth(&d[..m]);
                assert!(verify_consistency(m as u64, n as u64, &proof, &old, &root), "{m} -> {n}");
            }
        }
    }

    /// The known answer of the empty tree and a one-entry tree (RFC 6962 section 2.1).
    #[test]
    fn the_empty_tree_and_a_leaf_hash_as_the_rfc_says() {
        assert_eq!(
            empty_root().iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // SHA-256 of the single byte 0x00: the leaf hash of an empty entry.
        assert_eq!(
            leaf_hash(b"").iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    proptest! {
        /// A proof checked against anything else fails: another entry, index, size or root.
        #[test]
        fn tampering_is_caught(n in 2usize..200, m_frac in 0.0f64..1.0, old_frac in 0.0f64..1.0, flip in 0usize..32) {
            let d = entries(n);
            let t = tree(&d);
            let m = ((n as f64) * m_frac) as usize % n;
            let root = t.root(n as u64).unwrap();
            let path = t.inclusion_proof(m as u64, n as u64).unwrap();
            let mut bad_leaf = leaf_hash(&d[m]);
            bad_leaf[flip] ^= 1;
            prop_assert!(!verify_inclusion(&bad_leaf, m as u64, n as u64, &path, &root));
            prop_assert!(!verify_inclusion(&leaf_hash(&d[(m + 1) % n]), m as u64, n as u64, &path, &root));
            let mut bad_root = root;
            bad_root[flip] ^= 1;
            prop_assert!(!verify_inclusion(&leaf_hash(&d[m]), m as u64, n as u64, &path, &bad_root));
            if !path.is_empty() {
                let mut bad_path = path.clone();
                bad_path[flip % path.len()][flip] ^= 1;
                prop_assert!(!verify_inclusion(&leaf_hash(&d[m]), m as u64, n as u64, &bad_path, &root));
            }
            let old = 1 + ((n - 1) as f64 * old_frac) as usize % (n - 1);
            let proof = t.consistency_proof(old as u64, n as u64).unwrap();
            let old_root = t.root(old as u64).unwrap();
            prop_assert!(verify_consistency(old as u64, n as u64, &proof, &old_root, &root));
            // A forked history: the same old size with another entry in it.
            let mut forked = d.clone();
            forked[old - 1] = b"something else".to_vec();
            let forked_root = tree(&forked).root(old as u64).unwrap();
            prop_assert!(!verify_consistency(old as u64, n as u64, &proof, &forked_root, &root));
            prop_assert!(!verify_consistency(old as u64, n as u64, &proof, &old_root, &bad_root));
        }
    }
}
