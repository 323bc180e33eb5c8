//! `cairn bench cases`: complete minimum-living-guarantee cases per second
//! on the embedded node (apply with five document hashes → automatic checks
//! → household survey → income accounting and democratic review in parallel
//! → decision), counted in transactions, against the ledger's plain commit
//! rate (`PublishAsset`, as `cairn bench ledger`) on a fresh node in the same
//! run: `case_txs_vs_ledger`.
//!
//! Cases are in flight at different stages at once: each case is a task
//! that submits its next action as soon as the one before it is committed
//! (income accounting and democratic review together), and a bounded number
//! of case tasks run at a time, so the node's queue stays full as the
//! reference's does. Every envelope is signed before the clock starts, in
//! both halves: a case's id derives from its application's transaction id
//! ([`case::case_id_of`]), so its later actions can be signed in advance.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use access_control::credential::issue::{self, Terms};
use access_control::keys::KeyPair;
use anchor_chaincode::case::{self, CaseAction, NamedHash, Outcome};
use anchor_chaincode::genesis::{Genesis, Organisation};
use anchor_chaincode::tx::{self, Transaction, TxDraft};
use anchor_chaincode::{Role, ValidationCode};
use anyhow::{Context, bail};
use cairn_schemas::v1 as pb;
use clap::Args;
use sha2::{Digest, Sha256};

use super::{Report, median, signed_publishes, submit_all};
use crate::node::{Node, NodeConfig};

