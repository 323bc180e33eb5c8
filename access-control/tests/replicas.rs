//! Property test: random sequences of valid and invalid transactions, cut into
//! random blocks, applied by two independent replicas — one checking
//! signatures one by one, one in parallel batches — give identical block
//! hashes and state roots after every block.

use access_control::verify::ParallelVerifier;
use anchor_chaincode::genesis::{Genesis, Organisation};
use anchor_chaincode::ledger::{self, Ledger};
use anchor_chaincode::sig::SequentialVerifier;
use anchor_chaincode::tx::{TxDraft, seal};
use anchor_chaincode::{Address, ValidationCode};
use cairn_schemas::v1 as pb;
use ed25519_zebra::SigningKey;
use proptest::prelude::*;

const ORGS: [&str; 3] = ["ca", "health", "civil"];
const N_PEOPLE: u8 = 6;

fn key(seed: u8) -> SigningKey {
    SigningKey::from([seed; 32])
}

fn public(seed: u8) -> [u8; 32] {
    <[u8; 32]>::from(key(seed).verification_key())
}

/// Organisation keys use seeds 1..=3; people use seeds 10..10+N_PEOPLE.
fn genesis() -> Vec<u8> {
    let organisations = ORGS
        .iter()
        .enumerate()
        .map(|(i, name)| Organisation {
            name: (*name).into(),
            description: String::new(),
            public_key: hex::encode(public(i as u8 + 1)),
        })
        .collect();
    ledger::genesis_record(&Genesis::new("prop", organisations, "ca"))
}

/// One randomly chosen operation; each becomes one envelope (valid or not).
#[derive(Clone, Debug)]
enum Op {
    Register { person: u8, org: u8, endorser: u8 },
    Publish { person: u8, asset: u8, version: u64 },
    Share { person: u8, asset: u8, authorised: Vec<u8> },
    FlipSignature { person: u8, asset: u8 },
    Garbage(Vec<u8>),
    RepeatLast,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..N_PEOPLE, 0..3u8, 0..4u8).prop_map(|(person, org, endorser)| Op::Register { person, org, endorser }),
        4 => (0..N_PEOPLE, 0..4u8, 0..6u64).prop_map(|(person, asset, version)| Op::Publish { person, asset, version }),
        2 => (0..N_PEOPLE, 0..4u8, proptest::collection::vec(0..N_PEOPLE + 1, 0..4))
            .prop_map(|(person, asset, authorised)| Op::Share { person, asset, authorised }),
        1 => (0..N_PEOPLE, 0..4u8).prop_map(|(person, asset)| Op::FlipSignature { person, asset }),
        1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(Op::Garbage),
        1 => Just(Op::RepeatLast),
    ]
}

