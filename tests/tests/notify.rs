//! End to end: a node (`cairn up`) takes minimum-living-guarantee cases
//! through application, checks, review steps and decision while `cairn
//! notify` follows its ledger log, delivering to a real SMTP server on
//! loopback (Python's `aiosmtpd`: `python3 -m pip install aiosmtpd`) and to a
//! webhook receiver in this test. The notifier is SIGKILLed mid-flow and
//! restarted; every notification arrives, each once per receiver after the
//! receiver drops a repeated `Message-ID` / `Idempotency-Key`, and at most
//! one is repeated per kill (the documented crash window: delivered, killed
//! before it was marked sent).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use access_control::credential::issue::{self, Terms};
use access_control::keys::KeyPair;
use anchor_chaincode::Role;
use anchor_chaincode::case::{self, CaseAction, NamedHash, Outcome};
use anchor_chaincode::genesis::{Genesis, Organisation};
use anchor_chaincode::tx::{self, Transaction, TxDraft};
use asset_registry::notify::{self, CaseChange, Channel};
use bytes::Bytes;
use cairn_schemas::v1 as pb;
use cairn_tests::{Node, Start, VALID, cairn_command, connect};
use connectors::testing::support;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

const CHAIN: &str = "notify-e2e";
const ORGS: [&str; 6] = [
    "ca",
    "civil-affairs",
    "neighbourhood-committee",
    "sub-district-accounting",
    "democratic-review",
    "bank",
];
const SMTP_PORT: u16 = 25253;
const WEBHOOK_PORT: u16 = 25254;
const SECRET: &str = "the webhook secret of the end-to-end test";

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
        nonce: [n.to_be_bytes(), signer.signing_public_key()[..8].try_into().unwrap()].concat(),
        timestamp_ms: BASE_MS + n,
        body,
    };
    let endorsers: Vec<_> = endorsers.iter().map(|(org, key)| (*org, key.signing_key())).collect();
    tx::seal(draft.payload(&signer.signing_public_key()), signer.signing_key(), &endorsers)
}

/// The transactions' clock: 2026-12-04, plus a step number.
const BASE_MS: u64 = 1_796_342_400_000;

fn act(signer: &KeyPair, n: u64, action: &CaseAction) -> Vec<u8> {
    envelope(signer, n, pb::tx_payload::Body::CaseAction(case::to_pb(action)), &[])
}

impl Actors {
    fn new() -> Actors {
        let key = || KeyPair::generate().unwrap();
        Actors {
            orgs: ORGS.iter().map(|_| key()).collect(),
            provider: key(),
            intake: key(),
            surveyor: key(),
            accountant: key(),
            reviewer: key(),
            officer: key(),
            citizens: vec![key(), key()],
        }
    }

    fn org(&self, name: &str) -> &KeyPair {
        &self.orgs[ORGS.iter().position(|o| *o == name).unwrap()]
    }

    fn genesis(&self) -> Vec<u8> {
        let organisations = ORGS
            .iter()
            .zip(&self.orgs)
            .map(|(name, key)| Organisation {
                name: (*name).into(),
                description: String::new(),
                public_key: hex::encode(key.signing_public_key()),
            })
            .collect();
        let mut genesis = Genesis::new(CHAIN, organisations, "ca");
        genesis.issuers =
            [("minimum-living-guarantee".to_owned(), vec!["civil-affairs".to_owned()])].into();
        genesis.to_bytes()
    }

    /// The identities and the service definition.
    fn setup(&self) -> Vec<Vec<u8>> {
        let register =
            |pair: &KeyPair, organisation: &str, role: Role, reviewer_role: &str, n: u64| {
                let body = pb::tx_payload::Body::RegisterIdentity(pb::RegisterIdentity {
                    name: format!("e2e {reviewer_role}{n}"),
                    organisation: organisation.into(),
                    role: tx::role_to_pb(role).into(),
                    signing_public_key: pair.signing_public_key().to_vec(),
                    encryption_public_key: pair.encryption_public_key().to_vec(),
                    reviewer_role: reviewer_role.into(),
                });
                let mut endorsers = vec![("ca", self.org("ca"))];
                if role == Role::Reviewer {
                    endorsers.push((organisation, self.org(organisation)));
                }
                envelope(pair, n, body, &endorsers)
            };
        let mut envelopes = vec![
            register(&self.provider, "civil-affairs", Role::Provider, "", 1),
            register(&self.intake, "civil-affairs", Role::Reviewer, "intake_officer", 2),
            register(
                &self.surveyor,
                "neighbourhood-committee",
                Role::Reviewer,
                "household_surveyor",
                3,
            ),
            register(
                &self.accountant,
                "sub-district-accounting",
                Role::Reviewer,
                "income_accountant",
                4,
            ),
            register(&self.reviewer, "democratic-review", Role::Reviewer, "democratic_reviewer", 5),
            register(&self.officer, "civil-affairs", Role::Reviewer, "case_officer", 6),
        ];
        for (i, citizen) in self.citizens.iter().enumerate() {
            envelopes.push(register(citizen, "holders", Role::Public, "", 100 + i as u64));
        }
        envelopes.push(envelope(
            &self.provider,
            7,
            pb::tx_payload::Body::DefineService(pb::DefineService {
                definition_json: cairn_schemas::services::MINIMUM_LIVING_GUARANTEE
                    .as_bytes()
                    .to_vec(),
            }),
            &[("civil-affairs", self.org("civil-affairs"))],
        ));
        envelopes
    }

