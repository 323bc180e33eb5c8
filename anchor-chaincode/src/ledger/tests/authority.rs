//! The adversarial authority matrix: every role of every organisation
//! relation (own, other, the certification authority, the operator, the
//! holders) tries to create every transaction type, with and without the
//! most powerful endorsements, and tries to endorse a registration.
//!
//! The expected answer of each cell is written out here from the authority
//! table of the issue, independently of `crate::authority`, so that a rule
//! that grows wider than the table fails this test. Exactly the allowed cells
//! are valid; every other cell is refused with a code and a message that
//! name the missing authority, and the state root does not move.

use super::*;
use crate::cert::{self, Statement};
use crate::tx::plan_to_pb;

const CA: &str = "ca";
const OPS: &str = "ops";
const OWN: &str = "own";
const OTHER: &str = "other";
const HOLDERS: &str = "holders";
/// Every organisation relation, with the seed of its genesis key (none for
/// the holders, who have no key).
const RELATIONS: [(&str, Option<u8>); 5] =
    [(CA, Some(1)), (OPS, Some(2)), (OWN, Some(3)), (OTHER, Some(4)), (HOLDERS, None)];
const ASSET: &str = "own/data";
const CHANNEL: &str = "licence";
const DAY_MS: u64 = 86_400_000;

/// What the issue allows, written out cell by cell.
fn allowed(tx_type: TxType, organisation: &str, role: Role) -> bool {
    match tx_type {
        TxType::RegisterIdentity => unreachable!("registration is tried by endorser"),
        TxType::RevokeIdentity => organisation == CA && role == Role::CertificationAuthority,
        TxType::PublishAsset | TxType::SetSharingRules => {
            organisation == OWN && role == Role::Provider
        }
        TxType::IssueCertificate | TxType::RenewCertificate | TxType::RevokeCertificate => {
            organisation == OWN && role == Role::Issuer
        }
        TxType::AnchorAccessEvents | TxType::AnchorChannels => role == Role::Node,
        TxType::OpenAccount | TxType::TopUp | TxType::ChangePlan => {
            organisation == OPS && role == Role::Operator
        }
        TxType::ChangeConsortium => unreachable!("consortium changes: tests/consortium.rs"),
        TxType::DefineService | TxType::CaseAction => {
            unreachable!("services and cases: tests/cases.rs")
        }
    }
}

/// Which identities may exist at all.
fn registrable(organisation: &str, role: Role) -> bool {
    match role {
        Role::Public => organisation == HOLDERS,
        _ if organisation == HOLDERS => false,
        Role::CertificationAuthority => organisation == CA,
        Role::Operator => organisation == OPS,
        Role::Node => organisation != CA,
        _ => true,
    }
}

struct World {
    f: Fixture,
    /// (organisation, role) → key seed of the registered identity.
    members: BTreeMap<(String, Role), u8>,
    certificate: [u8; 32],
}

fn seed_of(org_idx: usize, role_idx: usize) -> u8 {
    100 + (org_idx * Role::ALL.len() + role_idx) as u8
}

impl World {
    fn new() -> World {
        let org = |name: &str, seed: u8| Organisation {
            name: name.into(),
            description: String::new(),
            public_key: hex::encode(public(&key(seed))),
        };
        let organisations =
            RELATIONS.iter().filter_map(|(name, seed)| seed.map(|s| org(name, s))).collect();
        let mut genesis = Genesis::new("test-chain", organisations, CA);
        genesis.operator = OPS.into();
        genesis.issuers = [(CHANNEL.to_owned(), vec![OWN.to_owned()])].into();
        let ledger = Ledger::from_genesis_record(0, &genesis_record(&genesis)).unwrap();
        let mut f = Fixture { ledger, offset: 1, nonce: 0 };
        let mut members = BTreeMap::new();
        for (org_idx, (organisation, _)) in RELATIONS.iter().enumerate() {
            for (role_idx, role) in Role::ALL.into_iter().enumerate() {
                let seed = seed_of(org_idx, role_idx);
                // A node is also endorsed by its own organisation's key.
                let endorsers: &[(&str, u8)] = match RELATIONS[org_idx].1 {
                    Some(own) if matches!(role, Role::Node | Role::Reviewer) && own != 1 => {
                        &[(CA, 1), (*organisation, own)]
                    }
                    _ => &[(CA, 1)],
                };
                let envelope = f.register(seed, organisation, role, endorsers);
                if registrable(organisation, role) {
                    f.expect(envelope, ValidationCode::Valid, "");
                    let _ = members.insert((organisation.to_string(), role), seed);
                } else {
                    f.expect(envelope, ValidationCode::NotAuthorised, "");
                }
            }
        }
        let mut world = World { f, members, certificate: [0; 32] };
        // The state every cell acts on: an asset owned by `own`, a certificate
        // issued by `own`, and an account for a verifier of `other`.
        let provider = world.member(OWN, Role::Provider);
        let envelope = world.f.publish(provider, ASSET, 1);
        world.f.expect(envelope, ValidationCode::Valid, "");
        let issuer = world.member(OWN, Role::Issuer);
        let statement = world.statement(issuer, OWN, None, 1);
        world.certificate = cert::certificate_id(&statement.to_bytes());
        let body = world.cert_body(issuer, &statement);
        let envelope = world.f.sealed(issuer, &[], pb::tx_payload::Body::IssueCertificate(body));
        world.f.expect(envelope, ValidationCode::Valid, "");
        let operator = world.member(OPS, Role::Operator);
        let body = world.open_body(OTHER);
        let envelope = world.f.sealed(operator, &[], body);
        world.f.expect(envelope, ValidationCode::Valid, "");
        world
    }

