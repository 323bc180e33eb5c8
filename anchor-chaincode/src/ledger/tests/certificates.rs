//! Certificates: issue, renew and revoke, one validation case per line, the
//! channel logs and status lists they build, and channel anchors.

use super::*;
use crate::cert::{self, Statement};

const ISSUER: u8 = 20;
const HOLDER: u8 = 21;
const OTHER_ISSUER: u8 = 22;
const DAY_MS: u64 = 86_400_000;

struct Certs {
    f: Fixture,
    serial: u8,
}

impl Certs {
    fn new() -> Certs {
        let mut f = Fixture::new();
        for (seed, organisation, role) in [
            (ISSUER, "civil", Role::Issuer),
            (HOLDER, "holders", Role::Public),
            (OTHER_ISSUER, "health", Role::Issuer),
        ] {
            let envelope = f.register(seed, organisation, role, &[("ca", CA_ORG)]);
            f.expect(envelope, ValidationCode::Valid, "");
        }
        Certs { f, serial: 0 }
    }

    fn statement(&mut self, issuer: u8, organisation: &str, channel: &str) -> Statement {
        self.serial += 1;
        Statement {
            channel: channel.into(),
            issuer_organisation: organisation.into(),
            holder: address(HOLDER).parse().unwrap(),
            issuer_public_key: public(&key(issuer)),
            content_hash: cert::content_hash(&[1; 16], b"BSc Physics"),
            valid_from_ms: 0,
            valid_until_ms: 365 * DAY_MS,
            previous: None,
            serial: [self.serial; 16],
        }
    }

    fn issue_body(issuer: u8, statement: &Statement) -> pb::IssueCertificate {
        let bytes = statement.to_bytes();
        pb::IssueCertificate {
            issuer_signature: key(issuer).sign(&cert::issuer_message(&bytes)).to_bytes().to_vec(),
            statement: bytes,
            content: Some(pb::EncryptedContent { enc: vec![5; 32], ciphertext: vec![6; 40] }),
        }
    }

    fn issue(&mut self, creator: u8, body: pb::IssueCertificate) -> Vec<u8> {
        self.f.sealed(creator, &[], pb::tx_payload::Body::IssueCertificate(body))
    }

    fn renew(&mut self, creator: u8, body: pb::IssueCertificate) -> Vec<u8> {
        self.f.sealed(creator, &[], pb::tx_payload::Body::RenewCertificate(body))
    }

    fn revoke(&mut self, creator: u8, id: [u8; 32], reason: &str) -> Vec<u8> {
        let body = pb::RevokeCertificate { certificate_id: id.to_vec(), reason: reason.into() };
        self.f.sealed(creator, &[], pb::tx_payload::Body::RevokeCertificate(body))
    }

    fn anchor(
        &mut self,
        channels: Vec<pb::ChannelHead>,
        lists: Vec<pb::StatusListHead>,
    ) -> Vec<u8> {
        let body = pb::AnchorChannels { channels, status_lists: lists };
        self.f.sealed(NODE, &[], pb::tx_payload::Body::AnchorChannels(body))
    }

    /// Issues a valid degree and returns its id.
    fn degree(&mut self) -> [u8; 32] {
        let statement = self.statement(ISSUER, "civil", "degree");
        let envelope = self.issue(ISSUER, Certs::issue_body(ISSUER, &statement));
        self.f.expect(envelope, ValidationCode::Valid, "");
        cert::certificate_id(&statement.to_bytes())
    }
}

