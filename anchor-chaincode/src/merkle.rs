//! An append-only Merkle log as defined by RFC 6962 §2.1 and RFC 9162 §2.1.
//!
//! # Hashes and byte layouts
//!
//! Every hash is SHA-256, 32 bytes, written [`Hash`](type@Hash).
//!
//! - Leaf hash: `SHA-256(0x00 || data)`, where `data` is the leaf's raw bytes.
//! - Interior node hash: `SHA-256(0x01 || left || right)`, where `left` and
//!   `right` are the two 32-byte child hashes.
//! - The root of the empty tree is `SHA-256("")`, the hash of zero bytes
//!   (`e3b0c442…b855`).
//!
//! The Merkle Tree Hash (MTH) of `n > 1` leaves `D[0..n]` splits at `k`, the
//! largest power of two strictly below `n`:
//! `MTH(D[0..n]) = node_hash(MTH(D[0..k]), MTH(D[k..n]))`, and the MTH of a
//! single leaf is its leaf hash. The tree is therefore left-heavy: every left
//! child is a complete subtree whose size is a power of two.
//!
//! # Proofs
//!
//! An inclusion proof is RFC 6962 `PATH(m, D[n])`: the sibling hashes from the
//! leaf up to the root, deepest first. A consistency proof is RFC 6962
//! `PROOF(m, D[n])`: the subtree hashes from which a verifier rebuilds both
//! the old root of size `m` and the new root of size `n`, deepest first. Both are lists
//! of 32-byte hashes with no further framing, and are verified with the
//! algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2.
//!
//! # Storage
//!
//! [`MerkleLog`] keeps every complete, aligned subtree: the hash at level `h`
//! and index `i` covers leaves `[i·2^h, (i+1)·2^h)`. Level 0 holds the leaf
//! hashes themselves. A push appends one leaf and completes at most one
//! subtree per level, which is amortised O(1) hash operations. Any root or
//! proof for any size up to the current one is then assembled from
//! O(log n) stored subtrees with O(log² n) hash operations at worst, never by
//! rehashing the leaves.
//!
//! Everything here is pure and deterministic: no I/O, no clock, no randomness,
//! and no panics on any input. Invalid arguments are reported as
//! [`ProofError`] and failed verifications as [`VerifyError`].

use sha2::{Digest, Sha256};
mod proof;
#[cfg(test)]
mod tests;
mod tree;

pub use proof::{verify_consistency, verify_inclusion};
pub use tree::MerkleLog;

/// A SHA-256 hash: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// The domain-separation prefix of a leaf hash.
const LEAF_PREFIX: u8 = 0x00;

/// The domain-separation prefix of an interior node hash.
const NODE_PREFIX: u8 = 0x01;

/// Hashes a leaf's data: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_PREFIX]);
    hasher.update(data);
    hasher.finalize().into()
}

/// Hashes two children into their parent: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([NODE_PREFIX]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// Returns the root of the empty tree: the SHA-256 hash of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest(b"").into()
}

/// Computes the Merkle Tree Hash over leaves that are already hashed.
///
/// This is meant for self-contained trees such as the transactions of one
/// block. It performs `n - 1` node hashes and keeps only O(log n) hashes in
/// memory. An empty slice gives [`empty_root`].
pub fn root_of(leaf_hashes: &[Hash]) -> Hash {
    // The stack holds the roots of complete subtrees with strictly decreasing
    // heights, exactly like the binary representation of the leaf count.
    let mut stack: Vec<(u32, Hash)> = Vec::new();
    for leaf in leaf_hashes {
        let mut height = 0;
        let mut hash = *leaf;
        while let Some(&(top_height, top_hash)) = stack.last() {
            if top_height != height {
                break;
            }
            stack.pop();
            hash = node_hash(&top_hash, &hash);
            height += 1;
        }
        stack.push((height, hash));
    }
    // The remaining subtrees are folded from the right, which is what the
    // recursive definition does with the incomplete right-hand side.
    let mut subtrees = stack.into_iter().rev();
    match subtrees.next() {
        None => empty_root(),
        Some((_, last)) => subtrees.fold(last, |acc, (_, left)| node_hash(&left, &acc)),
    }
}

/// Returns the largest power of two strictly below `n`.
///
/// The caller guarantees `n >= 2`; for smaller values the result is 1, which
/// callers never use.
fn split_point(n: u64) -> u64 {
    if n < 2 {
        return 1;
    }
    1 << (63 - (n - 1).leading_zeros())
}

/// Why a proof or root cannot be produced from a [`MerkleLog`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The requested tree size is larger than the log.
    #[error("tree size {size} exceeds the log size {log_size}")]
    SizeTooLarge {
        /// The requested tree size.
        size: u64,
        /// The number of leaves in the log.
        log_size: u64,
    },
    /// The leaf index is not inside the requested tree.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The requested tree size.
        size: u64,
    },
    /// The old tree of a consistency proof is larger than the new tree.
    #[error("old tree size {old_size} is greater than new tree size {new_size}")]
    SizesOutOfOrder {
        /// The requested old tree size.
        old_size: u64,
        /// The requested new tree size.
        new_size: u64,
    },
}

/// Why an inclusion or consistency proof does not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The claimed leaf index.
        index: u64,
        /// The claimed tree size.
        size: u64,
    },
    /// The old tree of a consistency proof is larger than the new tree.
    #[error("old tree size {old_size} is greater than new tree size {new_size}")]
    SizesOutOfOrder {
        /// The claimed old tree size.
        old_size: u64,
        /// The claimed new tree size.
        new_size: u64,
    },
    /// The proof does not have the number of hashes the sizes call for.
    #[error("proof has {got} hashes, expected {expected}")]
    WrongProofLength {
        /// The number of hashes in the proof.
        got: usize,
        /// The number of hashes a proof for these sizes must have.
        expected: usize,
    },
    /// The root rebuilt from an inclusion proof differs from the trusted root.
    #[error(
        "computed root {} does not match expected root {}",
        hex::encode(.computed),
        hex::encode(.expected)
    )]
    RootMismatch {
        /// The root rebuilt from the leaf and the proof.
        computed: Hash,
        /// The root the caller trusts.
        expected: Hash,
    },
    /// The old root rebuilt from a consistency proof differs from the trusted old root.
    #[error(
        "computed old root {} does not match expected old root {}",
        hex::encode(.computed),
        hex::encode(.expected)
    )]
    OldRootMismatch {
        /// The old root rebuilt from the proof (for an old size of 0, the empty root).
        computed: Hash,
        /// The old root the caller trusts.
        expected: Hash,
    },
    /// The new root rebuilt from a consistency proof differs from the trusted new root.
    #[error(
        "computed new root {} does not match expected new root {}",
        hex::encode(.computed),
        hex::encode(.expected)
    )]
    NewRootMismatch {
        /// The new root rebuilt from the proof.
        computed: Hash,
        /// The new root the caller trusts.
        expected: Hash,
    },
    /// Two roots claimed for the same tree size differ.
    #[error(
        "old root {} and new root {} differ although both are for tree size {size}",
        hex::encode(.old_root),
        hex::encode(.new_root)
    )]
    SameSizeRootsDiffer {
        /// The shared tree size.
        size: u64,
        /// The claimed old root.
        old_root: Hash,
        /// The claimed new root.
        new_root: Hash,
    },
}
