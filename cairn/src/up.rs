//! `cairn up`: the composition root. It opens the node (`node/`), its
//! access-event log and projectors, and serves the gRPC services (`rpc/`)
//! over them until it is told to stop.

use std::path::PathBuf;

use anyhow::{Context, format_err};
use clap::Args;

use access_control::policy::RolePolicy;

use crate::node::access_log::{AccessLog, AccessSink};
use crate::node::cosign::CosignTopic;
use crate::node::demo;
use crate::node::reads::{NodeReads, Reads};
use crate::node::{Node, NodeConfig};
use crate::rpc as server;

#[derive(Args, Debug)]
pub(crate) struct UpArgs {
    /// Where the ledger log and the node key live.
    #[arg(long, env = "CAIRN_DATA_DIR", default_value = "cairn-data")]
    data_dir: PathBuf,
    /// The gRPC listen address (port 0 picks a free port and prints it).
    #[arg(long, env = "CAIRN_LISTEN", default_value = "127.0.0.1:7878")]
    listen: String,
    /// Create a small demo consortium on first start and print what to try.
    #[arg(long, conflicts_with = "genesis")]
    demo: bool,
    /// With --demo: how many node cosignatures make a checkpoint final in the demo chain.
    #[arg(long, requires = "demo", default_value_t = 1)]
    demo_quorum: u32,
    /// The genesis configuration for a new data directory (see `cairn genesis new`).
    #[arg(long, env = "CAIRN_GENESIS")]
    genesis: Option<PathBuf>,
    /// Most transactions in one block.
    #[arg(long, env = "CAIRN_MAX_BLOCK_TXS", default_value_t = 4096)]
    max_block_txs: usize,
    /// How often new access events are anchored on the ledger.
    #[arg(long, env = "CAIRN_AUDIT_ANCHOR_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration)]
    audit_anchor_interval: std::time::Duration,
    /// How far a signed request's timestamp may be from the node's clock.
    #[arg(long, env = "CAIRN_REQUEST_WINDOW", default_value = "60s", value_parser = humantime::parse_duration)]
    request_window: std::time::Duration,
    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "CAIRN_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The TLS private key (PEM).
    #[arg(long, env = "CAIRN_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The casbin model of the role policy (default: the built-in access-control/policy/model.conf).
    #[arg(long, env = "CAIRN_POLICY_MODEL", requires = "policy")]
    policy_model: Option<PathBuf>,
    /// The casbin policy (default: the built-in access-control/policy/policy.csv).
    #[arg(long, env = "CAIRN_POLICY", requires = "policy_model")]
    policy: Option<PathBuf>,
    /// Push each new quorum checkpoint to the outside witness at this URL
    /// (`cairn witness serve`, C2SP tlog-witness) and add its cosignature
    /// to the checkpoints this node serves. Repeat for more witnesses.
    #[arg(long = "witness", value_name = "URL")]
    witnesses: Vec<String>,
    /// Serve the HTTP face (tlog tiles, /healthz, /readyz, /metrics) on this
    /// address too (port 0 picks a free port and prints it); off unless given.
    #[arg(long, env = "CAIRN_HTTP_LISTEN", value_name = "ADDR")]
    http_listen: Option<String>,
    /// Serve the log's entry bundles (`/tile/entries/…`) over HTTP to anyone:
    /// every envelope, including the sharing rules that gRPC ledger reads show
    /// only to signed, authorised callers.
    #[arg(long, env = "CAIRN_HTTP_PUBLIC_ENTRIES", requires = "http_listen")]
    http_public_entries: bool,
    #[command(flatten)]
    scale: crate::node::scale::ScaleArgs,
}

