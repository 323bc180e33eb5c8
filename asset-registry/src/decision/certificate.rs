//! The certificate an approval produces: of the type the service's
//! definition names, to the applicant, issued by the deciding reviewer in the
//! same transaction as the decision, valid from the decision's time. Its
//! content, readable by the holder alone, names the case, the service, the
//! amount and the signed decision document, so a holder can show which
//! decision entitles them.

use access_control::credential::issue::{self, IssueError, Terms};
use access_control::keys::KeyPair;
use anchor_chaincode::Address;
use anchor_chaincode::tx::IssueCertificate;

use super::DecisionDocument;

/// What the certificate is and whom it is for.
#[derive(Clone, Debug)]
pub struct CertificateTerms<'a> {
    /// The certificate type the service's definition names.
    pub certificate_type: &'a str,
    /// What it says, for people.
    pub title: &'a str,
    /// The applicant.
    pub holder: Address,
    /// The applicant's encryption key.
    pub holder_encryption_key: [u8; 32],
    /// How long it is valid from the decision, in milliseconds.
    pub valid_for_ms: u64,
}

/// The issuance an approval carries, signed by `decider`, whose organisation
/// decided `document` (with hash `document_hash`).
pub fn approval_certificate(
    decider: &KeyPair,
    document: &DecisionDocument,
    document_hash: &[u8; 32],
    terms: &CertificateTerms<'_>,
) -> Result<IssueCertificate, IssueError> {
    let content = serde_json::json!({
        "title": terms.title,
        "case_id": document.case_id,
        "service_id": document.service_id,
        "service_version": document.service_version,
        "amount_minor": document.amount_minor,
        "currency": document.currency,
        "decision_document_hash": hex::encode(document_hash),
    });
    issue::issue(
        decider,
        Terms {
            channel: terms.certificate_type.to_owned(),
            issuer_organisation: document.decided_by_organisation.clone(),
            holder: terms.holder,
            valid_from_ms: document.decided_at_ms,
            valid_until_ms: document.decided_at_ms.saturating_add(terms.valid_for_ms),
        },
        &terms.holder_encryption_key,
        content.to_string().as_bytes(),
    )
}
