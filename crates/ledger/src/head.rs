//! Signed tree heads: the log's size, time and root, signed with the operator's Ed25519 key
//! over the bytes RFC 6962 section 3.5 defines for a tree head (`TreeHeadSignature`: version
//! v1, signature type `tree_hash`, timestamp, tree size, root), so that a head signed once
//! binds the operator to every entry below it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_compact::{KeyPair, PublicKey, Seed, Signature};
use serde::{Deserialize, Serialize};

use crate::Hash;

/// A tree head before signing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    pub size: u64,
    /// Milliseconds since the Unix epoch, as CT's timestamps.
    pub timestamp: u64,
    pub root: Hash,
}

impl TreeHead {
    /// The signed bytes: `TreeHeadSignature` of RFC 6962 section 3.5.
    pub fn to_be_signed(&self) -> [u8; 50] {
        let mut out = [0u8; 50];
        out[0] = 0; // version v1
        out[1] = 1; // signature_type tree_hash
        out[2..10].copy_from_slice(&self.timestamp.to_be_bytes());
        out[10..18].copy_from_slice(&self.size.to_be_bytes());
        out[18..50].copy_from_slice(&self.root);
        out
    }
}

/// A tree head and its signature, in the JSON of CT's `get-sth`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedHead {
    pub tree_size: u64,
    pub timestamp: u64,
    /// Base64.
    pub sha256_root_hash: String,
    /// Base64 of the 64-byte Ed25519 signature.
    pub tree_head_signature: String,
}

/// What is wrong with a signed head.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("the root hash is not 32 bytes of base64")]
    Root,
    #[error("the signature is not 64 bytes of base64")]
    SignatureForm,
    #[error("the signature does not verify with the log's public key")]
    Signature,
    #[error("the public key is not 32 bytes of base64")]
    Key,
}

impl SignedHead {
    pub fn head(&self) -> Result<TreeHead, HeadError> {
        let root = B64.decode(&self.sha256_root_hash).map_err(|_| HeadError::Root)?;
        let root: Hash = root.try_into().map_err(|_| HeadError::Root)?;
        Ok(TreeHead { size: self.tree_size, timestamp: self.timestamp, root })
    }

    /// The head, if its signature is the key's.
    pub fn verify(&self, key: &LogKey) -> Result<TreeHead, HeadError> {
        let head = self.head()?;
        let signature = B64.decode(&self.tree_head_signature).map_err(|_| HeadError::SignatureForm)?;
        let signature = Signature::from_slice(&signature).map_err(|_| HeadError::SignatureForm)?;
        key.0.verify(head.to_be_signed(), &signature).map_err(|_| HeadError::Signature)?;
        Ok(head)
    }
}

/// The log's public key, as auditors pin it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogKey(PublicKey);

impl LogKey {
    pub fn parse(base64: &str) -> Result<Self, HeadError> {
        let bytes = B64.decode(base64.trim()).map_err(|_| HeadError::Key)?;
        PublicKey::from_slice(&bytes).map(Self).map_err(|_| HeadError::Key)
    }

    pub fn to_base64(&self) -> String {
        B64.encode(self.0.as_ref())
    }
}

/// The operator's signing key. Its file holds the base64 of the 32-byte Ed25519 seed.
pub struct Signer(KeyPair);

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Signer").field(&self.public_key().to_base64()).finish()
    }
}

impl Signer {
    /// A new key from 32 random bytes.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(KeyPair::from_seed(Seed::new(seed)))
    }

    /// Read a key file's text.
    pub fn parse(text: &str) -> Result<Self, HeadError> {
        let bytes = B64.decode(text.trim()).map_err(|_| HeadError::Key)?;
        let seed: [u8; 32] = bytes.try_into().map_err(|_| HeadError::Key)?;
        Ok(Self::from_seed(seed))
    }

    /// The key file's text.
    pub fn to_file_text(&self) -> String {
        format!("{}\n", B64.encode(self.0.sk.seed().as_ref()))
    }

    pub fn public_key(&self) -> LogKey {
        LogKey(self.0.pk)
    }

    pub fn sign(&self, head: &TreeHead) -> SignedHead {
        let signature = self.0.sk.sign(head.to_be_signed(), None);
        SignedHead {
            tree_size: head.size,
            timestamp: head.timestamp,
            sha256_root_hash: B64.encode(head.root),
            tree_head_signature: B64.encode(signature.as_ref()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_verifies_with_its_key_and_no_other_and_not_once_changed() {
        let signer = Signer::from_seed([7; 32]);
        let head = TreeHead { size: 3, timestamp: 1_800_000_000_000, root: [9; 32] };
        let signed = signer.sign(&head);
        assert_eq!(signed.verify(&signer.public_key()), Ok(head));
        let other = Signer::from_seed([8; 32]).public_key();
        assert_eq!(signed.verify(&other), Err(HeadError::Signature));
        for changed in [
            SignedHead { tree_size: 4, ..signed.clone() },
            SignedHead { timestamp: 1, ..signed.clone() },
            SignedHead { sha256_root_hash: B64.encode([8u8; 32]), ..signed.clone() },
        ] {
            assert_eq!(changed.verify(&signer.public_key()), Err(HeadError::Signature));
        }
        let reread = Signer::parse(&signer.to_file_text()).unwrap();
        assert_eq!(reread.public_key(), signer.public_key());
        assert_eq!(LogKey::parse(&signer.public_key().to_base64()), Ok(signer.public_key()));
    }

    #[test]
    fn the_signed_bytes_are_rfc_6962s_tree_head_signature() {
        let head = TreeHead { size: 0x0102, timestamp: 0x0a0b, root: [0xee; 32] };
        let bytes = head.to_be_signed();
        assert_eq!(&bytes[..2], &[0, 1]);
        assert_eq!(&bytes[2..10], &[0, 0, 0, 0, 0, 0, 0x0a, 0x0b]);
        assert_eq!(&bytes[10..18], &[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(&bytes[18..], &[0xee; 32]);
    }
}
