//! The command line's adapters for the ODS pipelines of `ods_frontend`: the
//! ledger as a share's publisher sees it ([`GrpcLedger`], over
//! `cairn.v1.Ledger`), a reader's node ([`GrpcNode`], over `cairn.v1.Access`
//! and `cairn.v1.Ledger`), and a share's source ([`ShareSourceAdapter`], a
//! file or PostgreSQL through `connectors`).

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use access_control::keys::KeyPair;
use access_control::wrap::WrappedKey;
use anchor_chaincode::Address;
use anchor_chaincode::tx;
use anyhow::{Context, format_err};
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::access_client::AccessClient;
use cairn_schemas::v1::ledger_client::LedgerClient;
use connectors::source::file as file_source;
#[cfg(feature = "pg")]
use connectors::source::pg;
use ods_frontend::BoxError;
use ods_frontend::fetch::{AccessGrant, FetchPart, Node, VersionSelector};
use ods_frontend::header::Column;
#[cfg(feature = "pg")]
use ods_frontend::header::Watermark;
use ods_frontend::share::{Share, ShareSource};
use ods_frontend::sync::{
    DataType, Ledger, LedgerVersion, NewVersion, OpenedSource, Source, SourceReport,
};

use crate::cli::NodeArgs;
use crate::cli::asset::fetch_asset;
use crate::cli::rpc::{Transport, connect, connect_as, draft, status, submit};

fn ledger_version(version: &pb::AssetVersion) -> LedgerVersion {
    LedgerVersion {
        version: version.version,
        content_hash: version.content_hash.clone(),
        metadata: version.metadata.clone(),
    }
}

/// The ledger, every request signed as the share's publisher: only the owner
/// organisation sees the authorised list.
pub(super) struct GrpcLedger {
    client: LedgerClient<Transport>,
    chain_id: String,
    publisher: KeyPair,
}

impl GrpcLedger {
    /// Connects to the node as `publisher` and learns its chain.
    pub(super) async fn connect(node: &NodeArgs, publisher: &KeyPair) -> anyhow::Result<Self> {
        let mut client = connect_as::<LedgerClient<_>>(node, publisher).await?;
        let info =
            client.get_node_info(pb::GetNodeInfoRequest {}).await.map_err(status)?.into_inner();
        Ok(GrpcLedger { client, chain_id: info.chain_id, publisher: publisher.clone() })
    }

    async fn submit(&mut self, body: pb::tx_payload::Body) -> anyhow::Result<pb::SubmitResponse> {
        let envelope = tx::seal(
            draft(&self.chain_id, body)?.payload(&self.publisher.signing_public_key()),
            self.publisher.signing_key(),
            &[],
        );
        submit(&mut self.client, envelope).await
    }
}

impl Ledger for GrpcLedger {
    async fn latest_version(&mut self, asset_id: &str) -> Result<Option<LedgerVersion>, BoxError> {
        let request = pb::GetAssetRequest { asset_id: asset_id.to_string() };
        match self.client.get_asset(request).await {
            Ok(asset) => Ok(asset.into_inner().versions.last().map(ledger_version)),
            Err(e) if e.code() == tonic::Code::NotFound => Ok(None),
            Err(e) => Err(status(e).into()),
        }
    }

    async fn publish_version(&mut self, version: &NewVersion) -> Result<String, BoxError> {
        let body = pb::tx_payload::Body::PublishAsset(pb::PublishAsset {
            asset_id: version.asset_id.clone(),
            version: version.version,
            data_type: match version.data_type {
                DataType::Structured => pb::DataType::Structured,
                DataType::Unstructured => pb::DataType::Unstructured,
            }
            .into(),
            hash_algorithm: version.hash_algorithm.clone(),
            content_hash: version.content_hash.to_vec(),
            size_bytes: version.size_bytes,
            metadata: version.metadata.clone(),
        });
        Ok(self.submit(body).await?.tx_id)
    }

    async fn authorised(&mut self, asset_id: &str) -> Result<Vec<String>, BoxError> {
        Ok(fetch_asset(&mut self.client, asset_id.to_string()).await?.authorised)
    }

    async fn set_authorised(
        &mut self,
        asset_id: &str,
        authorised: &[String],
    ) -> Result<(), BoxError> {
        let body = pb::tx_payload::Body::SetSharingRules(pb::SetSharingRules {
            asset_id: asset_id.to_string(),
            authorised: authorised.to_vec(),
        });
        let _ = self.submit(body).await?;
        Ok(())
    }

    async fn encryption_key(&mut self, address: &Address) -> Result<Vec<u8>, BoxError> {
        let request = pb::GetIdentityRequest { address: address.to_string() };
        let identity = self.client.get_identity(request).await.map_err(status)?.into_inner();
        Ok(identity.encryption_public_key)
    }
}

/// A reader's node: access requests and the data stream signed as the
/// reader, the header and content hash from the ledger.
pub(super) struct GrpcNode {
    access: AccessClient<Transport>,
    ledger: LedgerClient<Transport>,
}