    fn member(&self, organisation: &str, role: Role) -> u8 {
        self.members[&(organisation.to_owned(), role)]
    }

    fn statement(
        &self,
        issuer: u8,
        organisation: &str,
        previous: Option<[u8; 32]>,
        serial: u8,
    ) -> Statement {
        Statement {
            channel: CHANNEL.into(),
            issuer_organisation: organisation.into(),
            holder: Address::of_public_key(&public(&key(self.member(HOLDERS, Role::Public)))),
            issuer_public_key: public(&key(issuer)),
            content_hash: cert::content_hash(&[1; 16], b"driving licence"),
            valid_from_ms: 0,
            valid_until_ms: if previous.is_some() { 730 * DAY_MS } else { 365 * DAY_MS },
            previous,
            serial: [serial; 16],
        }
    }

    fn cert_body(&self, issuer: u8, statement: &Statement) -> pb::IssueCertificate {
        let bytes = statement.to_bytes();
        pb::IssueCertificate {
            issuer_signature: key(issuer).sign(&cert::issuer_message(&bytes)).to_bytes().to_vec(),
            statement: bytes,
            content: Some(pb::EncryptedContent { enc: vec![5; 32], ciphertext: vec![6; 40] }),
        }
    }

    fn open_body(&self, verifier_organisation: &str) -> pb::tx_payload::Body {
        let holder = Address::of_public_key(&public(&key(
            self.member(verifier_organisation, Role::Verifier)
        )));
        pb::tx_payload::Body::OpenAccount(pb::OpenAccount {
            holder: holder.to_string(),
            currency: "EUR".into(),
            plan: Some(plan_to_pb(&crate::billing::Plan {
                price_per_query: 5,
                price_per_mib: 2,
                free_queries_per_month: 10,
                free_mib_per_month: 1,
                payment: crate::billing::Payment::Prepaid,
                rate_limit_per_second: 5,
            })),
        })
    }

