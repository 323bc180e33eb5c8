//! The ODS front-end commands: shares (what a department shares and from
//! where), `cairn sync` (source → chunk → SHA-256 → AES-256-GCM → object
//! store → publish the header → release data keys to authorised identities),
//! and `cairn data fetch` (key grant → encrypted stream → verified plaintext).

use std::io::Read;
use std::path::PathBuf;

use access_control::keys::{KeyPair, random_bytes};
use access_control::wrap::{self, WrappedKey};
use anchor_chaincode::Address;
use anchor_chaincode::tx;
use anyhow::{Context, bail, format_err};
use bytes::Bytes;
use cairn_schemas::v1 as pb;
use clap::Subcommand;
use connectors::source::{file as file_source, pg};
use ods_frontend::aead::{DataKey, default_cipher};
use ods_frontend::format::ObjectReader;
use ods_frontend::header::{
    AccessInfo, AssetHeader, CONTENT_HASH_RULE, Column, FORMAT, HASH_ALGORITHM, SealedAccess,
    Watermark,
};
use ods_frontend::pipeline::{PipelineConfig, open_stream};
use ods_frontend::store::SealedStore;

use crate::cli::NodeArgs;
use crate::cli::asset::fetch_asset;
use crate::cli::print;
use crate::cli::rpc::{Transport, connect, connect_as, draft, status, submit};
use crate::clock::now_ms;
use cairn_schemas::v1::access_client::AccessClient;
use cairn_schemas::v1::ledger_client::LedgerClient;
use ods_frontend::layout::{VersionIndex, grant_path, index_path};
use ods_frontend::share::{Share, ShareSource};

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

/// What the source said about the data it streamed.
struct SourceReport {
    rows: Option<u64>,
    columns: Option<Vec<Column>>,
    watermark: Option<Watermark>,
    description: String,
}

