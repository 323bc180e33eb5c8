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

/// An append-only RFC 6962 Merkle log that can prove inclusion and
/// consistency for any tree size up to its current size.
///
/// The log stores every complete, aligned subtree hash (see the module
/// documentation), which costs about two hashes, 64 bytes, per leaf.
#[derive(Clone, Debug, Default)]
pub struct MerkleLog {
    /// `levels[h][i]` is the hash of leaves `[i·2^h, (i+1)·2^h)`.
    ///
    /// Level 0 holds the leaf hashes. Invariant: for every `h`,
    /// `levels[h].len() == size >> h`, and no level is empty except level 0
    /// of the empty log. Levels are only ever appended to.
    levels: Vec<Vec<Hash>>,
}

impl MerkleLog {
    /// Creates an empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an already-hashed leaf (see [`leaf_hash`]) and returns its index.
    ///
    /// This completes at most one subtree per level, so it costs amortised
    /// O(1) hash operations.
    pub fn push(&mut self, leaf_hash: Hash) -> u64 {
        let index = self.size();
        let mut level = 0;
        let mut hash = leaf_hash;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let nodes = &mut self.levels[level];
            nodes.push(hash);
            // A node with an odd index completes its parent, whose left child
            // is the node just before it.
            let len = nodes.len();
            if len % 2 == 1 {
                break;
            }
            hash = node_hash(&nodes[len - 2], &nodes[len - 1]);
            level += 1;
        }
        index
    }

    /// Returns the number of leaves in the log.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// Returns the leaf hash at `index`, or `None` if the log is not that long.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        let index = usize::try_from(index).ok()?;
        self.levels.first()?.get(index).copied()
    }

    /// Returns the root of the whole log, in O(log n) hash operations.
    pub fn root(&self) -> Hash {
        self.range_root(0, self.size())
    }

    /// Returns the root of the tree made of the first `size` leaves.
    ///
    /// Any size from 0 (the [`empty_root`]) to [`MerkleLog::size`] works.
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError> {
        self.check_size(size)?;
        Ok(self.range_root(0, size))
    }

    /// Returns the inclusion proof of leaf `index` in the tree of the first
    /// `size` leaves: RFC 6962 `PATH(index, D[0..size])`, deepest hash first.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(size)?;
        if index >= size {
            return Err(ProofError::IndexOutOfRange { index, size });
        }
        // Walk from the root down to the leaf, collecting each sibling; the
        // proof lists them from the leaf up, so they are reversed at the end.
        let mut siblings = Vec::new();
        let (mut start, mut end, mut m) = (0, size, index);
        while end - start > 1 {
            let k = split_point(end - start);
            if m < k {
                siblings.push(self.range_root(start + k, end));
                end = start + k;
            } else {
                siblings.push(self.range_root(start, start + k));
                start += k;
                m -= k;
            }
        }
        siblings.reverse();
        Ok(siblings)
    }

    /// Returns the consistency proof from the tree of the first `old_size`
    /// leaves to the tree of the first `new_size` leaves: RFC 6962
    /// `PROOF(old_size, D[0..new_size])`, deepest hash first.
    ///
    /// The proof is empty when `old_size` is 0 or equals `new_size`.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(new_size)?;
        if old_size > new_size {
            return Err(ProofError::SizesOutOfOrder { old_size, new_size });
        }
        if old_size == 0 || old_size == new_size {
            return Ok(Vec::new());
        }
        // This is SUBPROOF(m, D[start..end], whole_old_tree) unrolled: walk
        // down, collecting siblings, until the old tree is a complete subtree.
        let mut siblings = Vec::new();
        let (mut start, mut end, mut m) = (0, new_size, old_size);
        let mut whole_old_tree = true;
        while m != end - start {
            let k = split_point(end - start);
            if m <= k {
                siblings.push(self.range_root(start + k, end));
                end = start + k;
            } else {
                siblings.push(self.range_root(start, start + k));
                start += k;
                m -= k;
                whole_old_tree = false;
            }
        }
        let mut proof = Vec::with_capacity(siblings.len() + 1);
        // When the old tree is itself the subtree reached, the verifier
        // already knows its hash (the old root), so it is left out.
        if !whole_old_tree {
            proof.push(self.range_root(start, end));
        }
        proof.extend(siblings.into_iter().rev());
        Ok(proof)
    }

    /// Checks that `size` does not exceed the log's size.
    fn check_size(&self, size: u64) -> Result<(), ProofError> {
        let log_size = self.size();
        if size > log_size {
            return Err(ProofError::SizeTooLarge { size, log_size });
        }
        Ok(())
    }

    /// Returns the MTH of leaves `[start, end)`, assembled from stored
    /// subtrees.
    ///
    /// The caller guarantees `start <= end <= self.size()`. Every range the
    /// RFC recursion produces starts at a multiple of the smallest power of
    /// two not below its length, so each left child is one stored subtree and
    /// only the right spine is hashed: O(log n) hash operations. Other ranges
    /// are still answered correctly, just with more hashing.
    fn range_root(&self, start: u64, end: u64) -> Hash {
        let n = end.saturating_sub(start);
        if n == 0 {
            return empty_root();
        }
        if n.is_power_of_two() && start.is_multiple_of(n) {
            let level = n.trailing_zeros();
            if let Some(hash) = self.stored(level, start >> level) {
                return hash;
            }
        }
        if n == 1 {
            // A leaf missing from level 0 means `end` exceeds the log size,
            // which the callers rule out; the empty root keeps this total.
            return empty_root();
        }
        let k = split_point(n);
        node_hash(&self.range_root(start, start + k), &self.range_root(start + k, end))
    }

    /// Returns the stored hash of the complete subtree at `level` and `index`.
    fn stored(&self, level: u32, index: u64) -> Option<Hash> {
        let level = usize::try_from(level).ok()?;
        let index = usize::try_from(index).ok()?;
        self.levels.get(level)?.get(index).copied()
    }
}

