//! The ODS front-end commands: shares (what a department shares and from
//! where), `cairn sync` and `cairn data fetch`.
//!
//! The pipelines themselves are `ods_frontend::sync` (source → chunk →
//! SHA-256 → AES-256-GCM → object store → publish the header → release data
//! keys to authorised identities) and `ods_frontend::fetch` (key grant →
//! encrypted stream → verified plaintext); this module parses the arguments,
//! builds their adapters ([`ports`]: the node over gRPC, the share's source
//! through `connectors`) and prints what they did.

mod ports;

use std::path::PathBuf;

use access_control::keys::KeyPair;
use anchor_chaincode::Address;
use anyhow::{Context, bail, format_err};
use clap::Subcommand;
use ods_frontend::fetch::{FetchRequest, Fetched, VersionSelector, fetch};
use ods_frontend::share::{Share, ShareSource};
use ods_frontend::store::SealedStore;
use ods_frontend::sync::{Published, Regranted, SyncEvent, SyncJob, SyncOutcome};

use self::ports::{GrpcLedger, GrpcNode, ShareSourceAdapter};
use crate::cli::NodeArgs;
use crate::cli::print;
use crate::clock::now_ms;

#[derive(Subcommand, Debug)]
pub(crate) enum ShareCommand {
    /// Declare what to share: a PostgreSQL table or query, or a file.
    Create {
        /// The share's name (used by `cairn sync NAME`).
        name: String,
        /// The asset id its versions are published under.
        #[arg(long)]
        asset_id: String,
        /// The publisher's key file (a provider of the owning organisation).
        #[arg(long)]
        key: PathBuf,
        /// A PostgreSQL URL (postgres://user@host:port/db[?sslmode=verify-full]), without a
        /// password: `cairn sync` takes it from PGPASSWORD or CAIRN_POSTGRES_PASSWORD_FILE.
        #[arg(long, conflicts_with = "file")]
        postgres: Option<String>,
        /// The table (optionally schema.table) to share.
        #[arg(long, requires = "postgres", conflicts_with = "query")]
        table: Option<String>,
        /// A SELECT query to share.
        #[arg(long, requires = "postgres")]
        query: Option<String>,
        /// A column whose values only grow (updated_at, a serial id): later syncs take only newer rows.
        #[arg(long, requires = "postgres")]
        watermark: Option<String>,
        /// A file to share.
        #[arg(long)]
        file: Option<PathBuf>,
        /// csv or ndjson (structured), or raw (any file, unstructured).
        #[arg(long, default_value = "csv")]
        format: String,
        /// A title for the directory; defaults to the asset id.
        #[arg(long)]
        title: Option<String>,
        /// A description for the directory.
        #[arg(long, default_value = "")]
        description: String,
        /// An identity allowed to read it; repeat for several.
        #[arg(long = "authorise")]
        authorised: Vec<String>,
        /// The object store URL (file:///dir, s3://bucket/prefix, memory://); defaults to DATA_DIR/ods/objects.
        #[arg(long)]
        store: Option<String>,
        /// Chunk size in bytes.
        #[arg(long, default_value_t = 4 << 20)]
        chunk_size: usize,
        /// The data directory whose ODS keeps the share.
        #[arg(long, env = "CAIRN_DATA_DIR", default_value = "cairn-data")]
        data_dir: PathBuf,
    },
}

pub(crate) fn share(command: ShareCommand) -> anyhow::Result<()> {
    let ShareCommand::Create {
        name,
        asset_id,
        key,
        postgres,
        table,
        query,
        watermark,
        file,
        format,
        title,
        description,
        authorised,
        store,
        chunk_size,
        data_dir,
    } = command;
    let source = match (postgres, file) {
        (Some(url), None) => {
            crate::features::need("pg")?;
            crate::secrets::refuse_password_on_command_line("--postgres", &url)?;
            if !["csv", "ndjson"].contains(&format.as_str()) {
                bail!("--format for a PostgreSQL share is csv or ndjson, not {format:?}");
            }
            if table.is_none() == query.is_none() {
                bail!("give --table or --query for a PostgreSQL share");
            }
            let (schema, table) = match table.as_deref().and_then(|t| t.split_once('.')) {
                Some((schema, table)) => (Some(schema.to_string()), Some(table.to_string())),
                None => (None, table),
            };
            ShareSource::Postgres { url, schema, table, query, watermark, format }
        }
        (None, Some(path)) => {
            if !["csv", "ndjson", "raw"].contains(&format.as_str()) {
                bail!("--format for a file share is csv, ndjson or raw, not {format:?}");
            }
            let path = std::path::absolute(&path)
                .with_context(|| format!("cannot resolve {}", path.display()))?;
            ShareSource::File { path, format }
        }
        _ => bail!("give --postgres (with --table or --query) or --file"),
    };
    for address in &authorised {
        let _: Address = address
            .parse()
            .map_err(|e: anchor_chaincode::Error| format_err!("--authorise: {e}"))?;
    }
    let _ = KeyPair::load(&key)?;
    let key = std::path::absolute(&key)?;
    let store = match store {
        Some(store) => store,
        None => ods_frontend::layout::default_store(&data_dir).with_context(|| {
            format!("cannot create the object store under {}", data_dir.display())
        })?,
    };
    if store.starts_with("memory://") {
        bail!(
            "--store memory:// keeps nothing after `cairn sync` exits; use file:///dir or s3://bucket/prefix"
        );
    }
    let _ = SealedStore::from_url(&store, &[])?;
    let share = Share {
        title: title.unwrap_or_else(|| asset_id.clone()),
        name,
        asset_id,
        description,
        source,
        key,
        authorised,
        store,
        chunk_size,
    };
    let path = share.save(&data_dir)?;
    println!(
        "wrote share {:?} for asset {} to {} (mode 0600)",
        share.name,
        share.asset_id,
        path.display()
    );
    println!("publish a version with: cairn sync {}", share.name);
    Ok(())
}

