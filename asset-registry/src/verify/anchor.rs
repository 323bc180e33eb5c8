//! That a certificate presentation's channel checkpoint is anchored in the
//! main ledger.
//!
//! A presentation names the transaction that anchored its channel's
//! checkpoint (`anchor_tx`, `anchor_block`). The caller asks a node for that
//! transaction's inclusion proof and the signed ledger checkpoint it is
//! against ([`AnchorProof`]); [`check_anchor`] then checks, with no node,
//! that both checkpoints are signed by a quorum of trusted members, that the transaction is
//! in the ledger, valid, in the block the presentation names, and that its
//! `AnchorChannels` body states the channel checkpoint's size and root.

use access_control::credential::presentation::Presentation;
use anchor_chaincode::ValidationCode;
use anchor_chaincode::checkpoint::{Checkpoint, Quorum};
use anchor_chaincode::ledger::parse_leaf;
use anchor_chaincode::merkle;
use anchor_chaincode::tx::{Transaction, TxBody};

use crate::verify::{Check, Signatures, open_checkpoint};

/// The name of the anchor check.
pub const CHECK_NAME: &str = "anchor";

/// The anchoring transaction's inclusion in the ledger, as a node answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorProof {
    /// The transaction's index in the ledger's Merkle log.
    pub leaf_index: u64,
    /// The ledger leaf: block, index, validation code, tx id, envelope.
    pub leaf: Vec<u8>,
    /// The audit path, leaf to root, each hash 32 bytes.
    pub hashes: Vec<Vec<u8>>,
    /// The signed ledger checkpoint the proof is against.
    pub checkpoint: String,
}

/// The id (hex) of the transaction the presentation says anchored its
/// channel checkpoint: the one to ask a node to prove.
pub fn anchor_tx_id(presentation: &Presentation) -> String {
    hex::encode(&presentation.anchor_tx)
}

fn channel_checkpoint(
    presentation: &Presentation,
    quorum: &Quorum,
) -> Result<(Checkpoint, Signatures), String> {
    open_checkpoint(&presentation.checkpoint, quorum)
        .map_err(|e| format!("the channel checkpoint is not signed by a trusted quorum: {e}"))
}

/// The first step of [`check_anchor`], which needs nothing from a node: the
/// presentation's channel checkpoint is signed by the `quorum`. A caller can
/// run it before fetching the [`AnchorProof`].
pub fn check_channel_checkpoint(presentation: &Presentation, quorum: &Quorum) -> Check {
    match channel_checkpoint(presentation, quorum) {
        Ok((channel, signatures)) => Check::pass(
            CHECK_NAME,
            format!("channel checkpoint {} at size {} {signatures}", channel.origin, channel.size),
        )
        .with_signatures(signatures),
        Err(detail) => Check::fail(CHECK_NAME, detail),
    }
}

/// Checks that the presentation's channel checkpoint is anchored in the main
/// ledger: the anchoring transaction's inclusion `proof` against a ledger
/// checkpoint signed by the `quorum`, its validation code and block, and
/// that its `AnchorChannels` body states this channel's size and root. The
/// check names the members that signed the ledger checkpoint.
pub fn check_anchor(presentation: &Presentation, quorum: &Quorum, proof: &AnchorProof) -> Check {
    match anchor_result(presentation, quorum, proof) {
        Ok((detail, signatures)) => Check::pass(CHECK_NAME, detail).with_signatures(signatures),
        Err(detail) => Check::fail(CHECK_NAME, detail),
    }
}