/// Starts the source; returns a blocking reader of its bytes and a task that reports when done.
async fn open_source(
    share: &Share,
    since: Option<String>,
) -> anyhow::Result<(Box<dyn Read + Send>, tokio::task::JoinHandle<anyhow::Result<SourceReport>>)> {
    match &share.source {
        ShareSource::File { path, format } => {
            let kind = match format.as_str() {
                "csv" => file_source::FileKind::Csv,
                "ndjson" => file_source::FileKind::Ndjson,
                _ => file_source::FileKind::Unstructured,
            };
            let info = file_source::inspect(path, kind)?;
            let reader = std::fs::File::open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            let report = SourceReport {
                rows: info.rows,
                columns: info.columns.map(|names| {
                    names
                        .into_iter()
                        .map(|name| Column { name, column_type: "text".into(), nullable: None })
                        .collect()
                }),
                watermark: None,
                description: info.source_description,
            };
            Ok((
                Box::new(std::io::BufReader::with_capacity(1 << 20, reader)),
                tokio::spawn(async move { Ok(report) }),
            ))
        }
        ShareSource::Postgres { url, schema, table, query, watermark, format } => {
            let selection = match (table, query) {
                (Some(table), _) => {
                    pg::Selection::Table { schema: schema.clone(), table: table.clone() }
                }
                (None, Some(query)) => pg::Selection::Query(query.clone()),
                (None, None) => bail!("share {} names neither a table nor a query", share.name),
            };
            let pg_share = pg::PgShare {
                url: crate::secrets::with_password(url)?,
                selection,
                watermark_column: watermark.clone(),
            };
            let format = if format == "ndjson" { pg::Format::Ndjson } else { pg::Format::Csv };
            let (writer, reader) = tokio::io::duplex(1 << 20);
            let column = watermark.clone();
            let task = tokio::spawn(async move {
                let outcome = pg::snapshot(&pg_share, format, since.as_deref(), writer).await?;
                Ok(SourceReport {
                    rows: Some(outcome.rows),
                    columns: Some(
                        outcome
                            .columns
                            .into_iter()
                            .map(|c| Column {
                                name: c.name,
                                column_type: c.pg_type,
                                nullable: Some(c.nullable),
                            })
                            .collect(),
                    ),
                    watermark: column.map(|column| Watermark {
                        column,
                        value: outcome.watermark,
                        since,
                    }),
                    description: outcome.source_description,
                })
            });
            Ok((Box::new(tokio_util::io::SyncIoBridge::new(reader)), task))
        }
    }
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
    let mut ledger = connect_as::<LedgerClient<_>>(&args.node, &publisher).await?;
    let info = ledger.get_node_info(pb::GetNodeInfoRequest {}).await.map_err(status)?.into_inner();
    let asset =
        match ledger.get_asset(pb::GetAssetRequest { asset_id: share.asset_id.clone() }).await {
            Ok(asset) => Some(asset.into_inner()),
            Err(e) if e.code() == tonic::Code::NotFound => None,
            Err(e) => return Err(status(e)),
        };
    let latest = asset.as_ref().and_then(|a| a.versions.last().cloned());
    let latest_header = latest.as_ref().and_then(|v| AssetHeader::from_bytes(&v.metadata).ok());
    // The watermark is sealed to the publisher with the access information.
    let since = match (&share.source, &latest_header) {
        (ShareSource::Postgres { watermark: Some(column), .. }, Some(header)) => header
            .access
            .open(&publisher)
            .map_err(|e| format_err!("cannot open the latest version's access information: {e}"))?
            .watermark
            .filter(|w| &w.column == column)
            .and_then(|w| w.value),
        _ => None,
    };
    let version = latest.as_ref().map_or(1, |v| v.version + 1);
    let store = SealedStore::from_url(&share.store, &[])?;
    let suffix = hex::encode(random_bytes::<4>()?);
    let VersionIndex { object, hashes_object } =
        ods_frontend::layout::object_paths(&share.asset_id, version, &suffix);

    // Seal on worker threads while the upload streams the sealed bytes to the store.
    let (reader, source_task) = open_source(&share, since.clone()).await?;
    let data_key = DataKey::generate()?;
    let config = PipelineConfig::with_chunk_size(share.chunk_size);
    let total = match &share.source {
        ShareSource::File { path, .. } => std::fs::metadata(path).ok().map(|m| m.len()),
        ShareSource::Postgres { .. } => None,
    };
    let bar = progress_bar(!args.quiet && !args.node.json, total);
    let seal_bar = bar.clone();
    let sealed = ods_frontend::transfer::seal_to_store_with_progress(
        &store,
        &object,
        reader,
        std::sync::Arc::from(default_cipher(&data_key)),
        config,
        move |bytes| seal_bar.set_position(bytes),
    )
    .await;
    let report = source_task.await.map_err(|e| format_err!("the source task failed: {e}"))?;
    bar.finish_and_clear();
    // A failed source makes the sealing fail too; report the cause first.
    let report = report.context("the source failed; nothing was published")?;
    let (summary, _) =
        sealed.context("sealing or storing the object failed; nothing was published")?;

    let unchanged = match (&since, report.rows) {
        (Some(_), Some(0)) => Some("no rows past the watermark".to_string()),
        _ => latest
            .as_ref()
            .filter(|v| v.content_hash == summary.content_hash)
            .map(|v| format!("content hash equals version {}", v.version)),
    };
    if let Some(why) = unchanged {
        let view =
            serde_json::json!({"published": false, "reason": why, "asset_id": share.asset_id});
        print(args.node.json, &view, || format!("unchanged: {why}; nothing published"));
        // The version stays as it was; make sure its grants follow the current authorised list.
        if let (Some(latest), Some(header)) = (&latest, &latest_header) {
            let access = header.access.open(&publisher).map_err(|e| {
                format_err!("cannot open the latest version's access information: {e}")
            })?;
            ensure_index(
                &store,
                &share.asset_id,
                latest.version,
                &access.object,
                &access.hashes_object,
            )
            .await?;
            let mut key = [0u8; 32];
            hex::decode_to_slice(&access.data_key, &mut key)
                .context("the latest version's data key is malformed")?;
            let granted = grant(&mut ledger, &store, &share.asset_id, latest.version, &key).await?;
            if granted > 0 {
                eprintln!(
                    "released the data key of version {} to {granted} newly authorised identities",
                    latest.version
                );
            }
        }
        return Ok(());
    }
    let hashes: Vec<u8> = summary.chunk_hashes.iter().flatten().copied().collect();
    store
        .put_small(&hashes_object, Bytes::from(hashes))
        .await
        .context("storing the chunk hashes failed; nothing was published")?;

    let header = AssetHeader {
        format: FORMAT.into(),
        name: share.title.clone(),
        description: share.description.clone(),
        data_type: share.data_type().into(),
        encoding: share.encoding().into(),
        hash_algorithm: HASH_ALGORITHM.into(),
        content_hash_rule: CONTENT_HASH_RULE.into(),
        schema: report.columns,
        row_count: report.rows,
        byte_size: summary.plaintext_bytes,
        chunk_count: summary.n_chunks,
        chunk_size: summary.chunk_size as u64,
        cipher: "AES-256-GCM".into(),
        synced_at_ms: now_ms(),
        access: SealedAccess::seal(
            &publisher,
            &AccessInfo {
                object: object.clone(),
                hashes_object: hashes_object.clone(),
                data_key: hex::encode(data_key.as_bytes()),
                source: report.description,
                watermark: report.watermark,
            },
        )?,
    };
    let body = pb::tx_payload::Body::PublishAsset(pb::PublishAsset {
        asset_id: share.asset_id.clone(),
        version,
        data_type: if share.data_type() == "structured" {
            pb::DataType::Structured
        } else {
            pb::DataType::Unstructured
        }
        .into(),
        hash_algorithm: HASH_ALGORITHM.into(),
        content_hash: summary.content_hash.to_vec(),
        size_bytes: summary.plaintext_bytes,
        metadata: header.to_bytes(),
    });
    let envelope = tx::seal(
        draft(&info.chain_id, body)?.payload(&publisher.signing_public_key()),
        publisher.signing_key(),
        &[],
    );
    let published = submit(&mut ledger, envelope).await?;
    // The serving node finds the version's objects through this index. It is written after the
    // publish, so a failed publish leaves nothing that blocks the next sync; a sync that finds the
    // data unchanged writes it if a crash came in between.
    ensure_index(&store, &share.asset_id, version, &object, &hashes_object).await?;

    // The share's authorised list, then a grant for everyone on the ledger's list.
    // The share's list is the first version's rules; later changes are the owner's, through
    // `cairn asset share`, and a sync never undoes a removal.
    if latest.is_none() && !share.authorised.is_empty() {
        let current: Vec<String> =
            fetch_asset(&mut ledger, share.asset_id.clone()).await?.authorised;
        let mut wanted = share.authorised.clone();
        wanted.sort();
        if current != wanted {
            let body = pb::tx_payload::Body::SetSharingRules(pb::SetSharingRules {
                asset_id: share.asset_id.clone(),
                authorised: wanted,
            });
            let envelope = tx::seal(
                draft(&info.chain_id, body)?.payload(&publisher.signing_public_key()),
                publisher.signing_key(),
                &[],
            );
            let _ = submit(&mut ledger, envelope).await?;
        }
    }
    let granted = grant(&mut ledger, &store, &share.asset_id, version, data_key.as_bytes()).await?;
    if args.node.json {
        println!(
            "{}",
            serde_json::json!({
                "published": true,
                "asset_id": share.asset_id,
                "version": version,
                "tx_id": published.tx_id,
                "bytes": summary.plaintext_bytes,
                "chunks": summary.n_chunks,
                "content_hash": hex::encode(summary.content_hash),
                "granted": granted,
                "peak_rss_bytes": peak_rss_bytes(),
            })
        );
    } else {
        println!(
            "published {} version {version}: {} bytes, {} chunks, content hash {} (tx {}); data key released to {granted} identities",
            share.asset_id,
            summary.plaintext_bytes,
            summary.n_chunks,
            hex::encode(summary.content_hash),
            published.tx_id
        );
    }
    Ok(())
}