    /// A transaction of `tx_type` by `creator` of `organisation` that is valid
    /// in every respect but, possibly, the creator's authority.
    fn body(&self, tx_type: TxType, creator: u8, organisation: &str) -> pb::tx_payload::Body {
        use pb::tx_payload::Body;
        let verifier = |organisation| {
            Address::of_public_key(&public(&key(self.member(organisation, Role::Verifier))))
                .to_string()
        };
        match tx_type {
            TxType::RegisterIdentity => unreachable!("registration is tried by endorser"),
            TxType::ChangeConsortium => unreachable!("consortium changes: tests/consortium.rs"),
            TxType::DefineService | TxType::CaseAction => {
                unreachable!("services and cases: tests/cases.rs")
            }
            TxType::RevokeIdentity => Body::RevokeIdentity(pb::RevokeIdentity {
                address: Address::of_public_key(&public(&key(self.member(OTHER, Role::Consumer))))
                    .to_string(),
                reason: "cell".into(),
            }),
            TxType::PublishAsset => Body::PublishAsset(pb::PublishAsset {
                asset_id: ASSET.into(),
                version: 2,
                data_type: pb::DataType::Structured.into(),
                hash_algorithm: "sha256".into(),
                content_hash: vec![8; 32],
                size_bytes: 1,
                metadata: b"{}".to_vec(),
            }),
            TxType::SetSharingRules => Body::SetSharingRules(pb::SetSharingRules {
                asset_id: ASSET.into(),
                authorised: vec![verifier(OTHER)],
            }),
            TxType::AnchorAccessEvents => {
                let mut log = MerkleLog::new();
                let _ = log.push(merkle::leaf_hash(b"event"));
                Body::AnchorAccessEvents(pb::AnchorAccessEvents {
                    tree_size: 1,
                    root_hash: log.root().to_vec(),
                    consistency_proof: Vec::new(),
                })
            }
            TxType::IssueCertificate => Body::IssueCertificate(
                self.cert_body(creator, &self.statement(creator, organisation, None, 2)),
            ),
            TxType::RenewCertificate => Body::RenewCertificate(self.cert_body(
                creator,
                &self.statement(creator, organisation, Some(self.certificate), 3),
            )),
            TxType::RevokeCertificate => Body::RevokeCertificate(pb::RevokeCertificate {
                certificate_id: self.certificate.to_vec(),
                reason: "cell".into(),
            }),
            TxType::AnchorChannels => {
                let channel = self.f.ledger.channel(CHANNEL).unwrap();
                Body::AnchorChannels(pb::AnchorChannels {
                    channels: vec![pb::ChannelHead {
                        channel: CHANNEL.into(),
                        tree_size: 1,
                        root_hash: channel.log.root_at(1).unwrap().to_vec(),
                    }],
                    status_lists: Vec::new(),
                })
            }
            TxType::OpenAccount => self.open_body(OWN),
            TxType::TopUp => Body::TopUp(pb::TopUp {
                holder: verifier(OTHER),
                currency: "EUR".into(),
                amount: 100_000_000,
                reference: "cell".into(),
            }),
            TxType::ChangePlan => Body::ChangePlan(pb::ChangePlan {
                holder: verifier(OTHER),
                plan: Some(plan_to_pb(&crate::billing::Plan {
                    price_per_query: 0,
                    price_per_mib: 0,
                    free_queries_per_month: 0,
                    free_mib_per_month: 0,
                    payment: crate::billing::Payment::Postpaid,
                    rate_limit_per_second: 1,
                })),
            }),
        }
    }
}

/// Applies one envelope to a copy of the world and returns its receipt,
/// checking that a refused one left the state root where it was.
fn attempt(world: &World, envelope: Vec<u8>) -> Receipt {
    let mut ledger = world.f.ledger.clone();
    let before = ledger.state_root();
    let receipt =
        ledger.apply_record(world.f.offset, &batch_record(vec![envelope])).receipts[0].clone();
    if receipt.code != ValidationCode::Valid {
        assert_eq!(ledger.state_root(), before, "a refused cell moved the state: {receipt:?}");
    }
    receipt
}

fn assert_refused_naming_authority(receipt: &Receipt, cell: &str) {
    let names_authority = match receipt.code {
        ValidationCode::NotAuthorised => {
            receipt.message.contains("may be created only by")
                || receipt.message.contains("may be issued only by")
        }
        ValidationCode::NotOwner => {
            receipt.message.contains("owned by organisation")
                || receipt.message.contains("only organisation")
        }
        ValidationCode::EndorsementPolicyFailure => {
            receipt.message.contains("requires endorsement by")
        }
        _ => false,
    };
    assert!(names_authority, "{cell}: refused with {} {:?}", receipt.code, receipt.message);
}

