//! Issuing a certificate: the statement the issuer signs, with its content
//! encrypted (HPKE) to the holder alone and bound to the certificate's type
//! and holder.
//!
//! The content is salted before it is hashed into the statement, so the
//! public statement reveals nothing about a guessable content; the serial is
//! random, so equal contents make distinct certificates.

use anchor_chaincode::Address;
use anchor_chaincode::cert::{self, Statement};
use anchor_chaincode::tx::IssueCertificate;
use ed25519_zebra::Signature;

use crate::keys::{KeyPair, random_bytes};
use crate::wrap::{self, WrapError};

/// What an issuer states, besides its own key and the content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terms {
    /// The certificate type, which is its channel.
    pub channel: String,
    /// The issuing organisation.
    pub issuer_organisation: String,
    /// The holder.
    pub holder: Address,
    /// Start of validity, ms since the epoch.
    pub valid_from_ms: u64,
    /// End of validity (exclusive), ms since the epoch.
    pub valid_until_ms: u64,
}

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// No salt or serial could be drawn.
    #[error("cannot draw the certificate's salt or serial: {0}")]
    Random(#[from] crate::Error),
    /// The content could not be encrypted to the holder.
    #[error("cannot encrypt the content to the holder: {0}")]
    Wrap(#[from] WrapError),
}

/// The signed issuance of a certificate with `terms` and `content`, by
/// `issuer`, its content readable only with the holder's encryption key.
pub fn issue(
    issuer: &KeyPair,
    terms: Terms,
    holder_encryption_key: &[u8; 32],
    content: &[u8],
) -> Result<IssueCertificate, IssueError> {
    let salt = random_bytes::<16>()?;
    let wrapped = wrap::wrap(
        holder_encryption_key,
        &[salt.as_slice(), content].concat(),
        &cert::content_context(&terms.channel, &terms.holder),
    )?;
    let statement = Statement {
        channel: terms.channel,
        issuer_organisation: terms.issuer_organisation,
        holder: terms.holder,
        issuer_public_key: issuer.signing_public_key(),
        content_hash: cert::content_hash(&salt, content),
        valid_from_ms: terms.valid_from_ms,
        valid_until_ms: terms.valid_until_ms,
        previous: None,
        serial: random_bytes::<16>()?,
    };
    let bytes = statement.to_bytes();
    let signature: Signature = issuer.signing_key().sign(&cert::issuer_message(&bytes));
    Ok(IssueCertificate {
        issuer_signature: signature.to_bytes(),
        statement: bytes,
        content_enc: wrapped.enc,
        content_ciphertext: wrapped.ciphertext,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuance_verifies_and_only_the_holder_reads_it() {
        let issuer = KeyPair::generate().unwrap();
        let holder = KeyPair::generate().unwrap();
        let terms = Terms {
            channel: "social-assistance".into(),
            issuer_organisation: "civil-affairs".into(),
            holder: holder.address(),
            valid_from_ms: 1_000,
            valid_until_ms: 2_000,
        };
        let issue = issue(&issuer, terms, &holder.encryption_public_key(), b"case c-1").unwrap();
        let statement = Statement::parse(&issue.statement).unwrap();
        assert_eq!(statement.holder, holder.address());
        assert_eq!(statement.issuer_public_key, issuer.signing_public_key());
        let key = ed25519_zebra::VerificationKey::try_from(issuer.signing_public_key()).unwrap();
        key.verify(
            &Signature::from_bytes(&issue.issuer_signature),
            &cert::issuer_message(&issue.statement),
        )
        .unwrap();
        let context = cert::content_context("social-assistance", &holder.address());
        let wrapped = wrap::WrappedKey {
            enc: issue.content_enc.clone(),
            ciphertext: issue.content_ciphertext.clone(),
        };
        let opened = wrap::unwrap(&holder, &wrapped, &context).unwrap();
        let (salt, content) = opened.split_at(16);
        assert_eq!(content, b"case c-1");
        assert_eq!(cert::content_hash(salt.try_into().unwrap(), content), statement.content_hash);
        let stranger = KeyPair::generate().unwrap();
        assert!(wrap::unwrap(&stranger, &wrapped, &context).is_err());
    }
}