/// Writes a version's index unless it is there already.
async fn ensure_index(
    store: &SealedStore,
    asset_id: &str,
    version: u64,
    object: &str,
    hashes_object: &str,
) -> anyhow::Result<()> {
    let path = index_path(asset_id, version);
    if store.exists(&path).await? {
        return Ok(());
    }
    let index =
        VersionIndex { object: object.to_string(), hashes_object: hashes_object.to_string() };
    store
        .put_small(&path, Bytes::from(serde_json::to_vec(&index)?))
        .await
        .context("storing the version index failed")?;
    Ok(())
}

/// Wraps a version's data key to every identity on the asset's authorised list that has no grant yet.
async fn grant(
    ledger: &mut cairn_schemas::v1::ledger_client::LedgerClient<Transport>,
    store: &SealedStore,
    asset_id: &str,
    version: u64,
    data_key: &[u8; 32],
) -> anyhow::Result<usize> {
    // `ledger` signs as the publisher: only the owner organisation (and listed identities,
    // auditors) see the list.
    let asset = fetch_asset(ledger, asset_id.into()).await?;
    let mut granted = 0;
    for address in &asset.authorised {
        let recipient: Address =
            address.parse().map_err(|e: anchor_chaincode::Error| format_err!(e))?;
        let path = grant_path(asset_id, version, &recipient);
        if store.exists(&path).await? {
            continue;
        }
        let identity = ledger
            .get_identity(pb::GetIdentityRequest { address: address.clone() })
            .await
            .map_err(status)?
            .into_inner();
        let public: [u8; 32] = identity
            .encryption_public_key
            .as_slice()
            .try_into()
            .map_err(|_| format_err!("identity {address} has no valid encryption key"))?;
        let wrapped =
            wrap::wrap(&public, data_key, &wrap::grant_context(asset_id, version, &recipient))?;
        store.put_small(&path, Bytes::from(serde_json::to_vec(&wrapped)?)).await?;
        granted += 1;
    }
    Ok(granted)
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
    let mut access = connect_as::<AccessClient<_>>(&node, &me).await?;
    let request = pb::RequestAccessRequest { asset_id: asset_id.clone(), version };
    let granted = access.request_access(request).await.map_err(status)?.into_inner();
    let version_pb = granted.version.ok_or_else(|| format_err!("the node sent no version"))?;
    let grant = granted.grant.ok_or_else(|| {
        format_err!("no data key has been released to you for {asset_id} version {}; the provider releases keys when it runs `cairn sync`", version_pb.version)
    })?;
    let data_key = wrap::unwrap(
        &me,
        &WrappedKey { enc: grant.enc, ciphertext: grant.ciphertext },
        &wrap::grant_context(&asset_id, version_pb.version, &me.address()),
    )?;
    let data_key: [u8; 32] = data_key
        .try_into()
        .map_err(|_| format_err!("the released data key has the wrong length"))?;
    // The header and content hash come from the ledger, not from the stream.
    let mut ledger = connect::<LedgerClient<_>>(&node).await?;
    let asset = ledger
        .get_asset(pb::GetAssetRequest { asset_id: asset_id.clone() })
        .await
        .map_err(status)?
        .into_inner();
    let on_ledger = asset
        .versions
        .iter()
        .find(|v| v.version == version_pb.version)
        .ok_or_else(|| format_err!("version {} is not on the ledger", version_pb.version))?;
    let header = AssetHeader::from_bytes(&on_ledger.metadata).map_err(|e| format_err!(e))?;
    let content_hash: [u8; 32] = on_ledger
        .content_hash
        .as_slice()
        .try_into()
        .map_err(|_| format_err!("the ledger's content hash is malformed"))?;

    let request = pb::FetchDataRequest { asset_id: asset_id.clone(), version: version_pb.version };
    let mut stream = access.fetch_data(request).await.map_err(status)?.into_inner();
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
    let partial = out.with_extension(format!("partial-{}", hex::encode(random_bytes::<4>()?)));
    let partial_for_thread = partial.clone();
    let expected_chunks = header.chunk_count;
    let chunk_size = header.chunk_size as usize;
    let first = stream.message().await.map_err(status)?;
    let hashes = match first.and_then(|c| c.part) {
        Some(pb::fetch_data_chunk::Part::ChunkHashes(bytes)) => {
            if bytes.len() % 32 != 0 {
                bail!("the chunk-hash list is {} bytes, not a multiple of 32", bytes.len());
            }
            bytes
                .chunks(32)
                .map(|c| <[u8; 32]>::try_from(c).unwrap_or_default())
                .collect::<Vec<_>>()
        }
        _ => bail!("the node did not start the stream with the chunk hashes"),
    };
    if hashes.len() as u64 != expected_chunks {
        bail!(
            "the node sent {} chunk hashes; the header lists {expected_chunks} chunks",
            hashes.len()
        );
    }
    let opening = std::thread::spawn(move || -> anyhow::Result<u64> {
        let cipher = default_cipher(&DataKey::from_bytes(data_key));
        let file = std::fs::File::create(&partial_for_thread)
            .with_context(|| format!("cannot create {}", partial_for_thread.display()))?;
        let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
        let reader = ChannelReader { receiver, buffer: Vec::new(), position: 0 };
        let chunks = ObjectReader::new_expecting(reader, chunk_size)?;
        let summary = open_stream(chunks, cipher.as_ref(), &hashes, &content_hash, &mut writer)?;
        let file = writer
            .into_inner()
            .map_err(|e| format_err!("cannot write the output: {}", e.error()))?;
        file.sync_all()?;
        Ok(summary.plaintext_bytes)
    });
    let mut received = 0u64;
    let mut stream_error = None;
    loop {
        match stream.message().await {
            Ok(Some(pb::FetchDataChunk {
                part: Some(pb::fetch_data_chunk::Part::Data(bytes)),
            })) => {
                received += bytes.len() as u64;
                if sender.send(bytes).is_err() {
                    break;
                }
            }
            Ok(Some(_)) => {
                stream_error = Some(format_err!("unexpected part in the data stream"));
                break;
            }
            Ok(None) => break,
            Err(e) => {
                stream_error = Some(status(e));
                break;
            }
        }
    }
    drop(sender);
    let opened = opening.join().map_err(|_| format_err!("the decryption thread panicked"))?;
    let result = match (stream_error, opened) {
        (Some(e), _) => Err(e),
        (None, Err(e)) => Err(e),
        (None, Ok(bytes)) => Ok(bytes),
    };
    match result {
        Ok(bytes) => {
            std::fs::rename(&partial, &out)
                .with_context(|| format!("cannot move the output to {}", out.display()))?;
            let view = serde_json::json!({
                "asset_id": asset_id,
                "version": version_pb.version,
                "bytes": bytes,
                "received_bytes": received,
                "content_hash": hex::encode(content_hash),
                "out": out,
                "peak_rss_bytes": peak_rss_bytes(),
            });
            print(node.json, &view, || {
                format!(
                    "fetched {asset_id} version {}: {bytes} bytes, every chunk and the content hash {} verified against the ledger; wrote {}",
                    version_pb.version,
                    hex::encode(content_hash),
                    out.display()
                )
            });
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e.context(format!("{asset_id} version {} was not written", version_pb.version)))
        }
    }
}

/// This process's peak resident memory (VmHWM), in bytes, from /proc.
pub(crate) fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A blocking reader over byte buffers sent through a channel.
struct ChannelReader {
    receiver: std::sync::mpsc::Receiver<Vec<u8>>,
    buffer: Vec<u8>,
    position: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.position == self.buffer.len() {
            match self.receiver.recv() {
                Ok(next) => {
                    self.buffer = next;
                    self.position = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buffer.len() - self.position);
        out[..n].copy_from_slice(&self.buffer[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}