#[derive(Args, Debug)]
pub(crate) struct CasesBenchArgs {
    /// Complete cases per round.
    #[arg(long, default_value_t = 2_000)]
    cases: usize,
    /// Rounds; the medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Bytes of each of the five documents hashed per application.
    #[arg(long, default_value_t = 64 * 1024)]
    document_bytes: usize,
    /// Most transactions in one block.
    #[arg(long, default_value_t = 4096)]
    max_block_txs: usize,
    /// Most cases in flight at once (0: twice --max-block-txs, as many as
    /// the reference keeps transactions in flight).
    #[arg(long, default_value_t = 0)]
    cases_in_flight: usize,
    /// Advance the cases in waves instead (every application, then every
    /// case's checks, and so on), the scheme of earlier versions of this
    /// bench, for comparison.
    #[arg(long)]
    waves: bool,
    /// Where the bench's ledger logs go (removed afterwards).
    #[arg(long, default_value = ".cairn-bench-cases")]
    data_dir: PathBuf,
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

const CHAIN: &str = "bench";
const ORGS: [&str; 6] = [
    "ca",
    "civil-affairs",
    "neighbourhood-committee",
    "sub-district-accounting",
    "democratic-review",
    "bank",
];
/// The transactions' clock: 2026-12-04, plus an action number.
const BASE_MS: u64 = 1_796_342_400_000;
/// The certificate the service's approval issues.
const CERTIFICATE_TYPE: &str = "minimum-living-guarantee";
/// The transactions of one complete case.
const TXS_PER_CASE: usize = 6;

struct Round {
    case_tps: f64,
    cases_per_second: f64,
    ledger_tps: f64,
}

struct Actors {
    orgs: Vec<KeyPair>,
    provider: KeyPair,
    intake: KeyPair,
    surveyor: KeyPair,
    accountant: KeyPair,
    reviewer: KeyPair,
    officer: KeyPair,
    citizens: Vec<KeyPair>,
}

fn envelope(
    signer: &KeyPair,
    n: u64,
    body: pb::tx_payload::Body,
    endorsers: &[(&str, &KeyPair)],
) -> Vec<u8> {
    let draft = TxDraft {
        chain_id: CHAIN.into(),
        nonce: [n.to_be_bytes(), signer.signing_public_key()[..8].try_into().unwrap_or([0; 8])]
            .concat(),
        timestamp_ms: BASE_MS + n,
        body,
    };
    let endorsers: Vec<(&str, &ed25519_zebra::SigningKey)> =
        endorsers.iter().map(|(org, key)| (*org, key.signing_key())).collect();
    tx::seal(draft.payload(&signer.signing_public_key()), signer.signing_key(), &endorsers)
}

fn act(signer: &KeyPair, n: u64, action: &CaseAction) -> Vec<u8> {
    envelope(signer, n, pb::tx_payload::Body::CaseAction(case::to_pb(action)), &[])
}

fn setup(actors: &Actors) -> Vec<Vec<u8>> {
    let org = |name: &str| &actors.orgs[ORGS.iter().position(|o| *o == name).unwrap_or(0)];
    let register = |pair: &KeyPair, organisation: &str, role: Role, reviewer_role: &str, n: u64| {
        let body = pb::tx_payload::Body::RegisterIdentity(pb::RegisterIdentity {
            name: format!("bench {reviewer_role}{n}"),
            organisation: organisation.into(),
            role: tx::role_to_pb(role).into(),
            signing_public_key: pair.signing_public_key().to_vec(),
            encryption_public_key: pair.encryption_public_key().to_vec(),
            reviewer_role: reviewer_role.into(),
        });
        let mut endorsers = vec![("ca", org("ca"))];
        if role == Role::Reviewer {
            endorsers.push((organisation, org(organisation)));
        }
        envelope(pair, n, body, &endorsers)
    };
    let mut envelopes = vec![
        register(&actors.provider, "civil-affairs", Role::Provider, "", 1),
        register(&actors.intake, "civil-affairs", Role::Reviewer, "intake_officer", 2),
        register(
            &actors.surveyor,
            "neighbourhood-committee",
            Role::Reviewer,
            "household_surveyor",
            3,
        ),
        register(
            &actors.accountant,
            "sub-district-accounting",
            Role::Reviewer,
            "income_accountant",
            4,
        ),
        register(&actors.reviewer, "democratic-review", Role::Reviewer, "democratic_reviewer", 5),
        register(&actors.officer, "civil-affairs", Role::Reviewer, "case_officer", 6),
    ];
    for (i, citizen) in actors.citizens.iter().enumerate() {
        envelopes.push(register(citizen, "holders", Role::Public, "", 100 + i as u64));
    }
    envelopes
}

fn definition(actors: &Actors) -> Vec<u8> {
    let body = pb::tx_payload::Body::DefineService(pb::DefineService {
        definition_json: cairn_schemas::services::MINIMUM_LIVING_GUARANTEE.as_bytes().to_vec(),
    });
    envelope(&actors.provider, 7, body, &[("civil-affairs", &actors.orgs[1])])
}

/// One case's signed envelopes, in the order they are submitted.
struct CaseTxs {
    apply: Vec<u8>,
    check: Vec<u8>,
    survey: Vec<u8>,
    /// Income accounting and democratic review, submitted together.
    parallel: [Vec<u8>; 2],
    decide: Vec<u8>,
}

/// The envelopes of `n` cases, signed.
fn signed_cases(actors: &Actors, n: usize, document_bytes: usize) -> anyhow::Result<Vec<CaseTxs>> {
    let mut document = vec![0u8; document_bytes];
    let applies: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let documents = ["form", "id_card", "household_register", "income_proof", "bank_card"]
                .iter()
                .map(|name| {
                    document[..8].copy_from_slice(&(i as u64).to_be_bytes());
                    document[8] = name.len() as u8;
                    NamedHash {
                        name: (*name).into(),
                        hash: Sha256::digest(&document).into(),
                        asset_id: String::new(),
                        asset_version: 0,
                    }
                })
                .collect();
            let mut person = [0u8; 32];
            person[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            let action = CaseAction::Apply {
                service_id: "minimum-living-guarantee".into(),
                service_version: 1,
                person_hash: person,
                documents,
            };
            act(&actors.citizens[i % actors.citizens.len()], 1_000_000 + i as u64, &action)
        })
        .collect();
    let case_ids: Vec<String> = applies
        .iter()
        .map(|e| Transaction::decode(e).map(|t| case::case_id_of(&t.id)).unwrap_or_default())
        .collect();
    let evidence = |name: &str, i: usize| {
        vec![NamedHash {
            name: name.into(),
            hash: Sha256::digest(i.to_be_bytes()).into(),
            asset_id: String::new(),
            asset_version: 0,
        }]
    };
    let base = 2_000_000u64;
    let checks = case_ids.iter().enumerate().map(|(i, case_id)| {
        act(
            &actors.intake,
            base + i as u64,
            &CaseAction::Check {
                case_id: case_id.clone(),
                facts: vec![
                    ("form_complete".into(), 1),
                    ("id_card_expires_on".into(), 30_000),
                    ("household_members".into(), 3),
                    ("household_monthly_income".into(), 90_000),
                    ("household_property".into(), 10_000),
                ],
                evidence: evidence("form", i),
                person_hash_confirmed: true,
            },
        )
    });
    let step = |who: &KeyPair,
                n: u64,
                case_id: &str,
                step: &str,
                outputs: Vec<(String, i64)>,
                i: usize| {
        act(
            who,
            n,
            &CaseAction::Step {
                case_id: case_id.into(),
                step: step.into(),
                passed: true,
                outputs,
                evidence: evidence("report", i),
                reason: String::new(),
            },
        )
    };
    let surveys = case_ids.iter().enumerate().map(|(i, c)| {
        step(&actors.surveyor, 3_000_000 + i as u64, c, "household_survey", vec![], i)
    });
    let parallel = case_ids.iter().enumerate().map(|(i, c)| {
        [
            step(
                &actors.accountant,
                4_000_000 + i as u64,
                c,
                "income_accounting",
                vec![("household_monthly_income".into(), 90_000), ("members".into(), 3)],
                i,
            ),
            step(&actors.reviewer, 5_000_000 + i as u64, c, "democratic_review", vec![], i),
        ]
    });
    let mut decisions = Vec::with_capacity(case_ids.len());
    for (i, case_id) in case_ids.iter().enumerate() {
        // The approval issues the service's certificate to the applicant.
        let decided_at_ms = 6_000_000 + i as u64;
        let citizen = &actors.citizens[i % actors.citizens.len()];
        let certificate = issue::issue(
            &actors.officer,
            Terms {
                channel: CERTIFICATE_TYPE.into(),
                issuer_organisation: "civil-affairs".into(),
                holder: citizen.address(),
                valid_from_ms: BASE_MS + decided_at_ms,
                valid_until_ms: BASE_MS + decided_at_ms + 365 * 86_400_000,
            },
            &citizen.encryption_public_key(),
            case_id.as_bytes(),
        )?;
        decisions.push(act(
            &actors.officer,
            decided_at_ms,
            &CaseAction::Decide {
                case_id: case_id.clone(),
                outcome: Outcome::Approved,
                reasons: Vec::new(),
                evidence: Vec::new(),
                decision_document_hash: Sha256::digest(case_id.as_bytes()).into(),
                certificate: Some(Box::new(certificate)),
            },
        ));
    }
    let mut cases = Vec::with_capacity(n);
    for ((((apply, check), survey), parallel), decide) in
        applies.into_iter().zip(checks).zip(surveys).zip(parallel).zip(decisions)
    {
        cases.push(CaseTxs { apply, check, survey, parallel, decide });
    }
    Ok(cases)
}

