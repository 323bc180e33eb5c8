//! Signature checks, separated from their execution so a node can verify a
//! block's signatures in a batch on several cores while the chaincode stays
//! single-threaded and deterministic.
//!
//! Verification follows ZIP-215 (`ed25519-zebra`): single and batch
//! verification accept exactly the same signatures, so a replica that checks
//! one by one and a replica that checks in batches agree on every transaction,
//! valid or crafted. That is why the ledger uses `ed25519-zebra` rather than a
//! verifier whose batch and single checks may disagree on edge cases.

pub use ed25519_zebra::batch::Item;
use ed25519_zebra::{Signature, VerificationKeyBytes};

/// One signature to check.
pub fn item(public_key: &[u8; 32], signature: &[u8; 64], message: &[u8]) -> Item {
    Item::from((VerificationKeyBytes::from(*public_key), Signature::from_bytes(signature), message))
}

/// Checks signatures; must return exactly the verdicts of [`SequentialVerifier`].
pub trait SignatureVerifier {
    /// One verdict per item, in order.
    fn verify(&self, items: Vec<Item>) -> Vec<bool>;
}

/// Checks each signature alone, on the calling thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct SequentialVerifier;

impl SignatureVerifier for SequentialVerifier {
    fn verify(&self, items: Vec<Item>) -> Vec<bool> {
        items.into_iter().map(|item| item.verify_single().is_ok()).collect()
    }
}