/// A progress bar on stderr: bytes, rate, and an ETA when the input size is known.
fn progress_bar(enabled: bool, total: Option<u64>) -> indicatif::ProgressBar {
    if !enabled {
        return indicatif::ProgressBar::hidden();
    }
    let (bar, template) = match total {
        Some(total) => (
            indicatif::ProgressBar::new(total),
            "{bar:30} {bytes}/{total_bytes} sealed  {bytes_per_sec}  ETA {eta}",
        ),
        None => (
            indicatif::ProgressBar::new_spinner(),
            "{spinner} {bytes} sealed  {bytes_per_sec}  {elapsed_precise}",
        ),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar
}

#[derive(clap::Args, Debug)]
pub(crate) struct SyncArgs {
    /// The share to sync.
    share: String,
    /// The data directory whose ODS keeps the share.
    #[arg(long, env = "CAIRN_DATA_DIR", default_value = "cairn-data")]
    data_dir: PathBuf,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    node: NodeArgs,
}

/// Publishes a new version of a share if its data changed, and releases its data key to the authorised identities.
pub(crate) async fn sync(args: SyncArgs) -> anyhow::Result<()> {
    let share = Share::load(&args.data_dir, &args.share)?;
    let publisher = KeyPair::load(&share.key)?;
    // Signed as the publisher: only the owner organisation sees the authorised list.
    let mut ledger = GrpcLedger::connect(&args.node, &publisher).await?;
    let store = SealedStore::from_url(&share.store, &[])?;
    let total = match &share.source {
        ShareSource::File { path, .. } => std::fs::metadata(path).ok().map(|m| m.len()),
        ShareSource::Postgres { .. } => None,
    };
    let json = args.node.json;
    let bar = progress_bar(!args.quiet && !json, total);
    let asset_id = share.asset_id.clone();
    let events = move |event| match event {
        SyncEvent::Sealed { bytes } => bar.set_position(bytes),
        SyncEvent::SealingEnded => bar.finish_and_clear(),
        SyncEvent::Unchanged(why) => {
            let view = serde_json::json!({"published": false, "reason": why.to_string(), "asset_id": asset_id});
            print(json, &view, || format!("unchanged: {why}; nothing published"));
        }
        _ => {}
    };
    let job = SyncJob { share: &share, publisher: &publisher, store: &store, clock: now_ms };
    let published = match job.run(&mut ledger, &ShareSourceAdapter(&share), events).await {
        Ok(SyncOutcome::Published(published)) => published,
        Ok(SyncOutcome::Unchanged { regranted, .. }) => {
            if let Some(Regranted { version, granted }) = regranted
                && granted > 0
            {
                eprintln!(
                    "released the data key of version {version} to {granted} newly authorised identities"
                );
            }
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let Published { version, tx_id, bytes, chunks, content_hash, granted } = published;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "published": true,
                "asset_id": share.asset_id,
                "version": version,
                "tx_id": tx_id,
                "bytes": bytes,
                "chunks": chunks,
                "content_hash": hex::encode(content_hash),
                "granted": granted,
                "peak_rss_bytes": peak_rss_bytes(),
            })
        );
    } else {
        println!(
            "published {} version {version}: {bytes} bytes, {chunks} chunks, content hash {} (tx {tx_id}); data key released to {granted} identities",
            share.asset_id,
            hex::encode(content_hash),
        );
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub(crate) enum DataCommand {
    /// Fetch an asset version you are authorised for, decrypt it and check it against the ledger.
    Fetch {
        /// The asset id.
        asset_id: String,
        /// The version; defaults to the latest.
        #[arg(long, default_value_t = 0)]
        version: u64,
        /// Your key file.
        #[arg(long)]
        key: PathBuf,
        /// Where to write the plaintext (written only once every chunk verified).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
}

pub(crate) async fn data(command: DataCommand) -> anyhow::Result<()> {
    let DataCommand::Fetch { asset_id, version, key, out, node } = command;
    let me = KeyPair::load(&key)?;
    let mut grpc = GrpcNode::connect(&node, &me).await?;
    let version = match version {
        0 => VersionSelector::Latest,
        version => VersionSelector::Exact(version),
    };
    let request = FetchRequest { asset_id: &asset_id, version, reader: &me, out: &out };
    let Fetched { version, bytes, received_bytes, content_hash } =
        fetch(&mut grpc, &request).await?;
    let view = serde_json::json!({
        "asset_id": asset_id,
        "version": version,
        "bytes": bytes,
        "received_bytes": received_bytes,
        "content_hash": hex::encode(content_hash),
        "out": out,
        "peak_rss_bytes": peak_rss_bytes(),
    });
    print(node.json, &view, || {
        format!(
            "fetched {asset_id} version {version}: {bytes} bytes, every chunk and the content hash {} verified against the ledger; wrote {}",
            hex::encode(content_hash),
            out.display()
        )
    });
    Ok(())
}

/// This process's peak resident memory (VmHWM), in bytes, from /proc.
pub(crate) fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
