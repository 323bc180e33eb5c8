//! The stored Merkle log: appending leaves, and roots, inclusion proofs and
//! consistency proofs for any size up to the current one.

use super::{Hash, ProofError, empty_root, node_hash, split_point};

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

    /// Returns the hash of the complete, aligned subtree at `level` and
    /// `index`: the Merkle Tree Hash of leaves `[index·2^level,
    /// (index+1)·2^level)`, or `None` if the log does not hold all of them
    /// yet. Level 0 gives the leaf hashes. The C2SP tlog-tiles hashes are
    /// exactly these at levels that are multiples of 8.
    pub fn subtree(&self, level: u32, index: u64) -> Option<Hash> {
        self.stored(level, index)
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