#[test]
fn issue_validation_codes() {
    let mut c = Certs::new();
    let good = c.statement(ISSUER, "civil", "degree");
    let body = Certs::issue_body(ISSUER, &good);
    // Only an issuer may issue.
    let envelope = c.issue(PROVIDER, body.clone());
    c.f.expect(envelope, ValidationCode::NotAuthorised, "has role provider");
    // The statement must name the creator's organisation and key.
    let wrong_org = c.statement(ISSUER, "health", "degree");
    let envelope = c.issue(ISSUER, Certs::issue_body(ISSUER, &wrong_org));
    c.f.expect(
        envelope,
        ValidationCode::NotAuthorised,
        "role issuer of the owning organisation \"health\"",
    );
    // A type the genesis does not list for the creator's organisation.
    let unlisted = c.statement(OTHER_ISSUER, "health", "marriage");
    let envelope = c.issue(OTHER_ISSUER, Certs::issue_body(OTHER_ISSUER, &unlisted));
    c.f.expect(
        envelope,
        ValidationCode::NotAuthorised,
        "may be issued only by issuers of [\"civil\"]",
    );
    let unknown_type = c.statement(ISSUER, "civil", "licence");
    let envelope = c.issue(ISSUER, Certs::issue_body(ISSUER, &unknown_type));
    c.f.expect(envelope, ValidationCode::NotAuthorised, "not listed in the genesis issuers");
    let wrong_key = c.statement(OTHER_ISSUER, "civil", "degree");
    let envelope = c.issue(ISSUER, Certs::issue_body(OTHER_ISSUER, &wrong_key));
    c.f.expect(envelope, ValidationCode::InvalidArgument, "issuer public key");
    // A forged issuer signature.
    let mut forged = body.clone();
    forged.issuer_signature[0] ^= 1;
    let envelope = c.issue(ISSUER, forged);
    c.f.expect(envelope, ValidationCode::BadSignature, "issuer signature");
    // Unknown holder.
    let mut stranger = c.statement(ISSUER, "civil", "degree");
    stranger.holder = Address([0xee; 20]);
    let envelope = c.issue(ISSUER, Certs::issue_body(ISSUER, &stranger));
    c.f.expect(envelope, ValidationCode::UnknownIdentity, "holder");
    // Already expired at the transaction's time.
    let mut expired = c.statement(ISSUER, "civil", "degree");
    expired.valid_until_ms = 1_000;
    let envelope = c.issue(ISSUER, Certs::issue_body(ISSUER, &expired));
    c.f.expect(envelope, ValidationCode::InvalidArgument, "would be expired");
    // A bad channel name and a truncated statement.
    let mut bad_channel = Certs::issue_body(ISSUER, &c.statement(ISSUER, "civil", "Degree!"));
    let envelope = c.issue(ISSUER, bad_channel.clone());
    c.f.expect(envelope, ValidationCode::InvalidArgument, "channel");
    bad_channel.statement.truncate(20);
    let envelope = c.issue(ISSUER, bad_channel);
    c.f.expect(envelope, ValidationCode::InvalidArgument, "ends inside");
    // Issuing names no previous certificate; no content is refused.
    let mut renewal_like = c.statement(ISSUER, "civil", "degree");
    renewal_like.previous = Some([1; 32]);
    let envelope = c.issue(ISSUER, Certs::issue_body(ISSUER, &renewal_like));
    c.f.expect(envelope, ValidationCode::InvalidArgument, "renews nothing");
    let mut no_content = body.clone();
    no_content.content = None;
    let envelope = c.issue(ISSUER, no_content);
    c.f.expect(envelope, ValidationCode::InvalidArgument, "encapsulated key");
    // The good one, then the same statement again.
    let envelope = c.issue(ISSUER, body.clone());
    c.f.expect(envelope, ValidationCode::Valid, "");
    let envelope = c.issue(ISSUER, body);
    c.f.expect(envelope, ValidationCode::InvalidArgument, "already exists");
}

