//! `cairn bench access`: the full access check (envelope signature, replay
//! and time window, casbin role policy, authorised list) in process, and an
//! authorised gRPC call end to end on loopback under concurrent load from a
//! second process; with the single-thread Ed25519 verification rate of the
//! same library measured in the same run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use access_control::keys::{KeyPair, random_bytes};
use access_control::policy::{AccessRequest, Action, Resource, RolePolicy};
use access_control::request::{Destination, ReplayLimits, RequestVerifier, SignedRequest};
use anchor_chaincode::genesis::{Genesis, Organisation};
use anchor_chaincode::tx::{self, TxDraft};
use anchor_chaincode::{Role, ValidationCode};
use anyhow::{Context, bail, format_err};
use cairn_schemas::v1 as pb;
use clap::Args;
use prost::Message;

use crate::bench::{Report, median};
use crate::cli::rpc::{Transport, connect_each_as, status};
use crate::clock::now_ms;
use crate::node::access_log::AccessLog;
use crate::node::{Node, NodeConfig};
use cairn_schemas::v1::access_client::AccessClient;

const ASSET_ID: &str = "bench/shared-dataset";
const METHOD: &str = "/cairn.v1.Access/RequestAccess";

#[derive(Args, Debug)]
pub(crate) struct AccessBenchArgs {
    /// Decisions checked in process per round.
    #[arg(long, default_value_t = 20_000)]
    decisions: usize,
    /// gRPC calls sent by the load process per round.
    #[arg(long, default_value_t = 20_000)]
    calls: usize,
    /// Concurrent calls in flight from the load process.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Rounds; medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Where the bench node's logs go (removed afterwards).
    #[arg(long, default_value = ".cairn-bench-access")]
    data_dir: PathBuf,
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub(crate) struct AccessLoadArgs {
    /// The node.
    #[arg(long)]
    node: String,
    /// Directory of key files (*.key) to sign with, round robin.
    #[arg(long)]
    keys: PathBuf,
    /// Calls to send.
    #[arg(long)]
    calls: usize,
    /// Calls in flight.
    #[arg(long)]
    concurrency: usize,
    /// Send VerifyDataHash queries (a verifier's billable call) instead of RequestAccess.
    #[arg(long)]
    verify: bool,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// A chain with a provider, `n` members (consumers authorised on one asset,
/// or verifiers), a hub operator's officer, and the node identity registered.
pub(crate) struct Fixture {
    pub(crate) dir: PathBuf,
    genesis: Vec<u8>,
    ca: KeyPair,
    /// The department's organisation key: it endorses its nodes.
    dept: KeyPair,
    provider: KeyPair,
    officer: KeyPair,
    member_role: Role,
    consumers: Vec<KeyPair>,
}

/// The content hash of the bench asset.
const CONTENT_HASH: [u8; 32] = [7; 32];

/// How [`end_to_end`] runs a node.
pub(crate) struct EndToEnd {
    /// Transactions submitted after the fixture's set-up.
    pub(crate) extra_setup: Vec<Vec<u8>>,
    /// Meter access events (and enforce accounts) or not.
    pub(crate) metering: bool,
    /// VerifyDataHash queries instead of RequestAccess calls.
    pub(crate) verify: bool,
}

impl Fixture {
    /// Fresh keys and genesis in `dir`, with `n_members` of `member_role`.
    pub(crate) fn new(
        dir: &Path,
        n_consumers: usize,
        member_role: Role,
    ) -> anyhow::Result<Fixture> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("cannot clear {}", dir.display()))?;
        }
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let ca = KeyPair::generate()?;
        let org = |name: &str, key: &KeyPair| Organisation {
            name: name.into(),
            description: String::new(),
            public_key: hex::encode(key.signing_public_key()),
        };
        let dept = KeyPair::generate()?;
        let genesis =
            Genesis::new("bench-access", vec![org("ca", &ca), org("dept", &dept)], "ca").to_bytes();
        let consumers =
            (0..n_consumers).map(|_| KeyPair::generate()).collect::<Result<Vec<_>, _>>()?;
        Ok(Fixture {
            dir: dir.to_path_buf(),
            genesis,
            ca,
            dept,
            provider: KeyPair::generate()?,
            officer: KeyPair::generate()?,
            member_role,
            consumers,
        })
    }

    /// A prepaid account for every member, opened and topped up by the officer.
    pub(crate) fn accounts(
        &self,
        plan: &anchor_chaincode::billing::Plan,
    ) -> anyhow::Result<Vec<Vec<u8>>> {
        let mut envelopes = Vec::new();
        for member in &self.consumers {
            envelopes.push(self.envelope(
                &self.officer,
                false,
                pb::tx_payload::Body::OpenAccount(pb::OpenAccount {
                    holder: member.address().to_string(),
                    currency: "EUR".into(),
                    plan: Some(tx::plan_to_pb(plan)),
                }),
            )?);
            envelopes.push(self.envelope(
                &self.officer,
                false,
                pb::tx_payload::Body::TopUp(pb::TopUp {
                    holder: member.address().to_string(),
                    currency: "EUR".into(),
                    amount: anchor_chaincode::billing::MAX_TOP_UP,
                    reference: "bench".into(),
                }),
            )?);
        }
        Ok(envelopes)
    }

    fn envelope(
        &self,
        signer: &KeyPair,
        endorse: bool,
        body: pb::tx_payload::Body,
    ) -> anyhow::Result<Vec<u8>> {
        let draft = TxDraft {
            chain_id: "bench-access".into(),
            nonce: random_bytes::<16>()?.to_vec(),
            timestamp_ms: now_ms(),
            body,
        };
        let mut endorsers: Vec<(&str, &ed25519_zebra::SigningKey)> =
            if endorse { vec![("ca", self.ca.signing_key())] } else { vec![] };
        // A node joins its department with the department's consent.
        if let pb::tx_payload::Body::RegisterIdentity(register) = &draft.body
            && register.role == i32::from(tx::role_to_pb(Role::Node))
        {
            endorsers.push(("dept", self.dept.signing_key()));
        }
        Ok(tx::seal(draft.payload(&signer.signing_public_key()), signer.signing_key(), &endorsers))
    }

    fn register(&self, pair: &KeyPair, role: Role) -> anyhow::Result<Vec<u8>> {
        // The operator is the certification authority's organisation here.
        let organisation = if matches!(role, Role::CertificationAuthority | Role::Operator) {
            "ca"
        } else {
            "dept"
        };
        self.envelope(
            pair,
            true,
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

    /// Every transaction that sets the chain up, in order.
    fn setup(&self, extra: &[&KeyPair]) -> anyhow::Result<Vec<Vec<u8>>> {
        let mut envelopes = vec![
            self.register(&self.provider, Role::Provider)?,
            self.register(&self.officer, Role::Operator)?,
        ];
        for consumer in &self.consumers {
            envelopes.push(self.register(consumer, self.member_role)?);
        }
        for pair in extra {
            envelopes.push(self.register(pair, Role::Node)?);
        }
        envelopes.push(self.envelope(
            &self.provider,
            false,
            pb::tx_payload::Body::PublishAsset(pb::PublishAsset {
                asset_id: ASSET_ID.into(),
                version: 1,
                data_type: pb::DataType::Structured.into(),
                hash_algorithm: "sha256".into(),
                content_hash: CONTENT_HASH.to_vec(),
                size_bytes: 1,
                metadata: b"{}".to_vec(),
            }),
        )?);
        envelopes.push(self.envelope(
            &self.provider,
            false,
            pb::tx_payload::Body::SetSharingRules(pb::SetSharingRules {
                asset_id: ASSET_ID.into(),
                authorised: self.consumers.iter().map(|c| c.address().to_string()).collect(),
            }),
        )?);
        Ok(envelopes)
    }
}

/// The in-process figures of one round.
struct InProcess {
    decisions_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    verify_per_s: f64,
}

fn in_process(
    fixture: &Fixture,
    decisions: usize,
    policy: &RolePolicy,
) -> anyhow::Result<InProcess> {
    let mut ledger = anchor_chaincode::Ledger::from_genesis_record(
        0,
        &anchor_chaincode::ledger::genesis_record(&serde_json::from_slice(&fixture.genesis)?),
    )?;
    let block = ledger
        .apply_record(1, &anchor_chaincode::ledger::batch_record(fixture.setup(&[])?))
        .clone();
    if let Some(bad) = block.receipts.iter().find(|r| r.code != ValidationCode::Valid) {
        bail!("bench setup transaction was {}: {}", bad.code, bad.message);
    }
    let body = pb::RequestAccessRequest { asset_id: ASSET_ID.into(), version: 0 }.encode_to_vec();
    let now = now_ms();
    let chain_id = ledger.consortium().chain_id().to_string();
    let destination = Destination { chain_id: &chain_id, node: anchor_chaincode::Address([0; 20]) };
    let requests: Vec<Vec<u8>> = (0..decisions)
        .map(|i| {
            let signer = &fixture.consumers[i % fixture.consumers.len()];
            Ok(SignedRequest::sign(
                signer.signing_key(),
                &destination,
                METHOD,
                &body,
                now,
                random_bytes::<16>()?,
            )
            .encode())
        })
        .collect::<anyhow::Result<_>>()?;
    // Every decision of the bench is remembered: no identity limit below the total.
    let limits = ReplayLimits { total: decisions.max(1), per_identity: decisions.max(1) };
    let verifier = RequestVerifier::with_limits(Duration::from_secs(600), limits);
    let mut latencies = Vec::with_capacity(decisions);
    let start = Instant::now();
    for header in &requests {
        let t0 = Instant::now();
        let caller = verifier
            .verify(Some(header), METHOD, &body, &destination, now, |address| {
                match ledger.identity(address) {
                    Some(identity) => access_control::request::CallerStatus::Registered {
                        organisation: identity.organisation.clone(),
                        role: identity.role,
                    },
                    None => access_control::request::CallerStatus::Unknown,
                }
            })
            .map_err(|e| format_err!("bench request refused: {e}"))?;
        let asset = ledger.asset(ASSET_ID).ok_or_else(|| format_err!("bench asset missing"))?;
        let decision = policy.decide(&AccessRequest {
            identity: caller.address,
            organisation: &caller.organisation,
            role: caller.role,
            action: Action::RequestData,
            resource: Resource::Asset {
                asset_id: ASSET_ID,
                owner_organisation: &asset.owner_organisation,
                authorised: &asset.authorised,
            },
        });
        if !decision.allowed {
            bail!("bench request denied: {}", decision.reason);
        }
        latencies.push(t0.elapsed().as_secs_f64() * 1e6);
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    // The reference: the same signatures, verified alone on one thread with the same library.
    let checks: Vec<super::reference::SignatureCheck> = requests
        .iter()
        .map(|header| {
            let request = SignedRequest::decode(header).map_err(|e| format_err!("{e}"))?;
            let mut message = b"cairn-request-v2\n".to_vec();
            message.extend_from_slice(&(METHOD.len() as u32).to_be_bytes());
            message.extend_from_slice(METHOD.as_bytes());
            message.extend_from_slice(&request.body_sha256);
            message.extend_from_slice(&request.timestamp_ms.to_be_bytes());
            message.extend_from_slice(&request.nonce);
            message.extend_from_slice(&request.chain_sha256);
            message.extend_from_slice(&request.node.0);
            Ok((
                request.public_key,
                ed25519_zebra::Signature::from_bytes(&request.signature),
                message,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let verify_rate = super::reference::ed25519_rate(&checks)?;
    Ok(InProcess {
        decisions_per_s: decisions as f64 / elapsed,
        p50_us: percentile(&latencies, 50.0),
        p99_us: percentile(&latencies, 99.0),
        verify_per_s: verify_rate,
    })
}

/// Runs a node in process and a load process against it; returns (calls/s,
/// p50 ms, p99 ms, what the node's meter charged the members in all).
pub(crate) fn end_to_end(
    fixture: &Fixture,
    calls: usize,
    concurrency: usize,
    name: &str,
    how: &EndToEnd,
) -> anyhow::Result<(f64, f64, f64, u64)> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let node_dir = fixture.dir.join(format!("node-{name}"));
    let keys_dir = fixture.dir.join(format!("keys-{name}"));
    let (address, shutdown, meter) = runtime.block_on(async {
        let node = Node::open(&NodeConfig::new(&node_dir), Some(&fixture.genesis))?;
        let setup = fixture.setup(&[node.key()])?;
        for envelope in setup.into_iter().chain(how.extra_setup.iter().cloned()) {
            let receipt = node.submit(envelope).await?.receipt;
            if receipt.code != ValidationCode::Valid {
                bail!("bench setup transaction was {}: {}", receipt.code, receipt.message);
            }
        }
        let access = AccessLog::open(
            &node_dir.join("access.log"),
            None,
            how.metering.then(|| crate::node::gate::metering(&node)),
        )?;
        let meter = access.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let services = crate::rpc::Services {
            anchorer: crate::node::anchor::Anchorer::new(node.clone(), access.clone()),
            cosigning: crate::node::cosign::Cosigning::new(node.clone(), None)?,
            reads: crate::node::reads::Reads::Own(crate::node::reads::NodeReads::new(
                node.clone(),
                access.clone(),
            )),
            node,
            access,
            policy: Arc::new(RolePolicy::builtin().await?),
            request_window: Duration::from_secs(60),
            tls: None,
            store: Arc::new(ods_frontend::store::SealedStore::from_url("memory://", &[])?),
            relay: None,
        };
        let _server = tokio::spawn(crate::rpc::serve(services, listener, async {
            let _ = stopped.await;
        }));
        anyhow::Ok((address, stop, meter))
    })?;
    std::fs::create_dir_all(&keys_dir)?;
    for (i, consumer) in fixture.consumers.iter().enumerate() {
        consumer.save(&keys_dir.join(format!("consumer-{i}.key")))?;
    }
    let mut load = std::process::Command::new(std::env::current_exe()?);
    let _ = load
        .args(["bench", "access-load", "--node", &format!("http://{address}"), "--keys"])
        .arg(&keys_dir)
        .args(["--calls", &calls.to_string(), "--concurrency", &concurrency.to_string()]);
    if how.verify {
        let _ = load.arg("--verify");
    }
    let output = load.output().context("cannot start the load process")?;
    let charged = {
        let state = meter.state();
        fixture.consumers.iter().map(|m| state.meter.charged(&m.address().to_string())).sum()
    };
    drop(meter);
    let _ = shutdown.send(());
    runtime.shutdown_timeout(Duration::from_secs(5));
    if !output.status.success() {
        bail!("the load process failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .with_context(|| format!("the load process printed no JSON: {stdout}"))?;
    let figure = |name: &str| {
        report[name].as_f64().ok_or_else(|| format_err!("load report lacks {name}: {report}"))
    };
    Ok((figure("calls_per_s")?, figure("p50_ms")?, figure("p99_ms")?, charged))
}

pub(crate) fn run(args: AccessBenchArgs) -> anyhow::Result<()> {
    if args.rounds == 0 || args.decisions == 0 || args.calls == 0 {
        bail!("--rounds, --decisions and --calls must be at least 1");
    }
    let policy =
        tokio::runtime::Builder::new_current_thread().build()?.block_on(RolePolicy::builtin())?;
    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        let fixture = Fixture::new(
            &args.data_dir.join(format!("round-{round}-{}", std::process::id())),
            16,
            Role::Consumer,
        )?;
        let local = in_process(&fixture, args.decisions, &policy)?;
        let how = EndToEnd { extra_setup: Vec::new(), metering: true, verify: false };
        let remote = end_to_end(&fixture, args.calls, args.concurrency, &round.to_string(), &how)?;
        let _ = std::fs::remove_dir_all(&fixture.dir);
        eprintln!(
            "round {}: {:.0} decisions/s in process (p50 {:.1} µs, p99 {:.1} µs); {:.0} Ed25519 verifications/s; {:.0} gRPC calls/s (p50 {:.2} ms, p99 {:.2} ms)",
            round + 1,
            local.decisions_per_s,
            local.p50_us,
            local.p99_us,
            local.verify_per_s,
            remote.0,
            remote.1,
            remote.2
        );
        rounds.push((local, remote));
    }
    let _ = std::fs::remove_dir(&args.data_dir);
    let decisions = median(rounds.iter().map(|(l, _)| l.decisions_per_s).collect());
    let p50 = median(rounds.iter().map(|(l, _)| l.p50_us).collect());
    let p99 = median(rounds.iter().map(|(l, _)| l.p99_us).collect());
    let verify = median(rounds.iter().map(|(l, _)| l.verify_per_s).collect());
    let calls = median(rounds.iter().map(|(_, r)| r.0).collect());
    let call_p50 = median(rounds.iter().map(|(_, r)| r.1).collect());
    let call_p99 = median(rounds.iter().map(|(_, r)| r.2).collect());
    Report::new("access")
        .figure("decisions_in_process", decisions, 0, "decisions/s")
        .figure("decision_p50", p50, 1, "µs")
        .figure("decision_p99", p99, 1, "µs")
        .figure("ed25519_verify_single_thread", verify, 0, "sig/s")
        .figure("grpc_calls", calls, 0, "calls/s")
        .figure("grpc_call_p50", call_p50, 2, "ms")
        .figure("grpc_call_p99", call_p99, 2, "ms")
        .ratio("decisions_vs_ed25519_verify", decisions / verify, 0.8)
        .print(
            &format!(
                "cairn bench access: {} rounds, {} decisions in process, {} gRPC calls at concurrency {}, medians",
                args.rounds, args.decisions, args.calls, args.concurrency
            ),
            args.json,
        );
    Ok(())
}

/// The load process: signed RequestAccess calls, `concurrency` in flight; prints one JSON line.
pub(crate) fn load(args: AccessLoadArgs) -> anyhow::Result<()> {
    let mut keys = Vec::new();
    for entry in std::fs::read_dir(&args.keys)
        .with_context(|| format!("cannot read {}", args.keys.display()))?
    {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "key") {
            keys.push(KeyPair::load(&path)?);
        }
    }
    if keys.is_empty() {
        bail!("no *.key files in {}", args.keys.display());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let node = crate::cli::NodeArgs { node: args.node.clone(), json: true, ca_cert: None };
        let clients: Vec<AccessClient<Transport>> = connect_each_as(&node, &keys).await?;
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let start = Instant::now();
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..args.concurrency.max(1) {
            let mut clients = clients.clone();
            let next = next.clone();
            let calls = args.calls;
            let verify = args.verify;
            let _ = workers.spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= calls {
                        break;
                    }
                    // Each key's client signs its requests on the way out.
                    let n = clients.len();
                    let client = &mut clients[i % n];
                    let t0 = Instant::now();
                    if verify {
                        let request = pb::VerifyDataHashRequest {
                            asset_id: ASSET_ID.into(),
                            version: 0,
                            content_hash: CONTENT_HASH.to_vec(),
                        };
                        let answer = client.verify_data_hash(request).await.map_err(status)?;
                        if !answer.into_inner().matches {
                            bail!("the bench asset's hash does not match");
                        }
                    } else {
                        let request =
                            pb::RequestAccessRequest { asset_id: ASSET_ID.into(), version: 0 };
                        let _ = client.request_access(request).await.map_err(status)?;
                    }
                    latencies.push(t0.elapsed().as_secs_f64() * 1e3);
                }
                anyhow::Ok(latencies)
            });
        }
        let mut latencies = Vec::new();
        while let Some(result) = workers.join_next().await {
            latencies.extend(result??);
        }
        let elapsed = start.elapsed().as_secs_f64();
        latencies.sort_by(f64::total_cmp);
        println!(
            "{}",
            serde_json::json!({
                "calls": latencies.len(),
                "calls_per_s": latencies.len() as f64 / elapsed,
                "p50_ms": percentile(&latencies, 50.0),
                "p99_ms": percentile(&latencies, 99.0),
            })
        );
        anyhow::Ok(())
    })
}