#[test]
fn every_role_of_every_relation_creates_exactly_what_it_may() {
    let mut world = World::new();
    let mut n_valid = 0;
    let mut n_refused = 0;
    // Registrations are tried by endorser below; consortium changes, whose
    // endorsements are counted in organisations, in `tests/consortium.rs`.
    for tx_type in TxType::ALL.into_iter().filter(|t| {
        !matches!(
            t,
            TxType::RegisterIdentity
                | TxType::ChangeConsortium
                | TxType::DefineService
                | TxType::CaseAction
        )
    }) {
        for (organisation, _) in RELATIONS {
            for role in Role::ALL {
                let Some(&creator) = world.members.get(&(organisation.to_owned(), role)) else {
                    continue;
                };
                // The most powerful endorsements there are must not lend
                // the creator any authority.
                for endorsers in [&[][..], &[(CA, 1u8), (OPS, 2u8)][..]] {
                    let body = world.body(tx_type, creator, organisation);
                    let envelope = world.f.sealed(creator, endorsers, body);
                    let receipt = attempt(&world, envelope);
                    let cell = format!(
                        "{tx_type} by {role} of {organisation} with {} endorsements",
                        endorsers.len()
                    );
                    if allowed(tx_type, organisation, role) {
                        assert_eq!(
                            receipt.code,
                            ValidationCode::Valid,
                            "{cell}: {}",
                            receipt.message
                        );
                        n_valid += 1;
                    } else {
                        assert_refused_naming_authority(&receipt, &cell);
                        n_refused += 1;
                    }
                }
            }
        }
    }
    // 11 types × 30 identities × 2 endorsement sets: 15 allowed cells of each
    // set (three node identities for each anchor type), so a change in the
    // world's size or the table must be deliberate. Reviewers create none of
    // these types.
    assert_eq!((n_valid, n_refused), (30, 630));
    // A new asset id may be claimed by a provider of any department, and by nobody else.
    for ((organisation, role), &creator) in world.members.clone().iter() {
        let envelope = world.f.publish(creator, &format!("{organisation}/new"), 1);
        let receipt = attempt(&world, envelope);
        if *role == Role::Provider {
            assert_eq!(receipt.code, ValidationCode::Valid, "{}", receipt.message);
        } else {
            assert_refused_naming_authority(
                &receipt,
                &format!("claim by {role} of {organisation}"),
            );
        }
    }
}

#[test]
fn only_the_certification_authority_role_endorses_a_registration() {
    let mut world = World::new();
    let mut endorsers: Vec<(String, &str, u8)> = RELATIONS
        .iter()
        .filter_map(|(name, seed)| seed.map(|s| (format!("genesis key of {name}"), *name, s)))
        .collect();
    for ((organisation, role), &seed) in &world.members {
        let name = RELATIONS.iter().find(|(n, _)| n == organisation).unwrap().0;
        endorsers.push((format!("{role} of {organisation}"), name, seed));
    }
    let mut n_valid = 0;
    for (who, organisation, seed) in endorsers {
        let valid = organisation == CA
            && (who.starts_with("genesis key") || who.starts_with("certification_authority"));
        let envelope = world.f.register(250, OTHER, Role::Consumer, &[(organisation, seed)]);
        let receipt = attempt(&world, envelope);
        if valid {
            assert_eq!(receipt.code, ValidationCode::Valid, "{who}: {}", receipt.message);
            n_valid += 1;
        } else {
            assert_refused_naming_authority(&receipt, &format!("registration endorsed by {who}"));
        }
        // Claiming another organisation's name does not help either.
        let envelope = world.f.register(250, OTHER, Role::Consumer, &[(CA, seed)]);
        let receipt = attempt(&world, envelope);
        if !valid {
            assert_refused_naming_authority(&receipt, &format!("{who} claiming the CA"));
        }
    }
    assert_eq!(n_valid, 2, "the CA's genesis key and its certification authority officer");
    // A revoked officer no longer endorses.
    let officer = world.member(CA, Role::CertificationAuthority);
    let revoke = pb::tx_payload::Body::RevokeIdentity(pb::RevokeIdentity {
        address: Address::of_public_key(&public(&key(officer))).to_string(),
        reason: "left".into(),
    });
    let envelope = world.f.sealed(officer, &[], revoke);
    world.f.expect(envelope, ValidationCode::Valid, "");
    let envelope = world.f.register(250, OTHER, Role::Consumer, &[(CA, officer)]);
    world.f.expect(envelope, ValidationCode::EndorsementPolicyFailure, "revoked");
}

#[test]
fn too_many_or_repeated_endorsements_are_malformed() {
    let mut world = World::new();
    let endorsers: Vec<(&str, u8)> = (0..17).map(|i| (CA, 200 + i)).collect();
    let envelope = world.f.register(250, OTHER, Role::Consumer, &endorsers);
    world.f.expect(
        envelope,
        ValidationCode::Malformed,
        "17 endorsements, more than the limit of 16",
    );
    let envelope = world.f.register(250, OTHER, Role::Consumer, &[(CA, 1), (OPS, 1)]);
    world.f.expect(envelope, ValidationCode::Malformed, "repeats the key");
}