/// Returns the number of hashes in an inclusion proof for leaf `index` in a
/// tree of `size` leaves, split into the part below the point where the
/// path to `index` and the path to the last leaf diverge (`inner`) and the
/// left siblings above it (`border`).
///
/// The caller guarantees `index < size`.
fn inclusion_proof_shape(index: u64, size: u64) -> (usize, usize) {
    let last = size.saturating_sub(1);
    let inner = (u64::BITS - (index ^ last).leading_zeros()) as usize;
    let border = index.checked_shr(inner as u32).unwrap_or(0).count_ones() as usize;
    (inner, border)
}

/// Verifies that `leaf_hash` is leaf `index` of the tree of `tree_size` leaves
/// whose root is `root`, following RFC 9162 §2.1.3.2.
///
/// The proof must have exactly the number of hashes the index and size call
/// for. Note that the proof authenticates the leaf against the root; the tree
/// size must come from the same trusted source as the root (for example a
/// signed checkpoint), as RFC 9162 assumes.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    if index >= tree_size {
        return Err(VerifyError::IndexOutOfRange { index, size: tree_size });
    }
    let (inner, border) = inclusion_proof_shape(index, tree_size);
    let expected = inner + border;
    if proof.len() != expected {
        return Err(VerifyError::WrongProofLength { got: proof.len(), expected });
    }
    let mut f = index;
    let mut s = tree_size - 1;
    let mut r = *leaf_hash;
    for p in proof {
        if s == 0 {
            // Unreachable with a proof of the expected length.
            return Err(VerifyError::WrongProofLength { got: proof.len(), expected });
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        // Unreachable with a proof of the expected length.
        return Err(VerifyError::WrongProofLength { got: proof.len(), expected });
    }
    if r != *root {
        return Err(VerifyError::RootMismatch { computed: r, expected: *root });
    }
    Ok(())
}

