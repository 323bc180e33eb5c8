//! The state commitment: a fixed-depth Merkle tree over key buckets, updated
//! incrementally, whose 32-byte root two replicas compare in constant time.
//!
//! Byte layout (version 1):
//! - a key belongs to bucket `b` = the first two bytes (big-endian) of SHA-256(key),
//!   so there are 65,536 buckets;
//! - an entry is `(key, SHA-256(value))`; a bucket's hash is
//!   SHA-256(0x02 || for each entry in ascending key order: u32 BE key length || key || value hash);
//! - inner nodes are SHA-256(0x03 || left || right), 16 levels up to the root.
//!
//! The tags 0x02 and 0x03 keep these hashes apart from the RFC 6962 leaf (0x00)
//! and node (0x01) hashes of the transaction log. Only the buckets written
//! since the last root are rehashed.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::merkle::Hash;

const DEPTH: usize = 16;
const N_BUCKETS: usize = 1 << DEPTH;
const BUCKET_TAG: u8 = 0x02;
const NODE_TAG: u8 = 0x03;

/// Incrementally maintained commitment to a key-value state.
#[derive(Clone, Debug)]
pub struct Commitment {
    buckets: Vec<BTreeMap<Vec<u8>, Hash>>,
    /// `levels[0]` holds the bucket hashes; `levels[DEPTH]` the root.
    levels: Vec<Vec<Hash>>,
    dirty: BTreeSet<usize>,
}

impl Default for Commitment {
    fn default() -> Self {
        Self::new()
    }
}

fn node(left: &Hash, right: &Hash) -> Hash {
    Sha256::new().chain_update([NODE_TAG]).chain_update(left).chain_update(right).finalize().into()
}

fn bucket_of(key: &[u8]) -> usize {
    let digest = Sha256::digest(key);
    usize::from(u16::from_be_bytes([digest[0], digest[1]]))
}

impl Commitment {
    /// The commitment to the empty state.
    pub fn new() -> Commitment {
        let mut level_hash: Hash = Sha256::digest([BUCKET_TAG]).into();
        let mut levels = Vec::with_capacity(DEPTH + 1);
        for depth in 0..=DEPTH {
            levels.push(vec![level_hash; N_BUCKETS >> depth]);
            level_hash = node(&level_hash, &level_hash);
        }
        Commitment { buckets: vec![BTreeMap::new(); N_BUCKETS], levels, dirty: BTreeSet::new() }
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        let bucket = bucket_of(key);
        let value_hash: Hash = Sha256::digest(value).into();
        // A key that is rewritten (a case on every action) is not copied again.
        match self.buckets[bucket].get_mut(key) {
            Some(hash) => *hash = value_hash,
            None => {
                let _ = self.buckets[bucket].insert(key.to_vec(), value_hash);
            }
        }
        let _ = self.dirty.insert(bucket);
    }

    /// Removes `key`.
    pub fn delete(&mut self, key: &[u8]) {
        let bucket = bucket_of(key);
        if self.buckets[bucket].remove(key).is_some() {
            let _ = self.dirty.insert(bucket);
        }
    }

    /// The root, rehashing what changed since the last call.
    pub fn root(&mut self) -> Hash {
        let dirty = std::mem::take(&mut self.dirty);
        if !dirty.is_empty() {
            for &bucket in &dirty {
                let mut hasher = Sha256::new();
                hasher.update([BUCKET_TAG]);
                for (key, value_hash) in &self.buckets[bucket] {
                    hasher.update((key.len() as u32).to_be_bytes());
                    hasher.update(key);
                    hasher.update(value_hash);
                }
                self.levels[0][bucket] = hasher.finalize().into();
            }
            let mut positions: BTreeSet<usize> = dirty;
            for depth in 1..=DEPTH {
                positions = positions.into_iter().map(|p| p / 2).collect();
                for &p in &positions {
                    let hash =
                        node(&self.levels[depth - 1][2 * p], &self.levels[depth - 1][2 * p + 1]);
                    self.levels[depth][p] = hash;
                }
            }
        }
        self.levels[DEPTH][0]
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.buckets.iter().map(BTreeMap::len).sum()
    }

    /// Whether the state is empty.
    pub fn is_empty(&self) -> bool {
        self.buckets.iter().all(BTreeMap::is_empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A straightforward recomputation from scratch, to check the incremental one.
    fn reference_root(entries: &BTreeMap<Vec<u8>, Vec<u8>>) -> Hash {
        let mut fresh = Commitment::new();
        for (key, value) in entries {
            fresh.put(key, value);
        }
        fresh.root()
    }

    #[test]
    fn order_of_writes_does_not_matter_and_increments_match() {
        let mut a = Commitment::new();
        let mut b = Commitment::new();
        let empty = a.root();
        let mut model = BTreeMap::new();
        for i in 0u32..300 {
            let key = format!("k{}", i % 97).into_bytes();
            let value = i.to_be_bytes().to_vec();
            a.put(&key, &value);
            let _ = model.insert(key, value);
            if i % 7 == 0 {
                let _ = a.root();
            }
        }
        for (key, value) in model.iter().rev() {
            b.put(key, value);
        }
        assert_eq!(a.root(), b.root());
        assert_eq!(a.root(), reference_root(&model));
        assert_ne!(a.root(), empty);
        a.put(b"k1", b"changed");
        assert_ne!(a.root(), b.root());
        for key in model.keys() {
            a.delete(key);
        }
        assert_eq!(a.root(), empty);
        assert!(a.is_empty());
    }
}