fn envelopes(ops: &[Op]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for (nonce, op) in ops.iter().enumerate() {
        let draft = |body| TxDraft {
            chain_id: "prop".into(),
            nonce: (nonce as u64).to_be_bytes().to_vec(),
            timestamp_ms: nonce as u64,
            body,
        };
        let person_seed = |person: u8| 10 + person;
        let envelope = match op {
            Op::Register { person, org, endorser } => {
                let seed = person_seed(*person);
                let body = pb::tx_payload::Body::RegisterIdentity(pb::RegisterIdentity {
                    name: format!("person {person}"),
                    organisation: ORGS[*org as usize].into(),
                    role: pb::Role::Provider.into(),
                    signing_public_key: public(seed).to_vec(),
                    encryption_public_key: vec![seed; 32],
                    reviewer_role: String::new(),
                });
                // Endorser 0..3 is an organisation key claiming to be the CA; 3 means none.
                let endorser_key = key(*endorser + 1);
                let endorsers: Vec<(&str, &SigningKey)> =
                    if *endorser < 3 { vec![("ca", &endorser_key)] } else { vec![] };
                seal(draft(body).payload(&public(seed)), &key(seed), &endorsers)
            }
            Op::Publish { person, asset, .. } | Op::FlipSignature { person, asset } => {
                let version = if let Op::Publish { version, .. } = op { *version } else { 1 };
                let seed = person_seed(*person);
                let body = pb::tx_payload::Body::PublishAsset(pb::PublishAsset {
                    asset_id: format!("asset-{asset}"),
                    version,
                    data_type: pb::DataType::Unstructured.into(),
                    hash_algorithm: "sha256".into(),
                    content_hash: vec![*asset; 32],
                    size_bytes: version,
                    metadata: vec![],
                });
                let mut envelope = seal(draft(body).payload(&public(seed)), &key(seed), &[]);
                if matches!(op, Op::FlipSignature { .. }) {
                    // The signature is the last field; flip its last byte.
                    let last = envelope.len() - 1;
                    envelope[last] ^= 0x40;
                }
                envelope
            }
            Op::Share { person, asset, authorised } => {
                let seed = person_seed(*person);
                let authorised = authorised
                    .iter()
                    .map(|p| {
                        if *p == N_PEOPLE {
                            "zz".to_string()
                        } else {
                            Address::of_public_key(&public(person_seed(*p))).to_string()
                        }
                    })
                    .collect();
                let body = pb::tx_payload::Body::SetSharingRules(pb::SetSharingRules {
                    asset_id: format!("asset-{asset}"),
                    authorised,
                });
                seal(draft(body).payload(&public(seed)), &key(seed), &[])
            }
            Op::Garbage(bytes) => bytes.clone(),
            Op::RepeatLast => out.last().cloned().unwrap_or_default(),
        };
        out.push(envelope);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn replicas_agree(ops in proptest::collection::vec(op(), 1..160), cuts in proptest::collection::vec(1usize..80, 1..6)) {
        let envelopes = envelopes(&ops);
        let genesis = genesis();
        let mut sequential = Ledger::from_genesis_record(0, &genesis).unwrap();
        let mut parallel = Ledger::from_genesis_record(0, &genesis).unwrap();
        let verifier = ParallelVerifier { threads: 2 };
        let mut rest = envelopes.as_slice();
        let mut offset = 1;
        let mut cut = cuts.iter().cycle();
        let mut n_valid = 0;
        while !rest.is_empty() {
            let take = (*cut.next().unwrap()).min(rest.len());
            let record = ledger::batch_record(rest[..take].to_vec());
            rest = &rest[take..];
            let a = sequential.apply_record_with(offset, &record, &SequentialVerifier).clone();
            let b = parallel.apply_record_with(offset, &record, &verifier).clone();
            prop_assert_eq!(a.hash, b.hash, "block {} differs", a.header.number);
            prop_assert_eq!(a.header.state_root, b.header.state_root);
            prop_assert_eq!(&a.receipts, &b.receipts);
            n_valid += a.receipts.iter().filter(|r| r.code == ValidationCode::Valid).count();
            offset += 1;
        }
        prop_assert_eq!(sequential.merkle_log().root(), parallel.merkle_log().root());
        prop_assert_eq!(sequential.merkle_log().size(), envelopes.len() as u64);
        // The generator must exercise both outcomes, or the test proves little.
        prop_assume!(n_valid > 0);
    }
}

#[test]
fn batch_and_single_verification_agree_on_bad_signatures() {
    let good: Vec<_> = (0..64u8)
        .map(|i| {
            let message = [i; 40];
            anchor_chaincode::sig::item(&public(i), &key(i).sign(&message).to_bytes(), &message)
        })
        .collect();
    let mut items = good.clone();
    let mut bad_signature = key(7).sign(&[7; 40]).to_bytes();
    bad_signature[0] ^= 1;
    items[7] = anchor_chaincode::sig::item(&public(7), &bad_signature, &[7; 40]);
    items[50] =
        anchor_chaincode::sig::item(&public(50), &key(50).sign(b"other").to_bytes(), &[50; 40]);
    use anchor_chaincode::sig::SignatureVerifier;
    let single = SequentialVerifier.verify(items.clone());
    let batched = ParallelVerifier { threads: 2 }.verify(items);
    assert_eq!(single, batched);
    assert_eq!(single.iter().filter(|ok| !**ok).count(), 2);
    assert!(!single[7] && !single[50]);
    assert!(ParallelVerifier { threads: 2 }.verify(good).iter().all(|ok| *ok));
}
