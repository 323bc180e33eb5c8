//! Asking a witness for its cosignature: the client side of
//! `add-checkpoint`, shared by `cairn checkpoint --witness` and a node that
//! pushes its quorum checkpoints to witnesses (`cairn up --witness`).

use std::future::Future;

use anchor_chaincode::merkle::Hash;
use anyhow::bail;

use super::http::post_add_checkpoint;
use super::protocol::{AddCheckpoint, SIZE_CONTENT_TYPE, parse_size};

/// What a witness answered.
#[derive(Debug)]
pub(crate) enum Witnessed {
    /// Its cosignature lines, each ending in a newline.
    Cosigned(String),
    /// It already cosigned this larger size: nothing to add until the log reaches it.
    Ahead(u64),
}

/// Submits the checkpoint `note` of `size` to the witness at `url`: first
/// from size 0; if the witness answers 409 with the size it last cosigned,
/// again with the consistency proof from that size that `prove(old)` gives.
pub(crate) async fn add_checkpoint<F, P>(
    url: &str,
    note: &str,
    size: u64,
    prove: F,
) -> anyhow::Result<Witnessed>
where
    F: FnOnce(u64) -> P,
    P: Future<Output = anyhow::Result<Vec<Hash>>>,
{
    let mut request = AddCheckpoint { old_size: 0, proof: vec![], note: note.to_owned() };
    let mut reply = post_add_checkpoint(url, request.body()).await?;
    if reply.status == 409 && reply.content_type == SIZE_CONTENT_TYPE {
        let Some(old) = reply.text.strip_suffix('\n').and_then(parse_size) else {
            bail!("the witness at {url} answered 409 with a malformed size {:?}", reply.text);
        };
        if old > size {
            return Ok(Witnessed::Ahead(old));
        }
        request.proof = if old == size || old == 0 { vec![] } else { prove(old).await? };
        request.old_size = old;
        reply = post_add_checkpoint(url, request.body()).await?;
    }
    if reply.status != 200 {
        bail!(
            "the witness at {url} refused the checkpoint at size {size}: {} {}",
            reply.status,
            reply.text.trim_end()
        );
    }
    Ok(Witnessed::Cosigned(reply.text))
}
