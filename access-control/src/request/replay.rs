//! The replay cache: the nonces of accepted requests still inside the time
//! window, bounded in all and per key.

use std::collections::{BTreeMap, BTreeSet};

use super::{DEFAULT_MAX_NONCES, DEFAULT_MAX_NONCES_PER_IDENTITY};

/// The bounds of the replay cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayLimits {
    /// Nonces remembered in all.
    pub total: usize,
    /// Nonces remembered of one key.
    pub per_identity: usize,
}

impl Default for ReplayLimits {
    fn default() -> ReplayLimits {
        ReplayLimits { total: DEFAULT_MAX_NONCES, per_identity: DEFAULT_MAX_NONCES_PER_IDENTITY }
    }
}

/// The nonces of accepted requests still inside the window.
#[derive(Default)]
pub(super) struct ReplayCache {
    /// `(public key, nonce)` to the request's timestamp.
    pub(super) seen: BTreeMap<([u8; 32], [u8; 16]), u64>,
    /// The same entries ordered by timestamp, for eviction.
    pub(super) by_time: BTreeSet<(u64, [u8; 32], [u8; 16])>,
    /// How many entries each key has.
    pub(super) per_key: BTreeMap<[u8; 32], usize>,
    /// The latest clock reading seen.
    pub(super) latest_now_ms: u64,
}

impl ReplayCache {
    /// Forgets every entry with a timestamp before `horizon_ms`.
    pub(super) fn evict_before(&mut self, horizon_ms: u64) {
        while let Some(&(timestamp, key, nonce)) = self.by_time.first()
            && timestamp < horizon_ms
        {
            self.by_time.pop_first();
            self.seen.remove(&(key, nonce));
            if let Some(count) = self.per_key.get_mut(&key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.per_key.remove(&key);
                }
            }
        }
    }

    /// Records an entry known to be absent.
    pub(super) fn insert(&mut self, public_key: [u8; 32], nonce: [u8; 16], timestamp_ms: u64) {
        self.seen.insert((public_key, nonce), timestamp_ms);
        self.by_time.insert((timestamp_ms, public_key, nonce));
        *self.per_key.entry(public_key).or_default() += 1;
    }
}
