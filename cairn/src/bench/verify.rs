//! `cairn bench verify`: presentations verified per second, against the raw
//! single-signature Ed25519 rate measured in the same run.
//!
//! Set-up (not timed): an embedded node on a fresh data directory, an issuing
//! agency, `--holders` registered holders, `--certificates` degrees issued
//! (their content HPKE-encrypted to the holders), one in a hundred revoked,
//! the channel and the status list anchored; then every certificate's
//! presentation is made as `cairn cert present` makes it (inclusion proof at
//! the anchored size, signed channel checkpoint, holder's signature) and
//! encoded as QR text. The verifier syncs the issuer's status list once (its
//! signature checked once), as a verifier would before a day of checks.
//!
//! Timed, on one thread: for each presentation text, Base45 + zlib + CBOR
//! decoding and every check of [`access_control::credential::verify`] — issuer signature,
//! holder signature, freshness, checkpoint signature (checked once per
//! distinct checkpoint, as a verifier caches it), inclusion proof, validity,
//! and the revocation look-up in the status list.
//! Reference, same thread, same run: `ed25519-zebra` single verifications of
//! the presentations' holder signatures.

use std::path::PathBuf;
use std::time::Instant;

use access_control::credential::presentation::{self, Presentation};
use access_control::credential::verify::{self, CheckpointCache, Expectations};
use access_control::keys::{KeyPair, random_bytes};
use anchor_chaincode::cert::{self, Statement};
use anchor_chaincode::checkpoint::Checkpoint;
use anchor_chaincode::genesis::{Genesis, Organisation};
use anchor_chaincode::tx::{self, TxDraft};
use anchor_chaincode::{Role, ValidationCode};
use anyhow::{Context, bail};
use cairn_schemas::v1 as pb;
use clap::Args;
use serde_bytes::ByteBuf;

use crate::bench::{Report, median};
use crate::clock::now_ms;
use crate::node::{Node, NodeConfig};

#[derive(Args, Debug)]
pub(crate) struct VerifyBenchArgs {
    /// Certificates issued, presented and verified per round.
    #[arg(long, default_value_t = 5_000)]
    certificates: usize,
    /// Distinct holders.
    #[arg(long, default_value_t = 100)]
    holders: usize,
    /// Rounds; the medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Where the bench's ledger goes (removed afterwards).
    #[arg(long, default_value = ".cairn-bench")]
    data_dir: PathBuf,
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

struct Round {
    verify_rate: f64,
    decode_rate: f64,
    ed25519_rate: f64,
    qr_chars: usize,
}

fn envelope(
    chain_id: &str,
    signer: &KeyPair,
    endorsers: &[(&str, &KeyPair)],
    body: pb::tx_payload::Body,
) -> anyhow::Result<Vec<u8>> {
    let draft = TxDraft {
        chain_id: chain_id.into(),
        nonce: random_bytes::<16>()?.to_vec(),
        timestamp_ms: now_ms(),
        body,
    };
    let endorsers: Vec<(&str, &ed25519_zebra::SigningKey)> =
        endorsers.iter().map(|(org, key)| (*org, key.signing_key())).collect();
    Ok(tx::seal(draft.payload(&signer.signing_public_key()), signer.signing_key(), &endorsers))
}

/// A registration endorsed by `endorsers` (the certification authority
/// first; a node's own organisation too).
fn register(
    chain_id: &str,
    endorsers: &[(&str, &KeyPair)],
    pair: &KeyPair,
    organisation: &str,
    role: Role,
) -> anyhow::Result<Vec<u8>> {
    envelope(
        chain_id,
        pair,
        endorsers,
        pb::tx_payload::Body::RegisterIdentity(pb::RegisterIdentity {
            name: "bench".into(),
            organisation: organisation.into(),
            role: tx::role_to_pb(role).into(),
            signing_public_key: pair.signing_public_key().to_vec(),
            encryption_public_key: pair.encryption_public_key().to_vec(),
            reviewer_role: String::new(),
        }),
    )
}

async fn submit_all(node: &Node, envelopes: Vec<Vec<u8>>) -> anyhow::Result<Vec<String>> {
    let mut tasks = tokio::task::JoinSet::new();
    for (idx, envelope) in envelopes.into_iter().enumerate() {
        let node = node.clone();
        let _ = tasks.spawn(async move { (idx, node.submit(envelope).await) });
    }
    let mut responses = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (idx, submitted) = joined?;
        let receipt = submitted?.receipt;
        if receipt.code != ValidationCode::Valid {
            bail!("bench transaction was {}: {}", receipt.code, receipt.message);
        }
        responses.push((idx, receipt.response));
    }
    responses.sort();
    Ok(responses.into_iter().map(|(_, r)| r).collect())
}

