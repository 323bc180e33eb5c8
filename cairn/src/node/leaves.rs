//! The Merkle log's leaves read back: the exact bytes the ledger hashed for
//! each transaction (`anchor_chaincode::ledger::leaf_data`: block number,
//! index in the block, validation code, transaction id, envelope), which the
//! C2SP tlog-tiles entry bundles serve.

use anchor_chaincode::ledger::{self, Ledger};
use anyhow::format_err;

use super::Node;

/// Where a leaf's transaction sits: the block, its log record and the
/// leaf's first index in that block.
struct Span {
    number: u64,
    log_offset: u64,
    first_leaf: u64,
    receipts: Vec<(anchor_chaincode::TxId, anchor_chaincode::ValidationCode)>,
}

/// The number of the block that holds leaf `leaf` (the first block whose
/// log size after it exceeds `leaf`), by binary search over the blocks.
fn block_of_leaf(ledger: &Ledger, leaf: u64) -> Option<u64> {
    let (mut low, mut high) = (0u64, ledger.height());
    while low < high {
        let middle = low + (high - low) / 2;
        if ledger.block(middle)?.header.log_size > leaf {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    (low < ledger.height()).then_some(low)
}

impl Node {
    /// The leaf data of leaves `[start, end)` of the Merkle log, in order;
    /// an error if the log does not hold them all.
    pub(crate) fn leaf_data(&self, start: u64, end: u64) -> anyhow::Result<Vec<Vec<u8>>> {
        // The blocks' places are taken under the lock, the log is read after.
        let spans = {
            let ledger = self.ledger();
            let size = ledger.merkle_log().size();
            if end > size || start > end {
                return Err(format_err!("leaves {start}..{end} are not in a log of {size}"));
            }
            let mut spans = Vec::new();
            let mut leaf = start;
            while leaf < end {
                let number = block_of_leaf(&ledger, leaf)
                    .ok_or_else(|| format_err!("no block holds leaf {leaf}"))?;
                let block =
                    ledger.block(number).ok_or_else(|| format_err!("block {number} is missing"))?;
                let first_leaf = block.header.log_size - u64::from(block.header.tx_count);
                spans.push(Span {
                    number,
                    log_offset: block.header.log_offset,
                    first_leaf,
                    receipts: block.receipts.iter().map(|r| (r.tx_id, r.code)).collect(),
                });
                leaf = block.header.log_size;
            }
            spans
        };
        let mut leaves = Vec::with_capacity(usize::try_from(end - start).unwrap_or(0));
        for span in spans {
            let records = self.log.read(span.log_offset, 1)?;
            let record = records
                .first()
                .ok_or_else(|| format_err!("log record {} is missing", span.log_offset))?;
            // As the ledger applied it: a record that is not a batch is one entry.
            let envelopes = ledger::batch_envelopes(&record.bytes)
                .unwrap_or_else(|| vec![record.bytes.clone()]);
            for (index, ((tx_id, code), envelope)) in
                span.receipts.iter().zip(&envelopes).enumerate()
            {
                let leaf = span.first_leaf + index as u64;
                if leaf < start || leaf >= end {
                    continue;
                }
                let index = u32::try_from(index)
                    .map_err(|_| format_err!("block {} is too large", span.number))?;
                leaves.push(ledger::leaf_data(span.number, index, *code, tx_id, envelope));
            }
        }
        if leaves.len() as u64 != end - start {
            return Err(format_err!(
                "read {} leaves for {start}..{end}: the log and the ledger disagree",
                leaves.len()
            ));
        }
        Ok(leaves)
    }
}