#[test]
fn issued_certificates_fill_their_channel_and_status_list() {
    let mut c = Certs::new();
    let first = c.degree();
    let second = c.degree();
    let marriage = c.statement(ISSUER, "civil", "marriage");
    let envelope = c.issue(ISSUER, Certs::issue_body(ISSUER, &marriage));
    c.f.expect(envelope, ValidationCode::Valid, "");
    let ledger = &c.f.ledger;
    let degree = ledger.channel("degree").unwrap();
    assert_eq!(degree.log.size(), 2, "marriages are not in the degree channel");
    assert_eq!(ledger.channel("marriage").unwrap().log.size(), 1);
    let record = ledger.certificate(&second).unwrap();
    assert_eq!((record.leaf_index, record.status_index), (1, 1));
    assert_eq!(ledger.certificate_by_tx(&record.tx_id).unwrap().id, second);
    assert_eq!(
        degree.leaves[1],
        cert::issue_leaf(
            record.block_number,
            &record.tx_id,
            1,
            &record.issuer_signature,
            &record.statement_bytes
        )
    );
    let holder: Address = address(HOLDER).parse().unwrap();
    let mut held: Vec<_> = ledger.holder_certificates(&holder).map(|r| r.id).collect();
    held.sort();
    let mut expected = vec![first, second, cert::certificate_id(&marriage.to_bytes())];
    expected.sort();
    assert_eq!(held, expected);
    assert_eq!(ledger.status_list("civil").unwrap().size, 3);
}

#[test]
fn renew_and_revoke_only_by_the_issuing_organisation() {
    let mut c = Certs::new();
    let id = c.degree();
    let old = c.f.ledger.certificate(&id).unwrap().statement.clone();
    let mut renewal = old.clone();
    renewal.valid_until_ms = 2 * 365 * DAY_MS;
    renewal.previous = Some(id);
    renewal.serial = [0x77; 16];
    // Another organisation's issuer cannot renew or revoke it.
    let mut foreign = renewal.clone();
    foreign.issuer_organisation = "health".into();
    foreign.issuer_public_key = public(&key(OTHER_ISSUER));
    let envelope = c.renew(OTHER_ISSUER, Certs::issue_body(OTHER_ISSUER, &foreign));
    c.f.expect(envelope, ValidationCode::NotIssuer, "only that organisation");
    let envelope = c.revoke(OTHER_ISSUER, id, "fraud");
    c.f.expect(envelope, ValidationCode::NotAuthorised, "owning organisation \"civil\"");
    // A renewal must extend the period and keep the content.
    let mut shorter = renewal.clone();
    shorter.valid_until_ms = old.valid_until_ms;
    let envelope = c.renew(ISSUER, Certs::issue_body(ISSUER, &shorter));
    c.f.expect(envelope, ValidationCode::InvalidArgument, "must extend");
    let mut changed = renewal.clone();
    changed.content_hash = [0; 32];
    let envelope = c.renew(ISSUER, Certs::issue_body(ISSUER, &changed));
    c.f.expect(envelope, ValidationCode::InvalidArgument, "keeps the certificate's type");
    let mut unknown = renewal.clone();
    unknown.previous = Some([9; 32]);
    let envelope = c.renew(ISSUER, Certs::issue_body(ISSUER, &unknown));
    c.f.expect(envelope, ValidationCode::UnknownCertificate, "does not exist");
    // The renewal, then a second renewal of the same old certificate.
    let envelope = c.renew(ISSUER, Certs::issue_body(ISSUER, &renewal));
    c.f.expect(envelope, ValidationCode::Valid, "");
    let new_id = cert::certificate_id(&renewal.to_bytes());
    assert_eq!(c.f.ledger.certificate(&id).unwrap().renewed_by, Some(new_id));
    let mut again = renewal.clone();
    again.previous = Some(id);
    again.serial = [0x78; 16];
    let envelope = c.renew(ISSUER, Certs::issue_body(ISSUER, &again));
    c.f.expect(envelope, ValidationCode::InvalidArgument, "already renewed");
    // Revocation, with a reason, once.
    let envelope = c.revoke(ISSUER, new_id, "");
    c.f.expect(envelope, ValidationCode::InvalidArgument, "reason");
    let envelope = c.revoke(ISSUER, new_id, "degree withdrawn: plagiarism");
    c.f.expect(envelope, ValidationCode::Valid, "");
    let envelope = c.revoke(ISSUER, new_id, "again");
    c.f.expect(envelope, ValidationCode::RevokedCertificate, "already revoked");
    let envelope = c.revoke(ISSUER, [3; 32], "nothing");
    c.f.expect(envelope, ValidationCode::UnknownCertificate, "");
    let record = c.f.ledger.certificate(&new_id).unwrap();
    assert_eq!(record.revoked.as_ref().unwrap().reason, "degree withdrawn: plagiarism");
    let list = c.f.ledger.status_list("civil").unwrap();
    assert_eq!(list.revoked.get(&record.status_index).unwrap(), "degree withdrawn: plagiarism");
    assert_eq!(list.bitstring(), vec![0x40]);
    // The channel holds the issue, the renewal and the revocation.
    let channel = c.f.ledger.channel("degree").unwrap();
    assert_eq!(channel.log.size(), 3);
    assert_eq!(channel.leaves[2][0], cert::LEAF_REVOKE);
}

