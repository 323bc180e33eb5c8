//! The reference every signature-bound bench is measured against, in the same
//! run: single-thread Ed25519 verification with the library the node uses
//! (`ed25519-zebra`), over the very signatures the bench produced.

use std::time::Instant;

use anyhow::bail;

/// One signature to check: the signer's public key, the signature and the signed message.
pub(crate) type SignatureCheck = ([u8; 32], ed25519_zebra::Signature, Vec<u8>);

/// Verifications per second of `checks`, one after another on this thread.
/// Every signature must verify: a failure means the bench rebuilt the signed
/// message wrongly, and its ratio would mean nothing.
pub(crate) fn ed25519_rate(checks: &[SignatureCheck]) -> anyhow::Result<f64> {
    let start = Instant::now();
    let mut ok = 0usize;
    for (key, signature, message) in checks {
        let key = ed25519_zebra::VerificationKey::try_from(*key)?;
        if key.verify(signature, message).is_ok() {
            ok += 1;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    if ok != checks.len() {
        bail!(
            "only {ok} of {} reference signatures verified (the signed message layout changed?)",
            checks.len()
        );
    }
    Ok(checks.len() as f64 / elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_signature_and_refuses_a_bad_one() {
        let key = ed25519_zebra::SigningKey::from([9u8; 32]);
        let public: [u8; 32] = ed25519_zebra::VerificationKey::from(&key).into();
        let good: Vec<SignatureCheck> =
            (0..4u8).map(|i| (public, key.sign(&[i]), vec![i])).collect();
        assert!(ed25519_rate(&good).unwrap() > 0.0);
        let mut bad = good.clone();
        bad[2].2 = vec![99];
        assert!(ed25519_rate(&bad).unwrap_err().to_string().contains("only 3 of 4"));
    }
}