fn round(
    args: &VerifyBenchArgs,
    number: usize,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Round> {
    let dir = args.data_dir.join(format!("verify-{number}-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    let chain_id = "bench-verify";
    let ca = KeyPair::generate()?;
    let university = KeyPair::generate()?;
    let org = |name: &str, key: &KeyPair| Organisation {
        name: name.into(),
        description: String::new(),
        public_key: hex::encode(key.signing_public_key()),
    };
    let mut genesis =
        Genesis::new(chain_id, vec![org("ca", &ca), org("university", &university)], "ca");
    genesis.issuers = [("degree".to_owned(), vec!["university".to_owned()])].into();
    let node = Node::open(&NodeConfig::new(&dir), Some(&genesis.to_bytes()))?;
    let issuer = KeyPair::generate()?;
    let holders: Vec<KeyPair> =
        (0..args.holders.max(1)).map(|_| KeyPair::generate()).collect::<Result<_, _>>()?;
    let mut setup = vec![
        register(chain_id, &[("ca", &ca)], &issuer, "university", Role::Issuer)?,
        register(
            chain_id,
            &[("ca", &ca), ("university", &university)],
            node.key(),
            "university",
            Role::Node,
        )?,
    ];
    for holder in &holders {
        setup.push(register(
            chain_id,
            &[("ca", &ca)],
            holder,
            anchor_chaincode::genesis::DEFAULT_HOLDERS,
            Role::Public,
        )?);
    }
    let _ = runtime.block_on(submit_all(&node, setup))?;

    let now = now_ms();
    let mut issues = Vec::with_capacity(args.certificates);
    for idx in 0..args.certificates {
        let holder = &holders[idx % holders.len()];
        let content = format!("BSc {idx}, cairn bench verify");
        let salt = random_bytes::<16>()?;
        let wrapped = access_control::wrap::wrap(
            &holder.encryption_public_key(),
            &[salt.as_slice(), content.as_bytes()].concat(),
            &cert::content_context("degree", &holder.address()),
        )?;
        let statement = Statement {
            channel: "degree".into(),
            issuer_organisation: "university".into(),
            holder: holder.address(),
            issuer_public_key: issuer.signing_public_key(),
            content_hash: cert::content_hash(&salt, content.as_bytes()),
            valid_from_ms: now - 1000,
            valid_until_ms: now + 365 * 86_400_000,
            previous: None,
            serial: random_bytes::<16>()?,
        };
        let bytes = statement.to_bytes();
        let body = pb::IssueCertificate {
            issuer_signature: issuer
                .signing_key()
                .sign(&cert::issuer_message(&bytes))
                .to_bytes()
                .to_vec(),
            statement: bytes,
            content: Some(pb::EncryptedContent {
                enc: wrapped.enc,
                ciphertext: wrapped.ciphertext,
            }),
        };
        issues.push(envelope(
            chain_id,
            &issuer,
            &[],
            pb::tx_payload::Body::IssueCertificate(body),
        )?);
    }
    let responses = runtime.block_on(submit_all(&node, issues))?;
    let ids: Vec<[u8; 32]> = responses
        .iter()
        .map(|r| {
            let value: serde_json::Value = serde_json::from_str(r)?;
            let mut id = [0u8; 32];
            hex::decode_to_slice(value["certificate_id"].as_str().unwrap_or_default(), &mut id)?;
            Ok(id)
        })
        .collect::<anyhow::Result<_>>()?;
    let revocations: Vec<Vec<u8>> = ids
        .iter()
        .step_by(100)
        .map(|id| {
            envelope(
                chain_id,
                &issuer,
                &[],
                pb::tx_payload::Body::RevokeCertificate(pb::RevokeCertificate {
                    certificate_id: id.to_vec(),
                    reason: "bench revocation".into(),
                }),
            )
        })
        .collect::<anyhow::Result<_>>()?;
    let n_revoked = revocations.len();
    let _ = runtime.block_on(submit_all(&node, revocations))?;
    let access = crate::node::access_log::AccessLog::open(&dir.join("access.log"), None, None)?;
    let anchorer = crate::node::anchor::Anchorer::new(node.clone(), access);
    if !runtime.block_on(anchorer.certificates())? {
        bail!("nothing was anchored");
    }

    // The presentations, as `cairn cert present` makes them.
    let mut texts = Vec::with_capacity(ids.len());
    let mut holder_checks = Vec::with_capacity(ids.len());
    {
        let ledger = node.ledger();
        let channel = ledger.channel("degree").context("the degree channel")?;
        let anchor = channel.anchors.last().context("an anchor")?.clone();
        let note = node.signer().sign(&Checkpoint {
            origin: cert::channel_origin(&ledger.consortium().origin, "degree"),
            size: anchor.size,
            root: anchor.hash,
            extensions: Vec::new(),
        });
        for (idx, id) in ids.iter().enumerate() {
            let record = ledger.certificate(id).context("an issued certificate")?;
            let hashes = channel.log.inclusion_proof(record.leaf_index, anchor.size)?;
            let mut presentation = Presentation {
                statement: record.statement_bytes.clone(),
                issuer_signature: record.issuer_signature.to_vec(),
                issue_tx: record.tx_id.0.to_vec(),
                block: record.block_number,
                status_index: record.status_index,
                leaf_index: record.leaf_index,
                proof: hashes.iter().map(|h| ByteBuf::from(h.to_vec())).collect(),
                checkpoint: note.clone(),
                anchor_tx: anchor.tx_id.0.to_vec(),
                anchor_block: anchor.block_number,
                ..Presentation::default()
            };
            let holder = &holders[idx % holders.len()];
            presentation.sign_as_holder(holder.signing_key(), now, b"");
            holder_checks.push((
                holder.signing_public_key(),
                ed25519_zebra::Signature::from_bytes(
                    &presentation.holder_signature.as_slice().try_into().unwrap_or([0; 64]),
                ),
                cert::presentation_message(id, now, b""),
            ));
            texts.push(presentation::encode(&presentation)?);
        }
    }
    let trusted = vec![node.signer().verifier()];
    let list = crate::rpc::certificates::signed_status_list(&node, "university", now_ms())
        .map_err(|e| anyhow::format_err!("{}", e.message()))?;
    let opened = list.open(&trusted)?;
    let qr_chars = texts.iter().map(String::len).max().unwrap_or(0);

    let issuers = node.ledger().consortium().genesis.issuers.clone();
    let expect = Expectations {
        trusted: &trusted,
        authorised_issuers: &issuers,
        now_ms: now_ms(),
        challenge: None,
        max_presentation_age_ms: 3_600_000,
        channel: Some("degree"),
        issuer_organisation: None,
        holder: None,
        status_list: Ok(&opened),
        max_status_age_ms: 3_600_000,
    };
    let mut decoder = presentation::Decoder::default();
    let start = Instant::now();
    for text in &texts {
        let _ = decoder.decode(text)?;
    }
    let decode_rate = texts.len() as f64 / start.elapsed().as_secs_f64();
    let mut cache = CheckpointCache::batched();
    let start = Instant::now();
    let mut valid = 0usize;
    for text in &texts {
        let presentation = decoder.decode(text)?;
        if verify::verify_with_cache(&presentation, &expect, &mut cache).valid {
            valid += 1;
        }
    }
    let verify_rate = texts.len() as f64 / start.elapsed().as_secs_f64();
    if valid != texts.len() - n_revoked {
        bail!(
            "{valid} of {} presentations verified; expected all but the {n_revoked} revoked",
            texts.len()
        );
    }

    let ed25519_rate = super::reference::ed25519_rate(&holder_checks)?;
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Round { verify_rate, decode_rate, ed25519_rate, qr_chars })
}

pub(crate) fn run(args: VerifyBenchArgs) -> anyhow::Result<()> {
    if args.certificates == 0 || args.rounds == 0 {
        bail!("--certificates and --rounds must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut rounds = Vec::new();
    for number in 0..args.rounds {
        let result = round(&args, number, &runtime)?;
        eprintln!(
            "round {}: {:.0} presentations verified/s; {:.0} Ed25519 verifications/s; one thread each",
            number + 1,
            result.verify_rate,
            result.ed25519_rate
        );
        rounds.push(result);
    }
    let _ = std::fs::remove_dir(&args.data_dir);
    let verify = median(rounds.iter().map(|r| r.verify_rate).collect());
    let ed25519 = median(rounds.iter().map(|r| r.ed25519_rate).collect());
    let decode = median(rounds.iter().map(|r| r.decode_rate).collect());
    let qr_chars = rounds.iter().map(|r| r.qr_chars).max().unwrap_or(0);
    Report::new("verify")
        .figure("presentation_verify", verify, 0, "presentations/s")
        .figure("presentation_decode_only", decode, 0, "presentations/s")
        .figure("ed25519_verify_single_thread", ed25519, 0, "sig/s")
        .figure("largest_presentation", qr_chars as f64, 0, "characters")
        .ratio("verify_vs_ed25519_verify", verify / ed25519, 0.4)
        .print(
            &format!(
                "cairn bench verify: {} rounds of {} presentations (one thread), medians",
                args.rounds, args.certificates
            ),
            args.json,
        );
    Ok(())
}
