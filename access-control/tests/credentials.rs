//! Offline verification without a node: a channel of a few certificates, its
//! checkpoint and a status list signed by a test key, and one line per case
//! checking which check fails and why.

use std::collections::BTreeMap;

use access_control::credential::presentation::{self, Presentation};
use access_control::credential::status::{
    self, OpenedStatusList, RevokedIdentity, SignedRevokedIdentities, SignedStatusList,
};
use access_control::credential::verify::{self, CheckpointCache, Expectations, Report};
use anchor_chaincode::cert::{self, Statement, StatusList};
use anchor_chaincode::checkpoint::{Checkpoint, NoteSigner, NoteVerifier};
use anchor_chaincode::merkle::{self, MerkleLog};
use anchor_chaincode::{Address, TxId};
use ed25519_zebra::SigningKey;
use serde_bytes::ByteBuf;

const NOW: u64 = 1_800_000_000_000;
const DAY: u64 = 86_400_000;

struct World {
    signer: NoteSigner,
    presentations: Vec<Presentation>,
    holder: SigningKey,
}

fn world() -> World {
    let issuer = SigningKey::from([1; 32]);
    let holder = SigningKey::from([2; 32]);
    let holder_address = Address::of_public_key(&<[u8; 32]>::from(holder.verification_key()));
    let signer = NoteSigner::new("test.local/chain", [3; 32]).unwrap();
    let mut log = MerkleLog::new();
    let mut leaves = Vec::new();
    for idx in 0..3u8 {
        let statement = Statement {
            channel: "degree".into(),
            issuer_organisation: "civil".into(),
            holder: holder_address,
            issuer_public_key: <[u8; 32]>::from(issuer.verification_key()),
            content_hash: cert::content_hash(&[idx; 16], b"BSc"),
            valid_from_ms: NOW - DAY,
            valid_until_ms: NOW + 365 * DAY,
            previous: None,
            serial: [idx; 16],
        }
        .to_bytes();
        let signature = issuer.sign(&cert::issuer_message(&statement)).to_bytes();
        let leaf = cert::issue_leaf(
            10 + u64::from(idx),
            &TxId([idx; 32]),
            u64::from(idx),
            &signature,
            &statement,
        );
        let _ = log.push(merkle::leaf_hash(&leaf));
        leaves.push((statement, signature, idx));
    }
    let note = signer.sign(&Checkpoint {
        origin: cert::channel_origin("test.local/chain", "degree"),
        size: log.size(),
        root: log.root(),
        extensions: Vec::new(),
    });
    let presentations = leaves
        .into_iter()
        .map(|(statement, signature, idx)| {
            let mut p = Presentation {
                statement,
                issuer_signature: signature.to_vec(),
                issue_tx: vec![idx; 32],
                block: 10 + u64::from(idx),
                status_index: u64::from(idx),
                leaf_index: u64::from(idx),
                proof: log
                    .inclusion_proof(u64::from(idx), log.size())
                    .unwrap()
                    .into_iter()
                    .map(|h| ByteBuf::from(h.to_vec()))
                    .collect(),
                checkpoint: note.clone(),
                ..Presentation::default()
            };
            p.sign_as_holder(&holder, NOW - 1000, b"");
            p
        })
        .collect();
    World { signer, presentations, holder }
}

fn status_list(w: &World, size: u64, revoked: &[(u64, &str)], as_of: u64) -> OpenedStatusList {
    status_list_revoking(w, size, revoked, as_of, &[])
}

/// A status list that also names `revoked_identities` (address, reason).
fn status_list_revoking(
    w: &World,
    size: u64,
    revoked: &[(u64, &str)],
    as_of: u64,
    revoked_identities: &[(Address, &str)],
) -> OpenedStatusList {
    let list = StatusList {
        size,
        revoked: revoked.iter().map(|(i, r)| (*i, r.to_string())).collect::<BTreeMap<_, _>>(),
    };
    let note = w.signer.sign(&Checkpoint {
        origin: cert::status_origin("test.local/chain", "civil"),
        size,
        root: list.hash("civil"),
        extensions: access_control::credential::status::note_extensions(
            as_of,
            &"ab".repeat(32),
            12,
        ),
    });
    let signed = SignedStatusList::new("civil", &list, note)
        .unwrap()
        .with_revoked_identities(signed_revoked_identities(w, revoked_identities, as_of));
    signed.open(&[w.signer.verifier()]).unwrap()
}