fn anchor_result(
    presentation: &Presentation,
    quorum: &Quorum,
    proof: &AnchorProof,
) -> Result<(String, Signatures), String> {
    let tx_id = anchor_tx_id(presentation);
    let (channel_checkpoint, _) = channel_checkpoint(presentation, quorum)?;
    let (opened, signatures) = open_checkpoint(&proof.checkpoint, quorum)
        .map_err(|e| format!("the ledger checkpoint is not signed by a trusted quorum: {e}"))?;
    let hashes = proof
        .hashes
        .iter()
        .map(|h| <[u8; 32]>::try_from(h.as_slice()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "a proof hash is not 32 bytes".to_string())?;
    merkle::verify_inclusion(
        &merkle::leaf_hash(&proof.leaf),
        proof.leaf_index,
        opened.size,
        &hashes,
        &opened.root,
    )
    .map_err(|e| format!("the anchoring transaction is not in the ledger: {e}"))?;
    let leaf = parse_leaf(&proof.leaf)?;
    if leaf.tx_id.to_string() != tx_id || leaf.code != ValidationCode::Valid {
        return Err(format!("the ledger records {} as {}", leaf.tx_id, leaf.code));
    }
    if leaf.block_number != presentation.anchor_block {
        return Err(format!(
            "the anchor is in block {}, the presentation says {}",
            leaf.block_number, presentation.anchor_block
        ));
    }
    let transaction = Transaction::decode(&leaf.envelope).map_err(|r| r.message)?;
    let type_name = transaction.body.type_name();
    let TxBody::AnchorChannels(anchor) = transaction.body else {
        return Err(format!("transaction {tx_id} is a {type_name}, not an anchor"));
    };
    let stated = anchor.channels.iter().any(|head| {
        channel_checkpoint.origin.ends_with(&format!("/cert/{}", head.name))
            && head.size == channel_checkpoint.size
            && head.hash == channel_checkpoint.root
    });
    if !stated {
        return Err(format!(
            "transaction {tx_id} does not anchor {} at size {}",
            channel_checkpoint.origin, channel_checkpoint.size
        ));
    }
    Ok((
        format!(
            "channel checkpoint anchored by tx {tx_id} in block {}, leaf {} of the ledger's {} (checkpoint {signatures})",
            leaf.block_number, proof.leaf_index, opened.size
        ),
        signatures,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_chaincode::checkpoint;

    #[test]
    fn an_untrusted_channel_checkpoint_fails_before_any_proof() {
        let signer = checkpoint::NoteSigner::new("example.org/cert/degree", [9; 32]).unwrap();
        let other = checkpoint::NoteSigner::new("example.org", [8; 32]).unwrap();
        let quorum = Quorum::single(other.verifier());
        let presentation = Presentation {
            checkpoint: signer.sign(&Checkpoint {
                origin: "example.org/cert/degree".into(),
                size: 1,
                root: [1; 32],
                extensions: vec![],
            }),
            ..Presentation::default()
        };
        let check = check_channel_checkpoint(&presentation, &quorum);
        assert!(!check.passed);
        assert!(
            check.detail.starts_with("the channel checkpoint is not signed by a trusted quorum")
        );
        let proof =
            AnchorProof { leaf_index: 0, leaf: vec![], hashes: vec![], checkpoint: String::new() };
        assert_eq!(check_anchor(&presentation, &quorum, &proof), check);
    }

    #[test]
    fn a_trusted_channel_checkpoint_passes_the_first_step() {
        let signer = checkpoint::NoteSigner::new("example.org/cert/degree", [9; 32]).unwrap();
        let trusted =
            Quorum::single(checkpoint::NoteVerifier::parse(&signer.verifier_key()).unwrap());
        let presentation = Presentation {
            checkpoint: signer.sign(&Checkpoint {
                origin: "example.org/cert/degree".into(),
                size: 1,
                root: [1; 32],
                extensions: vec![],
            }),
            ..Presentation::default()
        };
        assert!(check_channel_checkpoint(&presentation, &trusted).passed);
        let proof = AnchorProof {
            leaf_index: 0,
            leaf: vec![],
            hashes: vec![],
            checkpoint: "not a note".into(),
        };
        let check = check_anchor(&presentation, &trusted, &proof);
        assert!(!check.passed);
        assert!(
            check.detail.starts_with("the ledger checkpoint is not signed by a trusted quorum")
        );
    }
}
