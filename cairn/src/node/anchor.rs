//! Everything the node anchors on the ledger, in one loop: its access-event
//! log (tree size, root and the consistency proof from the last anchor) and
//! every certificate channel that grew or status list that changed.
//!
//! Anchors are transactions the node signs with its own key, as a `node`
//! identity; the chaincode checks that role. One anchoring runs at a time, so
//! an anchor asked for on demand (a statement or a certificate proof that
//! needs one now) and the periodic one never race each other.

use std::sync::Arc;
use std::time::Duration;

use anchor_chaincode::tx::{self, TxDraft};
use anchor_chaincode::{Receipt, ValidationCode};
use anyhow::bail;
use cairn_schemas::v1 as pb;

use super::Node;
use super::access_log::AccessLog;

/// How often certificate channels and status lists are anchored.
pub(crate) const CERTIFICATE_INTERVAL: Duration = Duration::from_secs(10);

/// The node's anchoring: shared by the loop and the services that anchor on demand.
#[derive(Clone)]
pub(crate) struct Anchorer {
    node: Node,
    access: AccessLog,
    /// One anchoring at a time.
    running: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Anchorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Anchorer").finish_non_exhaustive()
    }
}

/// What one transaction of the node anchored.
enum Outcome {
    Anchored(Receipt),
    /// Another transaction in the same block moved a head: worth trying again.
    Moved,
}

impl Anchorer {
    /// The anchoring of `node` and its access-event log `access`.
    pub(crate) fn new(node: Node, access: AccessLog) -> Anchorer {
        Anchorer { node, access, running: Arc::new(tokio::sync::Mutex::new(())) }
    }

    /// Anchors the access-event log every `access_interval` and the
    /// certificate channels every [`CERTIFICATE_INTERVAL`], until dropped.
    /// A failure is logged once per kind, not once per tick.
    pub(crate) async fn run(self, access_interval: Duration) {
        let mut access_tick = tokio::time::interval(access_interval);
        let mut certificate_tick = tokio::time::interval(CERTIFICATE_INTERVAL);
        access_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        certificate_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut access_warned, mut certificates_warned) = (false, false);
        loop {
            tokio::select! {
                _ = access_tick.tick() => match self.access_events().await {
                    Ok(Some(size)) => tracing::info!(tree_size = size, "access-event log anchored"),
                    Ok(None) => {}
                    Err(e) if !access_warned => {
                        tracing::warn!(error = %e, "cannot anchor the access-event log");
                        access_warned = true;
                    }
                    Err(_) => {}
                },
                _ = certificate_tick.tick() => match self.certificates().await {
                    Ok(true) => tracing::info!("certificate channels anchored"),
                    Ok(false) => {}
                    Err(e) if !certificates_warned => {
                        tracing::warn!(error = %e, "cannot anchor certificate channels");
                        certificates_warned = true;
                    }
                    Err(_) => {}
                },
            }
        }
    }

    /// Anchors what is new in the access-event log, if anything; answers the anchored size.
    pub(crate) async fn access_events(&self) -> anyhow::Result<Option<u64>> {
        let _running = self.running.lock().await;
        let address = self.node.key().address();
        let anchored = {
            let ledger = self.node.ledger();
            ledger.access_anchors(&address).last().map_or(0, |a| a.tree_size)
        };
        let body = {
            let state = self.access.state();
            let size = state.merkle.size();
            if size <= anchored {
                return Ok(None);
            }
            let proof = state.merkle.consistency_proof(anchored, size)?;
            pb::tx_payload::Body::AnchorAccessEvents(pb::AnchorAccessEvents {
                tree_size: size,
                root_hash: state.merkle.root().to_vec(),
                consistency_proof: proof.iter().map(|h| h.to_vec()).collect(),
            })
        };
        match self.submit("access events", body).await? {
            Outcome::Anchored(receipt) => {
                let response: serde_json::Value =
                    serde_json::from_str(&receipt.response).unwrap_or_default();
                Ok(response["tree_size"].as_u64())
            }
            Outcome::Moved => bail!("the access-event anchor was refused as inconsistent"),
        }
    }

    /// Anchors every channel that grew and every status list that changed
    /// since their last anchors; answers whether anything was anchored.
    pub(crate) async fn certificates(&self) -> anyhow::Result<bool> {
        let _running = self.running.lock().await;
        for _attempt in 0..3 {
            let body = {
                let ledger = self.node.ledger();
                let channels: Vec<pb::ChannelHead> = ledger
                    .channels()
                    .filter(|(_, channel)| {
                        channel.log.size() > channel.anchors.last().map_or(0, |a| a.size)
                    })
                    .map(|(name, channel)| pb::ChannelHead {
                        channel: name.clone(),
                        tree_size: channel.log.size(),
                        root_hash: channel.log.root().to_vec(),
                    })
                    .collect();
                let status_lists: Vec<pb::StatusListHead> = ledger
                    .status_lists()
                    .filter_map(|(organisation, list)| {
                        let hash = list.hash(organisation);
                        let anchored = ledger.status_anchors(organisation).last().map(|a| a.hash);
                        (anchored != Some(hash)).then(|| pb::StatusListHead {
                            issuer_organisation: organisation.clone(),
                            size: list.size,
                            list_hash: hash.to_vec(),
                        })
                    })
                    .collect();
                if channels.is_empty() && status_lists.is_empty() {
                    return Ok(false);
                }
                pb::tx_payload::Body::AnchorChannels(pb::AnchorChannels { channels, status_lists })
            };
            match self.submit("certificate channels", body).await? {
                Outcome::Anchored(_) => return Ok(true),
                Outcome::Moved => continue,
            }
        }
        bail!("the certificate channels kept moving while anchoring; try again")
    }

    /// Signs `body` with the node key and submits it.
    async fn submit(&self, what: &str, body: pb::tx_payload::Body) -> anyhow::Result<Outcome> {
        let address = self.node.key().address();
        let chain_id = {
            let ledger = self.node.ledger();
            match ledger.identity(&address) {
                None => bail!(
                    "the node identity {address} is not registered; register its key (node.key in the data directory) as a node to anchor {what}"
                ),
                Some(identity) if identity.revoked.is_some() => {
                    bail!("the node identity {address} is revoked")
                }
                Some(_) => ledger.consortium().chain_id().to_string(),
            }
        };
        let draft = TxDraft {
            chain_id,
            nonce: access_control::keys::random_bytes::<16>()?.to_vec(),
            timestamp_ms: crate::clock::now_ms(),
            body,
        };
        let key = self.node.key();
        let envelope = tx::seal(draft.payload(&key.signing_public_key()), key.signing_key(), &[]);
        let receipt = self.node.submit(envelope).await?.receipt;
        match receipt.code {
            ValidationCode::Valid => Ok(Outcome::Anchored(receipt)),
            ValidationCode::InconsistentAnchor => Ok(Outcome::Moved),
            code => bail!("anchor transaction {} was {code}: {}", receipt.tx_id, receipt.message),
        }
    }
}