impl GrpcNode {
    /// Connects to the node, signing access requests as `reader`.
    pub(super) async fn connect(node: &NodeArgs, reader: &KeyPair) -> anyhow::Result<Self> {
        let access = connect_as::<AccessClient<_>>(node, reader).await?;
        let ledger = connect::<LedgerClient<_>>(node).await?;
        Ok(GrpcNode { access, ledger })
    }
}

/// The parts of a `FetchData` stream.
pub(super) struct Parts(tonic::Streaming<pb::FetchDataChunk>);

impl tokio_stream::Stream for Parts {
    type Item = Result<FetchPart, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.0).poll_next(cx).map(|item| {
            item.map(|message| match message {
                Ok(pb::FetchDataChunk {
                    part: Some(pb::fetch_data_chunk::Part::ChunkHashes(b)),
                }) => Ok(FetchPart::ChunkHashes(b)),
                Ok(pb::FetchDataChunk { part: Some(pb::fetch_data_chunk::Part::Data(b)) }) => {
                    Ok(FetchPart::Data(b))
                }
                Ok(pb::FetchDataChunk { part: None }) => Ok(FetchPart::Empty),
                Err(e) => Err(status(e).into()),
            })
        })
    }
}

impl Node for GrpcNode {
    type Parts = Parts;

    async fn request_access(
        &mut self,
        asset_id: &str,
        version: VersionSelector,
    ) -> Result<AccessGrant, BoxError> {
        let version = match version {
            VersionSelector::Latest => 0,
            VersionSelector::Exact(version) => version,
        };
        let request = pb::RequestAccessRequest { asset_id: asset_id.to_string(), version };
        let granted = self.access.request_access(request).await.map_err(status)?.into_inner();
        let version = granted.version.ok_or_else(|| format_err!("the node sent no version"))?;
        Ok(AccessGrant {
            version: version.version,
            grant: granted
                .grant
                .map(|grant| WrappedKey { enc: grant.enc, ciphertext: grant.ciphertext }),
        })
    }

    async fn ledger_version(
        &mut self,
        asset_id: &str,
        version: u64,
    ) -> Result<Option<LedgerVersion>, BoxError> {
        let request = pb::GetAssetRequest { asset_id: asset_id.to_string() };
        let asset = self.ledger.get_asset(request).await.map_err(status)?.into_inner();
        Ok(asset.versions.iter().find(|v| v.version == version).map(ledger_version))
    }

    async fn fetch_data(&mut self, asset_id: &str, version: u64) -> Result<Parts, BoxError> {
        let request = pb::FetchDataRequest { asset_id: asset_id.to_string(), version };
        Ok(Parts(self.access.fetch_data(request).await.map_err(status)?.into_inner()))
    }
}

/// A share's source: its file, or a snapshot of its PostgreSQL table or query.
pub(super) struct ShareSourceAdapter<'a>(pub(super) &'a Share);

impl Source for ShareSourceAdapter<'_> {
    fn open(&self, since: Option<String>) -> Result<OpenedSource, BoxError> {
        let share = self.0;
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
                Ok(OpenedSource::ready(
                    Box::new(std::io::BufReader::with_capacity(1 << 20, reader)),
                    report,
                ))
            }
            ShareSource::Postgres { .. } => open_postgres(share, since),
        }
    }
}

/// Starts a snapshot of a PostgreSQL share's table or query.
#[cfg(feature = "pg")]
fn open_postgres(share: &Share, since: Option<String>) -> Result<OpenedSource, BoxError> {
    let ShareSource::Postgres { url, schema, table, query, watermark, format } = &share.source
    else {
        return Err(format_err!("share {} is not a PostgreSQL share", share.name).into());
    };
    let selection = match (table, query) {
        (Some(table), _) => pg::Selection::Table { schema: schema.clone(), table: table.clone() },
        (None, Some(query)) => pg::Selection::Query(query.clone()),
        (None, None) => {
            return Err(
                format_err!("share {} names neither a table nor a query", share.name).into()
            );
        }
    };
    let pg_share = pg::PgShare {
        url: crate::secrets::with_password(url)?,
        selection,
        watermark_column: watermark.clone(),
    };
    let format = if format == "ndjson" { pg::Format::Ndjson } else { pg::Format::Csv };
    let (writer, reader) = tokio::io::duplex(1 << 20);
    let column = watermark.clone();
    let report = tokio::spawn(async move {
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
            watermark: column.map(|column| Watermark { column, value: outcome.watermark, since }),
            description: outcome.source_description,
        })
    });
    Ok(OpenedSource { reader: Box::new(tokio_util::io::SyncIoBridge::new(reader)), report })
}

/// A build without the pg feature has no PostgreSQL source.
#[cfg(not(feature = "pg"))]
fn open_postgres(_: &Share, _: Option<String>) -> Result<OpenedSource, BoxError> {
    Err(crate::features::missing("pg").into())
}