#[test]
fn anchors_state_only_the_chaincode_own_heads() {
    let mut c = Certs::new();
    let _ = c.degree();
    let _ = c.degree();
    let (size, root) = {
        let log = &c.f.ledger.channel("degree").unwrap().log;
        (log.size(), log.root())
    };
    let list_hash = c.f.ledger.status_list("civil").unwrap().hash("civil");
    let head = |size, root: [u8; 32]| pb::ChannelHead {
        channel: "degree".into(),
        tree_size: size,
        root_hash: root.to_vec(),
    };
    let list = |size, hash: [u8; 32]| pb::StatusListHead {
        issuer_organisation: "civil".into(),
        size,
        list_hash: hash.to_vec(),
    };
    let envelope = c.anchor(vec![], vec![]);
    c.f.expect(envelope, ValidationCode::InvalidArgument, "names nothing");
    let envelope = c.anchor(vec![head(size, [0; 32])], vec![]);
    c.f.expect(envelope, ValidationCode::InconsistentAnchor, "root at size 2");
    let envelope = c.anchor(vec![head(size + 1, root)], vec![]);
    c.f.expect(envelope, ValidationCode::InconsistentAnchor, "at most the channel's size");
    let envelope = c.anchor(vec![], vec![list(1, list_hash)]);
    c.f.expect(envelope, ValidationCode::InconsistentAnchor, "status list of \"civil\"");
    let envelope = c.anchor(vec![head(size, root)], vec![list(size, list_hash)]);
    c.f.expect(envelope, ValidationCode::Valid, "");
    // An anchor must grow the channel; an unchanged status list is not anchored again.
    let envelope = c.anchor(vec![head(size, root)], vec![]);
    c.f.expect(envelope, ValidationCode::InconsistentAnchor, "must grow");
    let envelope = c.anchor(vec![], vec![list(size, list_hash)]);
    c.f.expect(envelope, ValidationCode::InconsistentAnchor, "unchanged");
    // An older size is fine once the channel grew past it.
    let _ = c.degree();
    let _ = c.degree();
    let root_3 = c.f.ledger.channel("degree").unwrap().log.root_at(3).unwrap();
    let envelope = c.anchor(vec![head(3, root_3)], vec![]);
    c.f.expect(envelope, ValidationCode::Valid, "");
    let anchors = &c.f.ledger.channel("degree").unwrap().anchors;
    assert_eq!(anchors.iter().map(|a| a.size).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(c.f.ledger.status_anchors("civil").len(), 1);
}

#[test]
fn replicas_agree_on_certificates() {
    let mut c = Certs::new();
    let mut replica = c.f.ledger.clone();
    let statement = c.statement(ISSUER, "civil", "degree");
    let id = cert::certificate_id(&statement.to_bytes());
    let issue = c.issue(ISSUER, Certs::issue_body(ISSUER, &statement));
    let revoke = c.revoke(ISSUER, id, "lost");
    let record = batch_record(vec![issue, revoke]);
    let block = c.f.ledger.apply_record(c.f.offset, &record).clone();
    assert!(block.receipts.iter().all(|r| r.code == ValidationCode::Valid), "{block:?}");
    assert_eq!(replica.apply_record(c.f.offset, &record).hash, block.hash);
    assert_eq!(replica.state_root(), c.f.ledger.state_root());
    assert!(replica.certificate(&id).unwrap().revoked.is_some());
}