    /// The application of case `i`, and its case id.
    fn apply(&self, i: usize) -> (Vec<u8>, String) {
        let documents = ["form", "id_card", "household_register", "income_proof", "bank_card"]
            .iter()
            .map(|name| NamedHash {
                name: (*name).into(),
                hash: Sha256::digest(format!("{i}/{name}")).into(),
                asset_id: String::new(),
                asset_version: 0,
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
        let envelope = act(&self.citizens[i], 1_000 + i as u64, &action);
        let case_id = case::case_id_of(&Transaction::decode(&envelope).unwrap().id);
        (envelope, case_id)
    }

    /// The steps of case `i` after its application, in the order they must run.
    fn steps(&self, i: usize, case_id: &str) -> Vec<Vec<u8>> {
        let evidence = |name: &str| {
            vec![NamedHash {
                name: name.into(),
                hash: Sha256::digest(format!("{i}/{name}")).into(),
                asset_id: String::new(),
                asset_version: 0,
            }]
        };
        let n = |k: u64| k * 1_000 + i as u64;
        let step = |who: &KeyPair, k: u64, name: &str, outputs: Vec<(String, i64)>| {
            act(
                who,
                n(k),
                &CaseAction::Step {
                    case_id: case_id.into(),
                    step: name.into(),
                    passed: true,
                    outputs,
                    evidence: evidence("report"),
                    reason: String::new(),
                },
            )
        };
        vec![
            act(
                &self.intake,
                n(2),
                &CaseAction::Check {
                    case_id: case_id.into(),
                    facts: vec![
                        ("form_complete".into(), 1),
                        ("id_card_expires_on".into(), 30_000),
                        ("household_members".into(), 3),
                        ("household_monthly_income".into(), 90_000),
                        ("household_property".into(), 10_000),
                    ],
                    evidence: evidence("form"),
                    person_hash_confirmed: true,
                },
            ),
            step(&self.surveyor, 3, "household_survey", vec![]),
            step(
                &self.accountant,
                4,
                "income_accounting",
                vec![("household_monthly_income".into(), 90_000), ("members".into(), 3)],
            ),
            step(&self.reviewer, 5, "democratic_review", vec![]),
            act(
                &self.officer,
                n(6),
                &CaseAction::Decide {
                    case_id: case_id.into(),
                    outcome: Outcome::Approved,
                    reasons: Vec::new(),
                    evidence: Vec::new(),
                    decision_document_hash: Sha256::digest(case_id.as_bytes()).into(),
                    certificate: Some(Box::new(
                        issue::issue(
                            &self.officer,
                            Terms {
                                channel: "minimum-living-guarantee".into(),
                                issuer_organisation: "civil-affairs".into(),
                                holder: self.citizens[i].address(),
                                valid_from_ms: BASE_MS + n(6),
                                valid_until_ms: BASE_MS + n(6) + 365 * 86_400_000,
                            },
                            &self.citizens[i].encryption_public_key(),
                            case_id.as_bytes(),
                        )
                        .unwrap(),
                    )),
                },
            ),
        ]
    }
}

/// Submits envelopes one by one; answers the case changes (tx id, response).
async fn submit(node: &Node, envelopes: Vec<Vec<u8>>) -> Vec<(String, String)> {
    let mut client = connect(&node.url()).await.unwrap();
    let mut changes = Vec::new();
    for envelope in envelopes {
        let response = client.submit(pb::SubmitRequest { envelope }).await.unwrap().into_inner();
        assert_eq!(response.validation_code, VALID, "refused: {response:?}");
        if response.response_json.contains("\"case_id\"")
            && response.response_json.contains("\"notify\"")
        {
            changes.push((response.tx_id, response.response_json));
        }
    }
    changes
}

/// An `aiosmtpd` server writing every message it accepts into a maildir.
struct SmtpServer {
    child: Child,
    maildir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    fn start(addr: SocketAddr) -> Option<SmtpServer> {
        let maildir = tempfile::tempdir().unwrap();
        let child = match Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &addr.to_string(),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(maildir.path().join("mail"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                return support::unavailable(
                    "an SMTP server (aiosmtpd)",
                    &format!("python3 cannot be started: {e}"),
                    "install Python 3 and run: python3 -m pip install aiosmtpd",
                );
            }
        };
        let mut server = SmtpServer { child, maildir };
        let started = Instant::now();
        while !support::answers(&addr.to_string()) {
            if let Ok(Some(status)) = server.child.try_wait() {
                return support::unavailable(
                    "an SMTP server (aiosmtpd)",
                    &format!("python3 -m aiosmtpd exited with {status}"),
                    "run: python3 -m pip install aiosmtpd",
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "aiosmtpd did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }

    /// The Message-ID of every message received (repeats included).
    fn message_ids(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.path().join("mail").join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| {
                let text = std::fs::read_to_string(entry.ok()?.path()).ok()?;
                text.lines()
                    .take_while(|line| !line.is_empty())
                    .find_map(|line| line.strip_prefix("Message-ID: ").map(str::to_owned))
            })
            .collect()
    }
}

/// What the webhook receiver saw: every accepted request's Idempotency-Key,
/// after checking its signature, in arrival order. The first request gets a
/// 500 (so the notifier must retry), and every answer waits 50 ms, so the
/// notifier is often mid-delivery when it is killed.
async fn webhook_receiver(addr: SocketAddr) -> Arc<Mutex<Vec<String>>> {
    let keys: Arc<Mutex<Vec<String>>> = Arc::default();
    let failed = Arc::new(Mutex::new(false));
    let listener = TcpListener::bind(addr).await.unwrap();
    let seen = keys.clone();
    drop(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let (seen, failed) = (seen.clone(), failed.clone());
            drop(tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let (seen, failed) = (seen.clone(), failed.clone());
                    async move {
                        let header = |name: &str| {
                            request
                                .headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned()
                        };
                        let key = header(notify::IDEMPOTENCY_HEADER);
                        let signature = header(notify::SIGNATURE_HEADER);
                        let body = request.into_body().collect().await?.to_bytes();
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        let status =
                            if !notify::verify_signature(SECRET.as_bytes(), &body, &signature) {
                                StatusCode::UNAUTHORIZED
                            } else if !std::mem::replace(&mut *failed.lock().unwrap(), true) {
                                StatusCode::INTERNAL_SERVER_ERROR
                            } else {
                                seen.lock().unwrap().push(key);
                                StatusCode::OK
                            };
                        let mut response = Response::new(Full::new(Bytes::new()));
                        *response.status_mut() = status;
                        Ok::<_, hyper::Error>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            }));
        }
    }));
    keys
}

fn private_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn notifier(args: &[String], extra: &[&str]) -> Child {
    cairn_command()
        .arg("notify")
        .args(args)
        .args(extra)
        .env("CAIRN_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_case_change_is_notified_once_across_a_killed_notifier() {
    let Some(postgres) = support::postgres_reachable().await else { return };
    let smtp_addr: SocketAddr = ([127, 0, 0, 1], SMTP_PORT).into();
    let Some(smtp) = SmtpServer::start(smtp_addr) else { return };
    let webhook = webhook_receiver(([127, 0, 0, 1], WEBHOOK_PORT).into()).await;

    let dir = tempfile::tempdir().unwrap();
    let actors = Actors::new();
    let genesis = dir.path().join("genesis.json");
    std::fs::write(&genesis, actors.genesis()).unwrap();
    let data = dir.path().join("node");
    let node = Node::start(&data, Start::Genesis(&genesis)).unwrap();
    let _ = submit(&node, actors.setup()).await;

    let mut contacts = serde_json::json!({ "addresses": {}, "groups": {} });
    for (i, citizen) in actors.citizens.iter().enumerate() {
        contacts["addresses"][citizen.address().to_string()] =
            serde_json::json!({ "email": format!("citizen{i}@example.org") });
    }
    for group in ["neighbourhood-committee/household_surveyor", "civil-affairs/case_officer"] {
        contacts["groups"][group] = serde_json::json!({ "email": "team@example.org" });
    }
    let contacts_file = dir.path().join("contacts.json");
    private_file(&contacts_file, &contacts.to_string());
    let secret_file = dir.path().join("webhook.secret");
    private_file(&secret_file, SECRET);
    let schema = format!("notify_e2e_{}", std::process::id());
    let args: Vec<String> = vec![
        "--log".into(),
        data.display().to_string(),
        "--postgres".into(),
        postgres.clone(),
        "--postgres-schema".into(),
        schema.clone(),
        "--smtp".into(),
        format!("smtp://{smtp_addr}"),
        "--from".into(),
        "notify@cairn.test".into(),
        "--webhook".into(),
        format!("http://127.0.0.1:{WEBHOOK_PORT}/cairn"),
        "--webhook-secret-file".into(),
        secret_file.display().to_string(),
        "--contacts".into(),
        contacts_file.display().to_string(),
        "--retry-base".into(),
        "100ms".into(),
    ];

    // The first case goes through while the notifier runs; it is killed
    // once some of its webhooks have arrived.
    let mut running = notifier(&args, &[]);
    let (apply, first_case) = actors.apply(0);
    let mut changes = submit(&node, vec![apply]).await;
    changes.extend(submit(&node, actors.steps(0, &first_case)).await);
    {
        let webhook = webhook.clone();
        tokio::task::spawn_blocking(move || {
            wait_until("the first webhooks", Duration::from_secs(60), || {
                webhook.lock().unwrap().len() >= 4
            })
        })
        .await
        .unwrap();
    }
    running.kill().unwrap();
    let _ = running.wait();
    let at_kill = webhook.lock().unwrap().len();

    // The second case while no notifier runs, then a notifier again, killed
    // once more a little later, and a last one that runs until caught up.
    let (apply, second_case) = actors.apply(1);
    changes.extend(submit(&node, vec![apply]).await);
    changes.extend(submit(&node, actors.steps(1, &second_case)).await);
    let mut running = notifier(&args, &[]);
    {
        let webhook = webhook.clone();
        tokio::task::spawn_blocking(move || {
            wait_until("more webhooks", Duration::from_secs(60), || {
                webhook.lock().unwrap().len() > at_kill + 2
            })
        })
        .await
        .unwrap();
    }
    running.kill().unwrap();
    let _ = running.wait();
    let last = tokio::task::spawn_blocking(move || {
        cairn_command().arg("notify").args(&args).arg("--until-caught-up").output().unwrap()
    })
    .await
    .unwrap();
    assert!(last.status.success(), "{}", String::from_utf8_lossy(&last.stderr));

    // What should have arrived: every recipient of every case change, on
    // the webhook; on e-mail, those with a contact.
    assert_eq!(changes.len(), 12, "six case changes per case");
    let mut expected_webhooks = BTreeSet::new();
    let mut expected_emails = BTreeSet::new();
    for (tx_id, response) in &changes {
        let change = CaseChange::parse(tx_id, response).unwrap();
        assert!(!change.recipients.is_empty());
        for recipient in &change.recipients {
            let _ = expected_webhooks.insert(notify::notification_id(
                tx_id,
                recipient,
                Channel::Webhook,
            ));
            let contact = recipient.contact_key();
            if contacts["addresses"].get(&contact).is_some()
                || contacts["groups"].get(&contact).is_some()
            {
                let _ = expected_emails.insert(format!(
                    "<{}@cairn.test>",
                    notify::notification_id(tx_id, recipient, Channel::Email)
                ));
            }
        }
    }
    let received_webhooks = webhook.lock().unwrap().clone();
    let received_emails = smtp.message_ids();
    for (channel, received, expected) in [
        ("webhook", &received_webhooks, &expected_webhooks),
        ("e-mail", &received_emails, &expected_emails),
    ] {
        let unique: BTreeSet<String> = received.iter().cloned().collect();
        assert_eq!(&unique, expected, "every {channel} notification arrived");
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for id in received {
            *counts.entry(id).or_default() += 1;
        }
        let repeats: usize = counts.values().map(|n| n - 1).sum();
        // Two kills: at most one delivered-but-unmarked notification each.
        assert!(repeats <= 2, "{channel}: {repeats} repeats beyond the crash window: {counts:?}");
    }
    let stdout = String::from_utf8_lossy(&last.stdout);
    assert!(stdout.contains("caught up"), "{stdout}");
    drop(node);
    let (client, connection) =
        tokio_postgres::connect(&postgres, tokio_postgres::NoTls).await.unwrap();
    let driver = tokio::spawn(connection);
    client.batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE")).await.unwrap();
    drop(client);
    let _ = driver.await;
}