/// The node's note over revoked identities, signed at `as_of`.
fn signed_revoked_identities(
    w: &World,
    revoked: &[(Address, &str)],
    as_of: u64,
) -> SignedRevokedIdentities {
    let revoked: Vec<RevokedIdentity> = revoked
        .iter()
        .map(|(address, reason)| RevokedIdentity {
            address: address.to_string(),
            reason: reason.to_string(),
        })
        .collect();
    let signed_note = w.signer.sign(&Checkpoint {
        origin: status::revoked_identities_origin("test.local/chain"),
        size: revoked.len() as u64,
        root: status::revoked_identities_hash(&revoked),
        extensions: vec![format!("time {as_of}")],
    });
    SignedRevokedIdentities { revoked, signed_note }
}

fn check(
    w: &World,
    p: &Presentation,
    list: &OpenedStatusList,
    edit: impl FnOnce(&mut Expectations<'_>),
) -> Report {
    let trusted: Vec<NoteVerifier> = vec![w.signer.verifier()];
    let issuers: BTreeMap<String, Vec<String>> =
        [("degree".to_owned(), vec!["civil".to_owned()])].into();
    let mut expect = Expectations {
        trusted: &trusted,
        authorised_issuers: &issuers,
        now_ms: NOW,
        challenge: None,
        max_presentation_age_ms: 60_000,
        channel: Some("degree"),
        issuer_organisation: Some("civil"),
        holder: None,
        status_list: Ok(list),
        max_status_age_ms: DAY,
    };
    edit(&mut expect);
    // Through the text encoding, with and without batching: the same report.
    let decoded = presentation::decode(&presentation::encode(p).unwrap()).unwrap();
    let single = verify::verify(&decoded, &expect);
    let batched = verify::verify_with_cache(&decoded, &expect, &mut CheckpointCache::batched());
    assert_eq!(single, batched);
    single
}

#[track_caller]
fn fails(report: &Report, check: &str, detail: &str) {
    let failed = report.first_failure().unwrap_or_else(|| panic!("valid: {report:#?}"));
    assert_eq!(failed.check, check, "{report:#?}");
    assert!(failed.detail.contains(detail), "{:?} does not contain {detail:?}", failed.detail);
}

#[test]
fn each_failure_names_its_check() {
    let w = world();
    let list = status_list(&w, 3, &[(2, "withdrawn")], NOW - 60_000);
    let good = &w.presentations[0];
    let report = check(&w, good, &list, |_| {});
    assert!(report.valid, "{report:#?}");
    assert_eq!(report.status_list_age_ms, Some(60_000));

    fails(&check(&w, &w.presentations[2], &list, |_| {}), "revocation", "revoked: withdrawn");
    let mut forged = good.clone();
    forged.issuer_signature[0] ^= 1;
    fails(&check(&w, &forged, &list, |_| {}), "issuer signature", "forged");
    let mut stolen = good.clone();
    stolen.sign_as_holder(&SigningKey::from([9; 32]), NOW - 1000, b"");
    fails(&check(&w, &stolen, &list, |_| {}), "holder signature", "another holder's certificate");
    let mut replayed = good.clone();
    replayed.sign_as_holder(&w.holder, NOW - 10 * 60_000, b"");
    fails(&check(&w, &replayed, &list, |_| {}), "challenge", "more than the");
    fails(
        &check(&w, good, &list, |e| e.challenge = Some(b"nonce")),
        "challenge",
        "another challenge",
    );
    let mut moved = good.clone();
    moved.leaf_index = 1;
    fails(&check(&w, &moved, &list, |_| {}), "inclusion proof", "not in the channel's log");
    fails(&check(&w, good, &list, |e| e.channel = Some("marriage")), "channel", "wrong channel");
    fails(
        &check(&w, good, &list, |e| e.issuer_organisation = Some("health")),
        "issuer",
        "not \"health\"",
    );
    fails(&check(&w, good, &list, |e| e.trusted = &[]), "checkpoint", "trusted");
    // A certificate from an organisation the chain does not list for its type.
    let health_only: &'static BTreeMap<String, Vec<String>> =
        Box::leak(Box::new([("degree".to_owned(), vec!["health".to_owned()])].into()));
    fails(
        &check(&w, good, &list, |e| e.authorised_issuers = health_only),
        "issuer authorised",
        "may be issued only by [\"health\"], not by civil",
    );
    let none: &'static BTreeMap<String, Vec<String>> = Box::leak(Box::default());
    fails(
        &check(&w, good, &list, |e| e.authorised_issuers = none),
        "issuer authorised",
        "lists no issuer",
    );
    let later = NOW + 400 * DAY;
    fails(
        &check(&w, good, &status_list(&w, 3, &[], later), |e| {
            e.now_ms = later;
            e.max_presentation_age_ms = u64::MAX;
        }),
        "validity period",
        "expired",
    );
    fails(
        &check(&w, good, &status_list(&w, 3, &[], NOW - 2 * DAY), |_| {}),
        "revocation",
        "sync it again",
    );
    fails(
        &check(&w, &w.presentations[2], &status_list(&w, 2, &[], NOW), |_| {}),
        "revocation",
        "predates",
    );
    fails(
        &check(&w, good, &list, |e| e.status_list = Err("offline".into())),
        "revocation",
        "not checked: offline",
    );
    // The holder's identity revoked: the certificate fails, offline, from the synced list.
    let holder = Address::of_public_key(&<[u8; 32]>::from(w.holder.verification_key()));
    let revoking = status_list_revoking(&w, 3, &[], NOW, &[(holder, "key stolen")]);
    fails(&check(&w, good, &revoking, |_| {}), "holder identity", "was revoked: key stolen");
    // A list that does not carry the revoked identities cannot vouch for the holder.
    let mut without = list.clone();
    without.revoked_identities = None;
    fails(&check(&w, good, &without, |_| {}), "holder identity", "sync it again");
}

#[test]
fn revoked_identities_must_be_signed_with_the_list() {
    let w = world();
    let list = StatusList { size: 3, revoked: BTreeMap::new() };
    let note = w.signer.sign(&Checkpoint {
        origin: cert::status_origin("test.local/chain", "civil"),
        size: 3,
        root: list.hash("civil"),
        extensions: vec![format!("time {NOW}")],
    });
    let trusted = [w.signer.verifier()];
    let holder = Address::of_public_key(&<[u8; 32]>::from(w.holder.verification_key()));
    let signed = SignedStatusList::new("civil", &list, note).unwrap();
    // An older note, from before the holder was revoked, paired with a fresh list.
    let stale = signed.clone().with_revoked_identities(signed_revoked_identities(&w, &[], NOW - 1));
    let error = stale.open(&trusted).unwrap_err().to_string();
    assert!(error.contains("same time"), "{error}");
    // An entry removed after signing.
    let mut removed = signed_revoked_identities(&w, &[(holder, "key stolen")], NOW);
    removed.revoked.clear();
    let error = signed.with_revoked_identities(removed).open(&trusted).unwrap_err().to_string();
    assert!(error.contains("do not match"), "{error}");
}

#[test]
fn a_status_list_is_refused_when_altered() {
    let w = world();
    let list = StatusList { size: 3, revoked: BTreeMap::from([(1, "lost".to_string())]) };
    let note = w.signer.sign(&Checkpoint {
        origin: cert::status_origin("test.local/chain", "civil"),
        size: 3,
        root: list.hash("civil"),
        extensions: vec![format!("time {NOW}")],
    });
    let signed = SignedStatusList::new("civil", &list, note).unwrap();
    let trusted = [w.signer.verifier()];
    assert_eq!(signed.open(&trusted).unwrap().as_of_ms, NOW);
    let mut hidden = signed.clone();
    hidden.revoked.clear();
    hidden.encoded_list = SignedStatusList::new(
        "civil",
        &StatusList { size: 3, revoked: BTreeMap::new() },
        String::new(),
    )
    .unwrap()
    .encoded_list;
    assert!(hidden.open(&trusted).unwrap_err().to_string().contains("does not match"));
    let mut renamed = signed.clone();
    renamed.issuer_organisation = "health".into();
    assert!(renamed.open(&trusted).unwrap_err().to_string().contains("not the status list of"));
    assert!(signed.open(&[]).is_err());
}

#[test]
fn an_oversized_status_list_is_refused_before_it_is_decoded() {
    use access_control::credential::status::{MAX_ENTRIES, compress};
    use base64::Engine as _;
    let w = world();
    let trusted = [w.signer.verifier()];
    let signed_for = |size: u64, encoded_list: String| {
        let list = StatusList { size: 3, revoked: BTreeMap::new() };
        let note = w.signer.sign(&Checkpoint {
            origin: cert::status_origin("test.local/chain", "civil"),
            size,
            root: list.hash("civil"),
            extensions: vec![format!("time {NOW}")],
        });
        SignedStatusList {
            issuer_organisation: "civil".into(),
            size,
            encoded_list,
            revoked: Vec::new(),
            signed_note: note,
            revoked_identities: None,
        }
    };
    // A zlib bomb: 8 MiB of zeros in a few KiB, for a list of 3 entries.
    let bomb =
        base64::engine::general_purpose::STANDARD.encode(compress(&vec![0u8; 8 << 20]).unwrap());
    let error = signed_for(3, bomb).open(&trusted).unwrap_err().to_string();
    assert!(error.contains("more than 3 entries can need"), "{error}");
    // A signed note claiming more entries than anyone issues.
    let error = signed_for(MAX_ENTRIES + 1, String::new()).open(&trusted).unwrap_err().to_string();
    assert!(error.contains("more than the limit"), "{error}");
    // A size that differs from the signed one.
    let mut lying = signed_for(3, String::new());
    lying.size = MAX_ENTRIES;
    let error = lying.open(&trusted).unwrap_err().to_string();
    assert!(error.contains("its note signs 3"), "{error}");
}

#[test]
fn a_status_list_needs_a_quorum_of_the_consortium() {
    use anchor_chaincode::checkpoint::{CosignatureSigner, Quorum, add_signatures};
    let w = world();
    let list = StatusList { size: 3, revoked: BTreeMap::new() };
    let body = Checkpoint {
        origin: cert::status_origin("test.local/chain", "civil"),
        size: 3,
        root: list.hash("civil"),
        extensions: vec![format!("time {NOW}")],
    };
    let departments: Vec<CosignatureSigner> = (4u8..7)
        .map(|seed| CosignatureSigner::new(&format!("dept-{seed}"), [seed; 32]).unwrap())
        .collect();
    // The node's key and three departments; three of the four must sign.
    let mut file = format!("quorum 3\n{}\n", w.signer.verifier_key());
    for department in &departments {
        file.push_str(&format!("{}\n", department.verifier_key()));
    }
    let quorum = Quorum::parse(&file).unwrap();
    let cosigned = |count: usize| {
        let mut note = w.signer.sign(&body);
        for department in departments.iter().take(count) {
            note = add_signatures(&note, &department.cosign(&body, NOW / 1000).unwrap()).unwrap();
        }
        SignedStatusList::new("civil", &list, note).unwrap()
    };
    assert_eq!(cosigned(2).open(&quorum).unwrap().as_of_ms, NOW);
    let error = cosigned(1).open(&quorum).unwrap_err().to_string();
    assert!(error.contains("signed by 2 of 4 consortium member(s), 3 needed"), "{error}");
    // A plain list of the node's key still opens it alone (a quorum of 1).
    assert!(cosigned(0).open(&Quorum::single(w.signer.verifier())).is_ok());
}