/// Submits one envelope; an error unless it is committed valid.
async fn submit_valid(node: &Node, envelope: Vec<u8>, what: &str) -> anyhow::Result<()> {
    let receipt =
        node.submit(envelope).await.with_context(|| format!("{what} not accepted"))?.receipt;
    if receipt.code != ValidationCode::Valid {
        bail!("{what} {} was {}: {}", receipt.tx_id, receipt.code, receipt.message);
    }
    Ok(())
}

/// Takes one case from its application to its decision, each action
/// submitted as soon as the one before it is committed.
async fn run_case(node: Node, txs: CaseTxs) -> anyhow::Result<usize> {
    submit_valid(&node, txs.apply, "application").await?;
    submit_valid(&node, txs.check, "checks").await?;
    submit_valid(&node, txs.survey, "household survey").await?;
    let [income, review] = txs.parallel;
    let (income, review) = tokio::join!(
        submit_valid(&node, income, "income accounting"),
        submit_valid(&node, review, "democratic review")
    );
    income?;
    review?;
    submit_valid(&node, txs.decide, "decision").await?;
    Ok(TXS_PER_CASE)
}

/// Runs every case in five waves, each submitted when the one before it is
/// committed; answers the transactions committed.
async fn run_waves(node: &Node, cases: Vec<CaseTxs>, in_flight: usize) -> anyhow::Result<usize> {
    let mut waves: [Vec<Vec<u8>>; 5] = Default::default();
    for txs in cases {
        let [income, review] = txs.parallel;
        waves[0].push(txs.apply);
        waves[1].push(txs.check);
        waves[2].push(txs.survey);
        waves[3].extend([income, review]);
        waves[4].push(txs.decide);
    }
    let mut n_txs = 0;
    for (idx, wave) in waves.into_iter().enumerate() {
        let (valid, n) = submit_all(node, wave, in_flight).await?;
        if valid != n {
            bail!("wave {idx}: only {valid} of {n} case transactions were valid");
        }
        n_txs += n;
    }
    Ok(n_txs)
}

