//! Pushing the node's quorum checkpoints to outside witnesses
//! (`cairn up --witness URL`, C2SP tlog-witness): each time the quorum
//! checkpoint grows, the node submits it, with a consistency proof from the
//! size the witness last cosigned, and keeps the witness's cosignature
//! lines, which `GetCheckpoint` then adds to that checkpoint's note. A
//! client whose trusted-keys file requires a witness accepts the node's
//! checkpoints without asking the witness itself.
//!
//! A witness that is down or refuses is logged (once until it answers
//! again) and asked again at the next quorum checkpoint; it never holds up
//! the consortium.

use std::collections::BTreeMap;
use std::time::Duration;

use super::cosign::Cosigning;
use crate::witness::client::{Witnessed, add_checkpoint};

/// How often the node looks for a newer quorum checkpoint to push.
const PUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Pushes every newer quorum checkpoint to each of `urls` until dropped.
pub(crate) async fn run(cosigning: Cosigning, urls: Vec<String>) {
    let mut tick = tokio::time::interval(PUSH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Witness URL → the newest size it cosigned or is ahead of; whether its
    // last failure was logged.
    let mut done: BTreeMap<String, u64> = BTreeMap::new();
    let mut failing: BTreeMap<String, bool> = BTreeMap::new();
    loop {
        let _ = tick.tick().await;
        let Some(size) = cosigning.quorum_size() else { continue };
        for url in &urls {
            if done.get(url).is_some_and(|pushed| *pushed >= size) {
                continue;
            }
            match push(&cosigning, url, size).await {
                Ok(reached) => {
                    let _ = done.insert(url.clone(), reached);
                    if failing.insert(url.clone(), false) == Some(true) {
                        tracing::info!(witness = %url, size, "the witness cosigns again");
                    }
                }
                Err(e) => {
                    if failing.insert(url.clone(), true) != Some(true) {
                        tracing::warn!(witness = %url, size, error = %format!("{e:#}"), "the witness did not cosign; asking again at the next quorum checkpoint");
                    }
                }
            }
        }
    }
}

/// Submits the quorum checkpoint at `size` to the witness at `url`; answers
/// the size the witness now holds.
async fn push(cosigning: &Cosigning, url: &str, size: u64) -> anyhow::Result<u64> {
    let checkpoint = cosigning.checkpoint_at(size)?;
    let prove = |old: u64| async move { cosigning.consistency_proof(old, size) };
    match add_checkpoint(url, &checkpoint.note, size, prove).await? {
        Witnessed::Cosigned(lines) => {
            cosigning.add_witnessed(size, &lines);
            tracing::debug!(witness = %url, size, "witness cosigned");
            Ok(size)
        }
        Witnessed::Ahead(old) => Ok(old),
    }
}
