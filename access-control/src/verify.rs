//! Signature verification on several cores.
//!
//! The chaincode checks signatures through the narrow
//! [`SignatureVerifier`] port so that it stays single-threaded and free of
//! randomness; a node plugs in [`ParallelVerifier`], which checks a block's
//! signatures in random-coefficient batches on several threads.

use anchor_chaincode::sig::{SequentialVerifier, SignatureVerifier};
use ed25519_zebra::batch;
use rand_core::UnwrapErr;

/// Checks a block's signatures in batches on several threads. Because
/// `ed25519-zebra` batch and single verification accept exactly the same
/// signatures (ZIP-215), the verdicts equal [`SequentialVerifier`]'s.
#[derive(Clone, Copy, Debug)]
pub struct ParallelVerifier {
    /// Number of threads.
    pub threads: usize,
}

fn verify_chunk(items: &[batch::Item]) -> Vec<bool> {
    let mut verifier = batch::Verifier::new();
    for item in items {
        verifier.queue(item.clone());
    }
    if verifier.verify(UnwrapErr(getrandom::SysRng)).is_ok() {
        vec![true; items.len()]
    } else {
        // Some signature is bad: find which, one by one.
        items.iter().map(|item| item.clone().verify_single().is_ok()).collect()
    }
}

impl SignatureVerifier for ParallelVerifier {
    fn verify(&self, items: Vec<batch::Item>) -> Vec<bool> {
        if items.len() < 32 || self.threads <= 1 {
            return SequentialVerifier.verify(items);
        }
        let chunk = items.len().div_ceil(self.threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> =
                items.chunks(chunk).map(|c| scope.spawn(move || verify_chunk(c))).collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|_| vec![false; chunk]))
                .collect()
        })
    }
}