/// Runs every case, at most `in_flight` at once; answers the transactions committed.
async fn run_cases(node: &Node, cases: Vec<CaseTxs>, in_flight: usize) -> anyhow::Result<usize> {
    let limit = Arc::new(tokio::sync::Semaphore::new(in_flight.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for txs in cases {
        let permit = limit.clone().acquire_owned().await?;
        let node = node.clone();
        let _ = tasks.spawn(async move {
            let result = run_case(node, txs).await;
            drop(permit);
            result
        });
    }
    let mut n_txs = 0;
    while let Some(result) = tasks.join_next().await {
        n_txs += result??;
    }
    Ok(n_txs)
}

fn genesis(orgs: &[KeyPair]) -> Genesis {
    let organisations = ORGS
        .iter()
        .zip(orgs)
        .map(|(name, key)| Organisation {
            name: (*name).into(),
            description: String::new(),
            public_key: hex::encode(key.signing_public_key()),
        })
        .collect();
    let mut genesis = Genesis::new(CHAIN, organisations, "ca");
    genesis.issuers = [(CERTIFICATE_TYPE.to_owned(), vec!["civil-affairs".to_owned()])].into();
    genesis
}

fn round(
    args: &CasesBenchArgs,
    round: usize,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Round> {
    let keys = |n: usize| (0..n).map(|_| KeyPair::generate()).collect::<Result<Vec<_>, _>>();
    let actors = Actors {
        orgs: keys(ORGS.len())?,
        provider: KeyPair::generate()?,
        intake: KeyPair::generate()?,
        surveyor: KeyPair::generate()?,
        accountant: KeyPair::generate()?,
        reviewer: KeyPair::generate()?,
        officer: KeyPair::generate()?,
        citizens: keys(64)?,
    };
    let in_flight = args.max_block_txs * 2;

    // The cases.
    let dir = args.data_dir.join(format!("cases-{round}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = NodeConfig::new(&dir);
    config.max_block_txs = args.max_block_txs;
    let node = Node::open(&config, Some(&genesis(&actors.orgs).to_bytes()))?;
    let setup = setup(&actors);
    let n_setup = setup.len();
    let (valid, _) = runtime.block_on(submit_all(&node, setup, in_flight))?;
    if valid != n_setup {
        bail!("only {valid} of {n_setup} bench identities registered");
    }
    let (valid, _) = runtime.block_on(submit_all(&node, vec![definition(&actors)], 1))?;
    if valid != 1 {
        bail!("the bench service definition was refused");
    }
    let cases = signed_cases(&actors, args.cases, args.document_bytes)?;
    let cases_in_flight = if args.cases_in_flight == 0 { in_flight } else { args.cases_in_flight };
    let start = Instant::now();
    let n_txs = if args.waves {
        runtime.block_on(run_waves(&node, cases, in_flight))?
    } else {
        runtime.block_on(run_cases(&node, cases, cases_in_flight))?
    };
    let elapsed = start.elapsed().as_secs_f64();
    let approved = node
        .ledger()
        .cases()
        .filter(|c| c.state == anchor_chaincode::case::CaseState::Approved)
        .count();
    if approved != args.cases || n_txs != args.cases * TXS_PER_CASE {
        bail!("{approved} of {} cases approved after {n_txs} transactions", args.cases);
    }
    // The cases node stays open until both halves are measured: dropping it
    // frees its whole ledger on its committer thread, which would take CPU
    // from the reference.
    let cases_node = node;
    let cases_dir = dir;

    // The reference: plain commits on a fresh node.
    let dir = args.data_dir.join(format!("ledger-{round}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = NodeConfig::new(&dir);
    config.max_block_txs = args.max_block_txs;
    let ca = KeyPair::generate()?;
    let dept = KeyPair::generate()?;
    let node = Node::open(&config, Some(&super::bench_genesis(&ca, &dept).to_bytes()))?;
    let signers: Vec<KeyPair> = keys(64)?;
    let registrations = super::bench_registrations(CHAIN, &ca, &signers);
    let _ = runtime.block_on(submit_all(&node, registrations, in_flight))?;
    let envelopes = signed_publishes(CHAIN, &signers, round, n_txs)?;
    let start = Instant::now();
    let (valid, n) = runtime.block_on(submit_all(&node, envelopes, in_flight))?;
    let ledger_elapsed = start.elapsed().as_secs_f64();
    if valid != n {
        bail!("only {valid} of {n} reference transactions were valid");
    }
    drop(node);
    drop(cases_node);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&cases_dir);
    Ok(Round {
        case_tps: n_txs as f64 / elapsed,
        cases_per_second: args.cases as f64 / elapsed,
        ledger_tps: n as f64 / ledger_elapsed,
    })
}

pub(crate) fn run(args: CasesBenchArgs) -> anyhow::Result<()> {
    if args.cases == 0 || args.rounds == 0 {
        bail!("--cases and --rounds must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut rounds = Vec::new();
    for idx in 0..args.rounds {
        let result = round(&args, idx, &runtime).with_context(|| format!("round {}", idx + 1))?;
        eprintln!(
            "round {}: {:.0} case tx/s ({:.0} complete cases/s); plain ledger {:.0} tx/s",
            idx + 1,
            result.case_tps,
            result.cases_per_second,
            result.ledger_tps
        );
        rounds.push(result);
    }
    let _ = std::fs::remove_dir(&args.data_dir);
    let scheme = if args.waves {
        "in five waves".to_owned()
    } else {
        let n =
            if args.cases_in_flight == 0 { args.max_block_txs * 2 } else { args.cases_in_flight };
        format!("at most {n} in flight")
    };
    let case_tps = median(rounds.iter().map(|r| r.case_tps).collect());
    let ledger_tps = median(rounds.iter().map(|r| r.ledger_tps).collect());
    let ratio = median(rounds.iter().map(|r| r.case_tps / r.ledger_tps).collect());
    Report::new("cases")
        .figure("case_commit", case_tps, 0, "tx/s")
        .figure("complete_cases", median(rounds.iter().map(|r| r.cases_per_second).collect()), 0, "cases/s")
        .figure("ledger_commit", ledger_tps, 0, "tx/s")
        .ratio("case_txs_vs_ledger", ratio, 0.7)
        .print(
            &format!(
                "cairn bench cases: {} rounds of {} minimum-living-guarantee cases ({} transactions each, {}), medians",
                args.rounds, args.cases, TXS_PER_CASE, scheme
            ),
            args.json,
        );
    Ok(())
}