/// Verifies that the tree of `new_size` leaves with root `new_root` extends
/// the tree of `old_size` leaves with root `old_root`, following RFC 9162
/// §2.1.4.2.
///
/// Two cases the RFC algorithm leaves out are handled explicitly. When the
/// sizes are equal, the proof must be empty and the roots equal. When
/// `old_size` is 0, the proof must be empty and `old_root` must be the
/// [`empty_root`]; every tree extends the empty tree.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    if old_size > new_size {
        return Err(VerifyError::SizesOutOfOrder { old_size, new_size });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(VerifyError::WrongProofLength { got: proof.len(), expected: 0 });
        }
        if old_root != new_root {
            return Err(VerifyError::SameSizeRootsDiffer {
                size: old_size,
                old_root: *old_root,
                new_root: *new_root,
            });
        }
        return Ok(());
    }
    if old_size == 0 {
        if !proof.is_empty() {
            return Err(VerifyError::WrongProofLength { got: proof.len(), expected: 0 });
        }
        let empty = empty_root();
        if *old_root != empty {
            return Err(VerifyError::OldRootMismatch { computed: empty, expected: *old_root });
        }
        return Ok(());
    }

    // The old tree's rightmost complete subtree is the node at `level`
    // covering leaves up to `old_size`; the proof is that node (left out
    // when it is the whole old tree, because the verifier knows the old
    // root) followed by its inclusion path in the new tree.
    let level = old_size.trailing_zeros();
    let node_index = (old_size - 1) >> level;
    let node_tree_size = ((new_size - 1) >> level) + 1;
    let (inner, border) = inclusion_proof_shape(node_index, node_tree_size);
    let seed_included = usize::from(node_index != 0);
    let expected = seed_included + inner + border;
    if proof.len() != expected {
        return Err(VerifyError::WrongProofLength { got: proof.len(), expected });
    }

    // RFC 9162 §2.1.4.2, with step 2 (prepending the old root when the old
    // size is a power of two) expressed as the choice of the seed.
    let (seed, rest) = if seed_included == 1 {
        match proof.split_first() {
            Some((first, rest)) => (*first, rest),
            None => return Err(VerifyError::WrongProofLength { got: 0, expected }),
        }
    } else {
        (*old_root, proof)
    };
    let mut f = old_size - 1;
    let mut s = new_size - 1;
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let mut fr = seed;
    let mut sr = seed;
    for c in rest {
        if s == 0 {
            // Unreachable with a proof of the expected length.
            return Err(VerifyError::WrongProofLength { got: proof.len(), expected });
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        // Unreachable with a proof of the expected length.
        return Err(VerifyError::WrongProofLength { got: proof.len(), expected });
    }
    if fr != *old_root {
        return Err(VerifyError::OldRootMismatch { computed: fr, expected: *old_root });
    }
    if sr != *new_root {
        return Err(VerifyError::NewRootMismatch { computed: sr, expected: *new_root });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The leaves of the Certificate Transparency test data, hex-encoded.
    const CT_LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];

    /// The roots of the first 1..=8 CT leaves.
    ///
    /// They were produced independently of this module by a short Python 3
    /// script using only `hashlib`, implementing the recursive MTH of RFC 6962
    /// with `sha256(b"\x00" + leaf)` and `sha256(b"\x01" + left + right)`.
    /// The last one is the well-known root of the eight-leaf CT test tree.
    const CT_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// Proofs over the CT leaves, produced by the same Python script with the
    /// recursive `PATH` and `PROOF` definitions of RFC 6962.
    /// Each entry is `(m, n, is_inclusion, hashes)`.
    const CT_PROOFS: [(u64, u64, bool, &[&str]); 7] = [
        (
            0,
            8,
            true,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            true,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (2, 3, true, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        (
            1,
            8,
            false,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            3,
            7,
            false,
            &[
                "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
                "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
                "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e",
            ],
        ),
        (4, 8, false, &["6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
        (
            6,
            8,
            false,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];

    fn h(hex_str: &str) -> Hash {
        let bytes = hex::decode(hex_str).expect("test vector is hex");
        bytes.try_into().expect("test vector is 32 bytes")
    }

    fn ct_leaf_hashes() -> Vec<Hash> {
        CT_LEAVES.iter().map(|leaf| leaf_hash(&hex::decode(leaf).expect("hex"))).collect()
    }

    /// Builds a log whose leaf `i` is the hash of `i` as eight big-endian bytes.
    fn numbered_log(size: u64) -> (MerkleLog, Vec<Hash>) {
        let mut log = MerkleLog::new();
        let mut leaves = Vec::new();
        for i in 0..size {
            let leaf = leaf_hash(&i.to_be_bytes());
            assert_eq!(log.push(leaf), i);
            leaves.push(leaf);
        }
        (log, leaves)
    }

    /// The reference implementation: RFC 6962's recursive definitions, written
    /// directly over the leaf list with no shared code beyond the hash
    /// functions.
    mod reference {
        use super::super::{Hash, empty_root, node_hash};

        fn split(n: usize) -> usize {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            k
        }

        /// RFC 6962 MTH(D[n]).
        pub(super) fn mth(leaves: &[Hash]) -> Hash {
            match leaves.len() {
                0 => empty_root(),
                1 => leaves[0],
                n => {
                    let k = split(n);
                    node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
                }
            }
        }

        /// RFC 6962 PATH(m, D[n]).
        pub(super) fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
            let n = leaves.len();
            if n <= 1 {
                return Vec::new();
            }
            let k = split(n);
            if m < k {
                let mut proof = path(m, &leaves[..k]);
                proof.push(mth(&leaves[k..]));
                proof
            } else {
                let mut proof = path(m - k, &leaves[k..]);
                proof.push(mth(&leaves[..k]));
                proof
            }
        }

        /// RFC 6962 SUBPROOF(m, D[n], b).
        fn subproof(m: usize, leaves: &[Hash], b: bool) -> Vec<Hash> {
            let n = leaves.len();
            if m == n {
                return if b { Vec::new() } else { vec![mth(leaves)] };
            }
            let k = split(n);
            if m <= k {
                let mut proof = subproof(m, &leaves[..k], b);
                proof.push(mth(&leaves[k..]));
                proof
            } else {
                let mut proof = subproof(m - k, &leaves[k..], false);
                proof.push(mth(&leaves[..k]));
                proof
            }
        }

        /// RFC 6962 PROOF(m, D[n]), with the RFC 9162 empty proof for m = 0.
        pub(super) fn proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
            if m == 0 { Vec::new() } else { subproof(m, leaves, true) }
        }
    }

    #[test]
    fn hash_primitives() {
        assert_eq!(
            empty_root(),
            h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(
            leaf_hash(b""),
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        );
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        let mut preimage = vec![1u8];
        preimage.extend_from_slice(&a);
        preimage.extend_from_slice(&b);
        assert_eq!(node_hash(&a, &b), Sha256::digest(&preimage).as_slice());
    }

    #[test]
    fn golden_ct_roots() {
        assert_eq!(
            CT_ROOTS[7], "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
            "the eight-leaf root is the well-known CT value"
        );
        let leaves = ct_leaf_hashes();
        let mut log = MerkleLog::new();
        assert_eq!(log.root(), empty_root());
        assert_eq!(root_of(&[]), empty_root());
        for (i, leaf) in leaves.iter().enumerate() {
            log.push(*leaf);
            let expected = h(CT_ROOTS[i]);
            assert_eq!(log.root(), expected, "root of size {}", i + 1);
            assert_eq!(root_of(&leaves[..=i]), expected, "root_of size {}", i + 1);
            assert_eq!(reference::mth(&leaves[..=i]), expected, "reference size {}", i + 1);
        }
        for (i, root) in CT_ROOTS.iter().enumerate() {
            assert_eq!(log.root_at(i as u64 + 1), Ok(h(root)));
        }
        assert_eq!(log.root_at(0), Ok(empty_root()));
        assert_eq!(log.root_at(9), Err(ProofError::SizeTooLarge { size: 9, log_size: 8 }));
    }

    #[test]
    fn golden_ct_proofs() {
        let leaves = ct_leaf_hashes();
        let mut log = MerkleLog::new();
        for leaf in &leaves {
            log.push(*leaf);
        }
        for (m, n, is_inclusion, hashes) in CT_PROOFS {
            let expected: Vec<Hash> = hashes.iter().map(|x| h(x)).collect();
            let root = h(CT_ROOTS[n as usize - 1]);
            if is_inclusion {
                assert_eq!(log.inclusion_proof(m, n).unwrap(), expected, "PATH({m}, D[{n}])");
                assert_eq!(reference::path(m as usize, &leaves[..n as usize]), expected);
                verify_inclusion(&leaves[m as usize], m, n, &expected, &root).unwrap();
            } else {
                assert_eq!(log.consistency_proof(m, n).unwrap(), expected, "PROOF({m}, D[{n}])");
                assert_eq!(reference::proof(m as usize, &leaves[..n as usize]), expected);
                let old_root = h(CT_ROOTS[m as usize - 1]);
                verify_consistency(m, n, &old_root, &root, &expected).unwrap();
            }
        }
    }

    #[test]
    fn exhaustive_small_trees_match_reference_and_verify() {
        let (log, leaves) = numbered_log(70);
        for n in 0..=70u64 {
            let prefix = &leaves[..n as usize];
            let root = log.root_at(n).unwrap();
            assert_eq!(root, reference::mth(prefix), "root at {n}");
            assert_eq!(root, root_of(prefix), "root_of at {n}");
            for m in 0..n {
                let proof = log.inclusion_proof(m, n).unwrap();
                assert_eq!(proof, reference::path(m as usize, prefix), "PATH({m}, D[{n}])");
                verify_inclusion(&leaves[m as usize], m, n, &proof, &root).unwrap();
            }
            for m in 0..=n {
                let proof = log.consistency_proof(m, n).unwrap();
                assert_eq!(proof, reference::proof(m as usize, prefix), "PROOF({m}, D[{n}])");
                let old_root = log.root_at(m).unwrap();
                verify_consistency(m, n, &old_root, &root, &proof).unwrap();
            }
        }
        // A log grown to each size on its own agrees with the big log's view.
        for n in 0..=70u64 {
            let (small, _) = numbered_log(n);
            assert_eq!(small.size(), n);
            assert_eq!(small.root(), log.root_at(n).unwrap());
        }
    }

    fn flip(hash: &Hash, bit: usize) -> Hash {
        let mut out = *hash;
        out[bit / 8] ^= 1 << (bit % 8);
        out
    }

    /// Every bit for small trees, a spread of bits for the larger ones.
    fn bits_to_flip(n: u64) -> Vec<usize> {
        if n <= 12 { (0..256).collect() } else { vec![0, 7, 8, 100, 129, 254, 255] }
    }

    #[test]
    fn inclusion_tampering_fails() {
        let (log, leaves) = numbered_log(70);
        for n in 1..=70u64 {
            let root = log.root_at(n).unwrap();
            let bits = bits_to_flip(n);
            for m in 0..n {
                let leaf = leaves[m as usize];
                let proof = log.inclusion_proof(m, n).unwrap();
                for &bit in &bits {
                    assert!(verify_inclusion(&flip(&leaf, bit), m, n, &proof, &root).is_err());
                    assert!(verify_inclusion(&leaf, m, n, &proof, &flip(&root, bit)).is_err());
                    for i in 0..proof.len() {
                        let mut bad = proof.clone();
                        bad[i] = flip(&bad[i], bit);
                        assert!(verify_inclusion(&leaf, m, n, &bad, &root).is_err());
                    }
                }
                // Extra or missing hashes.
                let mut longer = proof.clone();
                longer.push(root);
                assert!(matches!(
                    verify_inclusion(&leaf, m, n, &longer, &root),
                    Err(VerifyError::WrongProofLength { .. })
                ));
                let mut prefixed = vec![leaf];
                prefixed.extend_from_slice(&proof);
                assert!(verify_inclusion(&leaf, m, n, &prefixed, &root).is_err());
                if !proof.is_empty() {
                    assert!(verify_inclusion(&leaf, m, n, &proof[1..], &root).is_err());
                    assert!(
                        verify_inclusion(&leaf, m, n, &proof[..proof.len() - 1], &root).is_err()
                    );
                }
                // Another index in the same tree never verifies.
                for other in 0..n + 2 {
                    if other != m {
                        assert!(verify_inclusion(&leaf, other, n, &proof, &root).is_err());
                    }
                }
                // Another size: the root of that size never matches. Against
                // the original root, a size only verifies when it calls for
                // exactly the same path shape, because the proof
                // authenticates the root and the size must be trusted along
                // with it (RFC 9162 §2.1.3.2 takes both from the signed head).
                for other in 0..n + 3 {
                    if other == n {
                        continue;
                    }
                    if other <= log.size() {
                        let other_root = log.root_at(other).unwrap();
                        let accepted =
                            verify_inclusion(&leaf, m, other, &proof, &other_root).is_ok();
                        assert!(
                            !accepted || log.inclusion_proof(m, other) == Ok(proof.clone()),
                            "size {other} accepted PATH({m}, D[{n}])"
                        );
                    }
                    if verify_inclusion(&leaf, m, other, &proof, &root).is_ok() {
                        assert_eq!(
                            inclusion_proof_shape(m, other),
                            inclusion_proof_shape(m, n),
                            "size {other} accepted a proof for size {n} with another shape"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn consistency_tampering_fails() {
        let (log, _) = numbered_log(70);
        for n in 1..=70u64 {
            let new_root = log.root_at(n).unwrap();
            let bits = bits_to_flip(n);
            for m in 0..=n {
                let old_root = log.root_at(m).unwrap();
                let proof = log.consistency_proof(m, n).unwrap();
                for &bit in &bits {
                    assert!(
                        verify_consistency(m, n, &flip(&old_root, bit), &new_root, &proof).is_err()
                    );
                    if m != 0 {
                        assert!(
                            verify_consistency(m, n, &old_root, &flip(&new_root, bit), &proof)
                                .is_err()
                        );
                    }
                    for i in 0..proof.len() {
                        let mut bad = proof.clone();
                        bad[i] = flip(&bad[i], bit);
                        assert!(verify_consistency(m, n, &old_root, &new_root, &bad).is_err());
                    }
                }
                let mut longer = proof.clone();
                longer.push(new_root);
                assert!(matches!(
                    verify_consistency(m, n, &old_root, &new_root, &longer),
                    Err(VerifyError::WrongProofLength { .. })
                ));
                if !proof.is_empty() {
                    assert!(verify_consistency(m, n, &old_root, &new_root, &proof[1..]).is_err());
                    assert!(
                        verify_consistency(m, n, &old_root, &new_root, &proof[..proof.len() - 1])
                            .is_err()
                    );
                }
                // Claiming other sizes, with the honest roots of those sizes:
                // the proof only verifies where it is also the honest proof of
                // that claim (an empty proof from size 0, or between equal sizes).
                for other_m in 0..=n + 1 {
                    if other_m != m && other_m <= log.size() {
                        let other_root = log.root_at(other_m).unwrap();
                        let accepted =
                            verify_consistency(other_m, n, &other_root, &new_root, &proof).is_ok();
                        assert!(
                            !accepted || log.consistency_proof(other_m, n) == Ok(proof.clone()),
                            "old size {other_m} accepted PROOF({m}, D[{n}])"
                        );
                    }
                }
                for other_n in m..=n + 2 {
                    if other_n != n && other_n <= log.size() {
                        let other_root = log.root_at(other_n).unwrap();
                        let accepted =
                            verify_consistency(m, other_n, &old_root, &other_root, &proof).is_ok();
                        assert!(
                            !accepted || log.consistency_proof(m, other_n) == Ok(proof.clone()),
                            "new size {other_n} accepted PROOF({m}, D[{n}])"
                        );
                    }
                }
                // With the original roots, sizes other than the true ones never
                // verify, except that a consistency proof, like an inclusion
                // proof, authenticates roots rather than sizes: a size that
                // calls for the very same proof shape is indistinguishable.
                for other_m in 1..n {
                    if other_m != m
                        && verify_consistency(other_m, n, &old_root, &new_root, &proof).is_ok()
                    {
                        panic!(
                            "old size {other_m} accepted PROOF({m}, D[{n}]) with the old root of size {m}"
                        );
                    }
                }
                for other_n in (m.max(1)..n + 3).filter(|&size| size <= log.size()) {
                    if other_n != n
                        && verify_consistency(m, other_n, &old_root, &new_root, &proof).is_ok()
                    {
                        // Only a new size whose proof has the same shape can
                        // be confused with the true one; its own root differs.
                        let shape = log.consistency_proof(m, other_n).map(|p| p.len());
                        assert_eq!(
                            shape,
                            Ok(proof.len()),
                            "new size {other_n} accepted PROOF({m}, D[{n}])"
                        );
                        assert_ne!(log.root_at(other_n), Ok(new_root));
                    }
                }
            }
        }
    }

    #[test]
    fn edge_cases() {
        let (log, leaves) = numbered_log(5);
        let root = log.root();
        let empty = MerkleLog::new();
        assert_eq!(empty.size(), 0);
        assert_eq!(empty.root(), empty_root());
        assert_eq!(empty.leaf(0), None);
        assert_eq!(log.leaf(4), Some(leaves[4]));
        assert_eq!(log.leaf(5), None);
        assert_eq!(log.leaf(u64::MAX), None);

        assert_eq!(
            log.inclusion_proof(7, 5),
            Err(ProofError::IndexOutOfRange { index: 7, size: 5 })
        );
        assert_eq!(
            log.inclusion_proof(0, 6),
            Err(ProofError::SizeTooLarge { size: 6, log_size: 5 })
        );
        assert_eq!(
            log.inclusion_proof(0, 0),
            Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(
            log.consistency_proof(4, 3),
            Err(ProofError::SizesOutOfOrder { old_size: 4, new_size: 3 })
        );
        assert_eq!(
            log.consistency_proof(1, u64::MAX),
            Err(ProofError::SizeTooLarge { size: u64::MAX, log_size: 5 })
        );
        assert_eq!(log.consistency_proof(0, 5), Ok(Vec::new()));
        assert_eq!(log.consistency_proof(5, 5), Ok(Vec::new()));
        assert_eq!(log.consistency_proof(0, 0), Ok(Vec::new()));

        let err = verify_inclusion(&leaves[0], 7, 5, &[], &root).unwrap_err();
        assert_eq!(err.to_string(), "leaf index 7 is not below tree size 5");
        assert!(verify_inclusion(&leaves[0], 0, 0, &[], &empty_root()).is_err());
        let proof = log.inclusion_proof(0, 5).unwrap();
        let err = verify_inclusion(&leaves[0], 0, 5, &proof[..2], &root).unwrap_err();
        assert_eq!(err.to_string(), "proof has 2 hashes, expected 3");
        let err = verify_inclusion(&leaves[1], 0, 5, &proof, &root).unwrap_err();
        assert!(err.to_string().starts_with("computed root "), "{err}");
        assert!(
            err.to_string()
                .ends_with(&format!("does not match expected root {}", hex::encode(root)))
        );

        // Extreme sizes never panic.
        let huge_proof = vec![root; 64];
        for (index, size) in [(0, u64::MAX), (u64::MAX - 1, u64::MAX), (u64::MAX, u64::MAX)] {
            assert!(verify_inclusion(&leaves[0], index, size, &huge_proof, &root).is_err());
            assert!(verify_inclusion(&leaves[0], index, size, &[], &root).is_err());
        }
        for (old, new) in
            [(1, u64::MAX), (u64::MAX - 1, u64::MAX), (u64::MAX, u64::MAX), (u64::MAX, 1)]
        {
            assert!(verify_consistency(old, new, &root, &root, &huge_proof).is_err());
            assert!(verify_consistency(old, new, &root, &leaves[0], &[]).is_err());
        }

        // Equal sizes: an empty proof and equal roots.
        verify_consistency(5, 5, &root, &root, &[]).unwrap();
        assert!(matches!(
            verify_consistency(5, 5, &root, &leaves[0], &[]),
            Err(VerifyError::SameSizeRootsDiffer { size: 5, .. })
        ));
        assert_eq!(
            verify_consistency(5, 5, &root, &root, &[root]),
            Err(VerifyError::WrongProofLength { got: 1, expected: 0 })
        );
        // Old size 0: an empty proof and the empty root.
        verify_consistency(0, 5, &empty_root(), &root, &[]).unwrap();
        verify_consistency(0, 0, &empty_root(), &empty_root(), &[]).unwrap();
        assert_eq!(
            verify_consistency(0, 5, &empty_root(), &root, &[root]),
            Err(VerifyError::WrongProofLength { got: 1, expected: 0 })
        );
        assert!(matches!(
            verify_consistency(0, 5, &root, &root, &[]),
            Err(VerifyError::OldRootMismatch { .. })
        ));
        assert_eq!(
            verify_consistency(6, 5, &root, &root, &[]).unwrap_err().to_string(),
            "old tree size 6 is greater than new tree size 5"
        );
        // A non-empty tree needs a non-empty proof from a smaller non-empty tree.
        assert_eq!(
            verify_consistency(4, 5, &log.root_at(4).unwrap(), &root, &[]),
            Err(VerifyError::WrongProofLength { got: 0, expected: 1 })
        );
    }

    #[test]
    fn large_log_stays_fast() {
        // Two hundred thousand leaves: any O(n) step per query would make the
        // loop below take far longer than the pushes themselves.
        let (log, leaves) = numbered_log(200_000);
        let root = log.root();
        assert_eq!(root, root_of(&leaves));
        for size in [1u64, 2, 3, 65_537, 131_072, 199_999, 200_000] {
            let at = log.root_at(size).unwrap();
            for index in [0, size / 3, size - 1] {
                let proof = log.inclusion_proof(index, size).unwrap();
                verify_inclusion(&leaves[index as usize], index, size, &proof, &at).unwrap();
            }
            for old in [1, size / 2, size - 1] {
                let proof = log.consistency_proof(old, size).unwrap();
                verify_consistency(old, size, &log.root_at(old).unwrap(), &at, &proof).unwrap();
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn random_sizes_match_reference(
            size in 1u64..3000,
            index_seed in any::<u64>(),
            old_seed in any::<u64>(),
            new_seed in any::<u64>(),
        ) {
            let (log, leaves) = numbered_log(size);
            let new_size = 1 + new_seed % size;
            let index = index_seed % new_size;
            let old_size = old_seed % (new_size + 1);
            let prefix = &leaves[..new_size as usize];
            let root = log.root_at(new_size).unwrap();
            prop_assert_eq!(root, reference::mth(prefix));
            prop_assert_eq!(log.root(), root_of(&leaves));

            let path = log.inclusion_proof(index, new_size).unwrap();
            prop_assert_eq!(&path, &reference::path(index as usize, prefix));
            let leaf = leaves[index as usize];
            prop_assert!(verify_inclusion(&leaf, index, new_size, &path, &root).is_ok());

            let proof = log.consistency_proof(old_size, new_size).unwrap();
            prop_assert_eq!(&proof, &reference::proof(old_size as usize, prefix));
            let old_root = log.root_at(old_size).unwrap();
            prop_assert!(verify_consistency(old_size, new_size, &old_root, &root, &proof).is_ok());
            if old_size > 0 && old_size < new_size {
                let wrong_old = leaf_hash(b"not the old root");
                let result = verify_consistency(old_size, new_size, &wrong_old, &root, &proof);
                prop_assert!(result.is_err());
            }
        }
    }
}