pub(crate) fn run(args: UpArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = runtime.block_on(async move {
        // Installed first, so a stop signal that arrives while the node is
        // still starting is kept and honoured once it is ready, instead of
        // killing the process with the default action.
        let mut shutdown = ShutdownSignal::install()?;
        let mut config = NodeConfig::new(&args.data_dir);
        config.max_block_txs = args.max_block_txs.max(1);
        let genesis = match (&args.genesis, args.demo) {
            (Some(path), _) => Some(
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
            ),
            (None, true) => Some(demo::prepare(&args.data_dir, args.demo_quorum)?),
            (None, false) => None,
        };
        for url in &args.witnesses {
            let _ = crate::witness::http::endpoint(url).context("--witness")?;
        }
        let scale = args.scale.resolve()?;
        let (node, sink, cosign_topic) = match &scale.kafka {
            None => (Node::open(&config, genesis.as_deref())?, None, None),
            Some(kafka) => open_on_kafka(&mut config, kafka, genesis.as_deref()).await?,
        };
        let policy = match (&args.policy_model, &args.policy) {
            (Some(model), Some(policy)) => RolePolicy::load(model, policy).await?,
            _ => RolePolicy::builtin().await?,
        };
        let access = AccessLog::open(
            &config.data_dir.join("access.log"),
            sink,
            Some(crate::node::gate::metering(&node)),
        )?;
        let reads = reads(&scale, &node, &access).await?;
        let relay = relay(&scale, &node).await?;
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = server::local_addr(&listener)?;
        let http = match &args.http_listen {
            Some(http_listen) => Some(crate::web::bind(http_listen).await?),
            None => None,
        };
        {
            let ledger = node.ledger();
            tracing::info!(
                chain = ledger.consortium().chain_id(),
                height = ledger.height(),
                verifier_key = %node.signer().verifier_key(),
                "node ready"
            );
        }
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => {
                let cert = std::fs::read(cert).with_context(|| format!("cannot read {}", cert.display()))?;
                let key = std::fs::read(key).with_context(|| format!("cannot read {}", key.display()))?;
                Some(tonic::transport::ServerTlsConfig::new().identity(tonic::transport::Identity::from_pem(cert, key)))
            }
            _ => None,
        };
        let anchorer = crate::node::anchor::Anchorer::new(node.clone(), access.clone());
        let cosigning = crate::node::cosign::Cosigning::new(
            node.clone(),
            Some(config.data_dir.join("cosigned")),
        )?;
        if let Some(topic) = &cosign_topic {
            topic.follow(cosigning.clone())?;
        }
        let services = server::Services {
            node: node.clone(),
            access: access.clone(),
            anchorer: anchorer.clone(),
            policy: std::sync::Arc::new(policy),
            request_window: args.request_window,
            tls,
            store: std::sync::Arc::new(ods_frontend::store::SealedStore::from_url(
                &match &scale.ods_store {
                    Some(url) => url.clone(),
                    None => ods_frontend::layout::default_store(&args.data_dir)
                        .with_context(|| format!("cannot create the object store under {}", args.data_dir.display()))?,
                },
                &[],
            )?),
            cosigning: cosigning.clone(),
            reads,
            relay,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut serving = tokio::spawn(server::serve(services, listener, async {
            let _ = stopped.await;
        }));
        println!("listening on {address}{}", if args.tls_cert.is_some() { " (TLS)" } else { "" });
        let (http_stop, http_stopped) = tokio::sync::oneshot::channel::<()>();
        let mut http_serving = match http {
            Some((listener, http_address)) => {
                let state = crate::web::WebState::new(node.clone(), args.http_public_entries);
                state.set_serving();
                println!("http listening on {http_address}");
                Some(tokio::spawn(crate::web::serve(listener, state, async {
                    let _ = http_stopped.await;
                })))
            }
            None => None,
        };
        if args.demo {
            demo::populate(&node, &args.data_dir).await?;
            // What the demo issued and logged is anchored before it says it
            // is up, so that a client starting then finds a quiet ledger
            // rather than the anchoring loop's first anchors arriving.
            if let Err(e) = anchorer.certificates().await {
                tracing::warn!(error = %e, "cannot anchor the demo's certificate channels");
            }
            if let Err(e) = anchorer.access_events().await {
                tracing::warn!(error = %e, "cannot anchor the demo's access events");
            }
            demo::print_next_steps(&node, &args.data_dir, &address.to_string());
        }
        if node.ledger().identity(&node.key().address()).is_none() {
            tracing::warn!(
                address = %node.key().address(),
                "the node identity is not registered, so access events are recorded but not anchored; register {} with `cairn identity register --role node --org-key ORG.key` in a department (not the certification authority's organisation), endorsed by that department's organisation key",
                config.node_key_path().display()
            );
        }
        let _anchoring = tokio::spawn(anchorer.run(args.audit_anchor_interval));
        if !args.witnesses.is_empty() {
            let _witnessing =
                tokio::spawn(crate::node::witnessing::run(cosigning.clone(), args.witnesses.clone()));
        }
        let _cosigning = tokio::spawn(cosigning.run(cosign_topic));
        let http_failed = async {
            match http_serving.as_mut() {
                Some(task) => task.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.recv() => {}
            result = &mut serving => {
                result.map_err(|e| format_err!("server task failed: {e}"))??;
                return Ok(());
            }
            result = http_failed => {
                result.map_err(|e| format_err!("HTTP server task failed: {e}"))??;
                return Ok(());
            }
        }
        let _ = stop.send(());
        let _ = http_stop.send(());
        // Clients that neither finish nor answer must not keep the node up.
        match tokio::time::timeout(std::time::Duration::from_secs(10), serving).await {
            Ok(result) => result.map_err(|e| format_err!("server task failed: {e}"))??,
            Err(_) => tracing::warn!("connections were still open 10 s after the stop signal; stopping anyway"),
        }
        tracing::info!("stopped");
        Ok(())
    });
    // Tasks still running (projectors waiting on their logs) are cancelled at
    // their next await; blocking reads end within their timeout.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    result
}

/// What a node on Kafka opens: the node, the sink of its access events and
/// the cosign topic.
type OnKafka = (Node, Option<AccessSink>, Option<CosignTopic>);

/// Opens the node on the Kafka ledger topic, with the sink of its access
/// events and the cosign topic.
#[cfg(feature = "kafka")]
async fn open_on_kafka(
    config: &mut NodeConfig,
    kafka: &crate::node::scale::KafkaSettings,
    genesis: Option<&[u8]>,
) -> anyhow::Result<OnKafka> {
    let _ = kafka.ensure_topics().await?;
    config.max_block_bytes = crate::node::scale::KAFKA_MAX_BLOCK_BYTES;
    let log = connectors::kafka::KafkaLog::open(&kafka.config, &kafka.ledger_topic)?;
    let node = Node::open_on(config, std::sync::Arc::new(log), genesis, true)?;
    let sink = AccessSink {
        producer: connectors::kafka::KafkaProducer::new(&kafka.config)?,
        topic: kafka.access_topic.clone(),
        node: node.key().address().to_string(),
        key: node.key().clone(),
        watermark_path: config.data_dir.join("access.published"),
    };
    let cosign_topic = CosignTopic::new(&kafka.config, &kafka.cosign_topic())?;
    tracing::info!(brokers = %kafka.config.brokers, ledger_topic = %kafka.ledger_topic, access_topic = %kafka.access_topic, "on Kafka");
    Ok((node, Some(sink), Some(cosign_topic)))
}

/// A build without the kafka feature has no Kafka settings to open a node on.
#[cfg(not(feature = "kafka"))]
async fn open_on_kafka(
    _: &mut NodeConfig,
    kafka: &crate::node::scale::KafkaSettings,
    _: Option<&[u8]>,
) -> anyhow::Result<OnKafka> {
    match *kafka {}
}

/// The other nodes' access-event logs, followed on the access-event topic
/// when the node is on Kafka.
#[cfg(feature = "kafka")]
async fn relay(
    scale: &crate::node::scale::Scale,
    node: &Node,
) -> anyhow::Result<Option<crate::node::access_relay::AccessRelay>> {
    match &scale.kafka {
        Some(kafka) => Ok(Some(
            crate::node::access_relay::AccessRelay::follow(kafka, node.key().address()).await?,
        )),
        None => Ok(None),
    }
}

/// No access-event topic to follow in a build without the kafka feature.
#[cfg(not(feature = "kafka"))]
async fn relay(
    _: &crate::node::scale::Scale,
    _: &Node,
) -> anyhow::Result<Option<crate::node::access_relay::AccessRelay>> {
    Ok(None)
}

/// What the read services answer from: the PostgreSQL projections, projected
/// in this process, when the node has `--postgres`; its own state otherwise.
#[cfg(feature = "pg")]
async fn reads(
    scale: &crate::node::scale::Scale,
    node: &Node,
    access: &AccessLog,
) -> anyhow::Result<Reads> {
    let own = NodeReads::new(node.clone(), access.clone());
    Ok(match &scale.postgres {
        Some(postgres) => Reads::Projected {
            own,
            projections: crate::node::project::start_in_process(scale, postgres, node, access)
                .await?,
        },
        None => Reads::Own(own),
    })
}

/// What the read services answer from: the node's own state (`--postgres`
/// was refused when the settings were resolved).
#[cfg(not(feature = "pg"))]
async fn reads(
    _: &crate::node::scale::Scale,
    node: &Node,
    access: &AccessLog,
) -> anyhow::Result<Reads> {
    Ok(Reads::Own(NodeReads::new(node.clone(), access.clone())))
}

/// SIGTERM and SIGINT, registered with the runtime once.
struct ShutdownSignal {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            terminate: signal(SignalKind::terminate())
                .context("cannot install the SIGTERM handler")?,
            interrupt: signal(SignalKind::interrupt())
                .context("cannot install the SIGINT handler")?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}
