//! The scaled mode's settings: Kafka for the ledger and access events,
//! PostgreSQL for the projections, an object store for ODS data.
//!
//! Each setting comes from, in order of precedence: the command-line flag,
//! its `CAIRN_*` environment variable, the configuration file (`--config`, or
//! `cairn.toml` in the working directory when it exists), the default. Without
//! `--kafka` the node runs on its embedded logs; without `--postgres` the
//! projections stay in memory.

use std::path::{Path, PathBuf};
#[cfg(feature = "kafka")]
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
#[cfg(feature = "kafka")]
use connectors::kafka::{KafkaConfig, TopicSpec};
use serde::Deserialize;

/// Default ledger topic.
#[cfg(feature = "kafka")]
pub(crate) const DEFAULT_LEDGER_TOPIC: &str = "cairn.ledger";
/// Default access-event topic.
#[cfg(feature = "kafka")]
pub(crate) const DEFAULT_ACCESS_TOPIC: &str = "cairn.access";
/// Default partitions of the access-event topic.
#[cfg(feature = "kafka")]
pub(crate) const DEFAULT_ACCESS_PARTITIONS: i32 = 8;
/// Default PostgreSQL schema of the projections.
pub(crate) const DEFAULT_SCHEMA: &str = "cairn";
/// The largest record the ledger topic accepts, set as its
/// `max.message.bytes` when Cairn creates it (the broker default, 1 MiB, is
/// too small for one envelope of `anchor_chaincode::tx::MAX_TX_BYTES` with its
/// record framing). The producer's `message.max.bytes` is above it.
#[cfg(feature = "kafka")]
pub(crate) const LEDGER_TOPIC_MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;
/// The most envelope bytes in a block a node appends to Kafka: half the
/// topic's record limit, leaving room for the record batch framing and headers.
#[cfg(feature = "kafka")]
pub(crate) const KAFKA_MAX_BLOCK_BYTES: usize = LEDGER_TOPIC_MAX_MESSAGE_BYTES / 2;

/// The flags shared by `up`, `project`, `replay` and `bench scale`.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct ScaleArgs {
    /// Kafka bootstrap servers (host:port,…): the ledger and access events go to Kafka topics.
    #[arg(long, env = "CAIRN_KAFKA", value_name = "BROKERS")]
    pub(crate) kafka: Option<String>,
    /// An extra Kafka client property KEY=VALUE (repeat): security.protocol, sasl.mechanism, sasl.username, sasl.password, ssl.ca.location, …
    #[arg(long = "kafka-option", value_name = "KEY=VALUE")]
    pub(crate) kafka_options: Vec<String>,
    /// The ledger topic (one partition) [default: cairn.ledger].
    #[arg(long, env = "CAIRN_LEDGER_TOPIC")]
    pub(crate) ledger_topic: Option<String>,
    /// The access-event topic (partitioned by identity) [default: cairn.access].
    #[arg(long, env = "CAIRN_ACCESS_TOPIC")]
    pub(crate) access_topic: Option<String>,
    /// The cosign topic, where the consortium's nodes publish their
    /// cosignatures [default: the ledger topic's name with `.cosign` for
    /// `.ledger`, so `cairn.cosign`].
    #[arg(long, env = "CAIRN_COSIGN_TOPIC")]
    pub(crate) cosign_topic: Option<String>,
    /// Partitions of the access-event topic when Cairn creates it [default: 8].
    #[arg(long, env = "CAIRN_ACCESS_PARTITIONS")]
    pub(crate) access_partitions: Option<i32>,
    /// Replication factor of the topics Cairn creates [default: 1].
    #[arg(long, env = "CAIRN_KAFKA_REPLICATION")]
    pub(crate) kafka_replication: Option<i32>,
    /// PostgreSQL URL of the projections (directory, history, audit log, usage).
    #[arg(long, env = "CAIRN_POSTGRES", value_name = "URL")]
    pub(crate) postgres: Option<String>,
    /// The PostgreSQL schema of the projections [default: cairn].
    #[arg(long, env = "CAIRN_POSTGRES_SCHEMA")]
    pub(crate) postgres_schema: Option<String>,
    /// The ODS object store (file:///dir or s3://bucket/prefix) [default: DATA_DIR/ods/objects].
    #[arg(long = "ods-store", visible_alias = "s3", env = "CAIRN_ODS_STORE", value_name = "URL")]
    pub(crate) ods_store: Option<String>,
    /// A TOML configuration file [default: ./cairn.toml when it exists].
    #[arg(long, env = "CAIRN_CONFIG")]
    pub(crate) config: Option<PathBuf>,
}

/// `cairn.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    kafka: FileKafka,
    #[serde(default)]
    postgres: FilePostgres,
    #[serde(default)]
    ods: FileOds,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(feature = "kafka"), allow(dead_code, reason = "read by the kafka feature"))]
struct FileKafka {
    brokers: Option<String>,
    ledger_topic: Option<String>,
    access_topic: Option<String>,
    cosign_topic: Option<String>,
    access_partitions: Option<i32>,
    replication: Option<i32>,
    #[serde(default)]
    options: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePostgres {
    url: Option<String>,
    schema: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileOds {
    store: Option<String>,
}

/// Kafka settings: none in a build without the kafka feature.
#[cfg(not(feature = "kafka"))]
#[derive(Clone, Debug)]
pub(crate) enum KafkaSettings {}

/// Kafka settings, resolved.
#[cfg(feature = "kafka")]
#[derive(Clone, Debug)]
pub(crate) struct KafkaSettings {
    pub(crate) config: KafkaConfig,
    pub(crate) ledger_topic: String,
    pub(crate) access_topic: String,
    /// The cosign topic, when named (else [`KafkaSettings::cosign_topic`] derives it).
    pub(crate) cosign_topic: Option<String>,
    pub(crate) access_partitions: i32,
}

#[cfg(feature = "kafka")]
impl KafkaSettings {
    /// The cosign topic: as named, or after the ledger topic: `X.ledger` has
    /// `X.cosign` (so `cairn.ledger` has `cairn.cosign`), any other name `NAME.cosign`.
    pub(crate) fn cosign_topic(&self) -> String {
        if let Some(named) = &self.cosign_topic {
            return named.clone();
        }
        match self.ledger_topic.strip_suffix(".ledger") {
            Some(stem) => format!("{stem}.cosign"),
            None => format!("{}.cosign", self.ledger_topic),
        }
    }

    /// The two topics, as Cairn creates them: kept forever, never compacted.
    pub(crate) fn topics(&self) -> Vec<TopicSpec> {
        let keep = vec![
            ("retention.ms".to_owned(), "-1".to_owned()),
            ("retention.bytes".to_owned(), "-1".to_owned()),
            ("cleanup.policy".to_owned(), "delete".to_owned()),
        ];
        vec![
            TopicSpec {
                name: self.ledger_topic.clone(),
                partitions: 1,
                exact: true,
                configs: keep
                    .iter()
                    .cloned()
                    .chain([(
                        "max.message.bytes".to_owned(),
                        LEDGER_TOPIC_MAX_MESSAGE_BYTES.to_string(),
                    )])
                    .collect(),
            },
            TopicSpec {
                name: self.access_topic.clone(),
                partitions: self.access_partitions,
                exact: false,
                configs: keep,
            },
            // Cosignatures are superseded by newer ones: a week is kept, so a
            // node restarted within it sees the consortium's recent agreement.
            TopicSpec {
                name: self.cosign_topic(),
                partitions: 1,
                exact: true,
                configs: vec![
                    ("retention.ms".to_owned(), (7 * 24 * 3600 * 1000_u64).to_string()),
                    ("cleanup.policy".to_owned(), "delete".to_owned()),
                ],
            },
        ]
    }

    /// Creates missing topics and checks the ledger topic's partition count.
    pub(crate) async fn ensure_topics(&self) -> anyhow::Result<i32> {
        let counts = connectors::kafka::ensure_topics(&self.config, &self.topics()).await?;
        Ok(counts.get(&self.access_topic).copied().unwrap_or(self.access_partitions))
    }
}

/// PostgreSQL settings, resolved.
#[derive(Clone)]
pub(crate) struct PostgresSettings {
    pub(crate) url: String,
    pub(crate) schema: String,
}

impl std::fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("url", &redact_url(&self.url))
            .field("schema", &self.schema)
            .finish()
    }
}

/// A URL with its password replaced, for messages: in the user information
/// or as a `password` query parameter (which [`crate::secrets::with_password`] adds).
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return if crate::secrets::url_has_password(url) {
            "(a connection string with a password)".to_owned()
        } else {
            url.to_owned()
        };
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let mut redacted = match rest.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => format!("{scheme}://{rest}"),
        },
        None => format!("{scheme}://{rest}"),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| {
                if pair.to_ascii_lowercase().starts_with("password=") {
                    "password=***".to_owned()
                } else {
                    pair.to_owned()
                }
            })
            .collect();
        redacted.push('?');
        redacted.push_str(&pairs.join("&"));
    }
    redacted
}

/// Everything resolved.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scale {
    pub(crate) kafka: Option<KafkaSettings>,
    /// Always `None` without the pg feature (`--postgres` is refused).
    #[cfg_attr(not(feature = "pg"), allow(dead_code))]
    pub(crate) postgres: Option<PostgresSettings>,
    pub(crate) ods_store: Option<String>,
}

impl ScaleArgs {
    /// Merges the flags with the configuration file and the defaults.
    pub(crate) fn resolve(&self) -> anyhow::Result<Scale> {
        let file = match &self.config {
            Some(path) => read_config(path)?,
            None if Path::new("cairn.toml").exists() => read_config(Path::new("cairn.toml"))?,
            None => FileConfig::default(),
        };
        let brokers = self.kafka.clone().or_else(|| file.kafka.brokers.clone());
        let kafka = match brokers {
            None => {
                if !self.kafka_options.is_empty() {
                    bail!("--kafka-option needs --kafka BROKERS");
                }
                None
            }
            Some(brokers) => Some(self.kafka_settings(brokers, file.kafka)?),
        };
        if crate::secrets::from_command_line(self.postgres.as_deref(), "CAIRN_POSTGRES")
            && let Some(url) = &self.postgres
        {
            crate::secrets::refuse_password_on_command_line("--postgres", url)?;
        }
        let postgres = match self.postgres.clone().or(file.postgres.url) {
            None => None,
            Some(url) => {
                crate::features::need("pg")?;
                Some(PostgresSettings {
                    url: crate::secrets::with_password(&url)?,
                    schema: self
                        .postgres_schema
                        .clone()
                        .or(file.postgres.schema.clone())
                        .unwrap_or_else(|| DEFAULT_SCHEMA.to_owned()),
                })
            }
        };
        Ok(Scale { kafka, postgres, ods_store: self.ods_store.clone().or(file.ods.store) })
    }

    /// The Kafka settings of the flags over `file`'s `[kafka]`.
    #[cfg(feature = "kafka")]
    fn kafka_settings(&self, brokers: String, file: FileKafka) -> anyhow::Result<KafkaSettings> {
        if brokers.trim().is_empty() {
            bail!("--kafka is empty; give the bootstrap servers as host:port[,host:port]");
        }
        let mut config = KafkaConfig::new(brokers);
        config.options = file.options.into_iter().collect();
        for option in &self.kafka_options {
            let Some((key, value)) = option.split_once('=') else {
                bail!("--kafka-option {option:?} is not KEY=VALUE");
            };
            if is_secret_kafka_option(key) {
                bail!(
                    "--kafka-option {} is a secret, and other users of this machine can read the command line: put it in [kafka.options] of cairn.toml (chmod 600)",
                    key.trim()
                );
            }
            config.options.retain(|(k, _)| k != key);
            config.options.push((key.trim().to_owned(), value.to_owned()));
        }
        config.replication = self.kafka_replication.or(file.replication).unwrap_or(1);
        config.timeout = Duration::from_secs(30);
        let access_partitions =
            self.access_partitions.or(file.access_partitions).unwrap_or(DEFAULT_ACCESS_PARTITIONS);
        if !(1..=1024).contains(&access_partitions) {
            bail!("--access-partitions must be between 1 and 1024, not {access_partitions}");
        }
        Ok(KafkaSettings {
            config,
            ledger_topic: self
                .ledger_topic
                .clone()
                .or(file.ledger_topic)
                .unwrap_or_else(|| DEFAULT_LEDGER_TOPIC.to_owned()),
            access_topic: self
                .access_topic
                .clone()
                .or(file.access_topic)
                .unwrap_or_else(|| DEFAULT_ACCESS_TOPIC.to_owned()),
            cosign_topic: self.cosign_topic.clone().or(file.cosign_topic),
            access_partitions,
        })
    }

    /// A build without the kafka feature has no Kafka settings.
    #[cfg(not(feature = "kafka"))]
    fn kafka_settings(&self, _: String, _: FileKafka) -> anyhow::Result<KafkaSettings> {
        Err(crate::features::missing("kafka"))
    }
}

/// Whether a librdkafka property holds a secret (a password or a private key).
fn is_secret_kafka_option(key: &str) -> bool {
    let key = key.trim().to_ascii_lowercase();
    key.contains("password") || key.contains("secret") || key == "ssl.key.pem"
}

fn read_config(path: &Path) -> anyhow::Result<FileConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let config: FileConfig = toml::from_str(&text)
        .with_context(|| format!("{} is not a valid Cairn configuration", path.display()))?;
    let mut secrets = Vec::new();
    if config.postgres.url.as_deref().is_some_and(crate::secrets::url_has_password) {
        secrets.push("a password in [postgres] url".to_owned());
    }
    for key in config.kafka.options.keys().filter(|k| is_secret_kafka_option(k)) {
        secrets.push(format!("the secret Kafka option {key:?}"));
    }
    if !secrets.is_empty() {
        crate::secrets::check_private(path, &secrets.join(" and "))?;
    }
    Ok(config)
}

#[cfg(all(feature = "kafka", feature = "pg"))]
impl Scale {
    /// The Kafka settings, or an error saying `what` needs them.
    pub(crate) fn need_kafka(&self, what: &str) -> anyhow::Result<&KafkaSettings> {
        self.kafka
            .as_ref()
            .with_context(|| format!("{what} needs Kafka: give --kafka BROKERS (or CAIRN_KAFKA, or [kafka] brokers in cairn.toml)"))
    }

    /// The PostgreSQL settings, or an error saying `what` needs them.
    pub(crate) fn need_postgres(&self, what: &str) -> anyhow::Result<&PostgresSettings> {
        self.postgres
            .as_ref()
            .with_context(|| format!("{what} needs PostgreSQL: give --postgres URL (or CAIRN_POSTGRES, or [postgres] url in cairn.toml)"))
    }
}

#[cfg(all(test, feature = "kafka", feature = "pg"))]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cairn.toml");
        std::fs::write(
            &path,
            "[kafka]\nbrokers = \"k1:9092\"\naccess_partitions = 4\n[kafka.options]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.password\" = \"hunter2\"\n[postgres]\nurl = \"postgres://u:pw@db/x\"\n",
        )
        .unwrap();
        // It holds secrets: refused while others can read it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let args = ScaleArgs { config: Some(path.clone()), ..ScaleArgs::default() };
        let error = format!("{:#}", args.resolve().unwrap_err());
        assert!(
            error.contains("a password in [postgres] url")
                && error.contains("\"sasl.password\"")
                && error.contains("chmod 600"),
            "{error}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let args = ScaleArgs {
            config: Some(path.clone()),
            access_topic: Some("mine".into()),
            ..ScaleArgs::default()
        };
        let scale = args.resolve().unwrap();
        let kafka = scale.kafka.as_ref().unwrap();
        assert_eq!(kafka.config.brokers, "k1:9092");
        assert_eq!(kafka.access_partitions, 4);
        assert_eq!(kafka.access_topic, "mine");
        assert_eq!(kafka.ledger_topic, DEFAULT_LEDGER_TOPIC);
        let postgres = scale.postgres.as_ref().unwrap();
        assert_eq!(postgres.schema, DEFAULT_SCHEMA);
        let debug = format!("{scale:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains(":pw@"), "{debug}");

        let args = ScaleArgs {
            config: Some(path),
            kafka: Some("k2:9092".into()),
            kafka_options: vec!["security.protocol=PLAINTEXT".into()],
            ..ScaleArgs::default()
        };
        let kafka = args.resolve().unwrap().kafka.unwrap();
        assert_eq!(kafka.config.brokers, "k2:9092");
        assert!(kafka.config.options.contains(&("security.protocol".into(), "PLAINTEXT".into())));
    }

    #[test]
    fn bad_settings_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cairn.toml");
        std::fs::write(&path, "[kafka]\nbrokerz = \"x\"\n").unwrap();
        let args = ScaleArgs { config: Some(path), ..ScaleArgs::default() };
        let error = format!("{:#}", args.resolve().unwrap_err());
        assert!(error.contains("brokerz"), "{error}");

        let args = ScaleArgs {
            kafka: Some("k:1".into()),
            kafka_options: vec!["nonsense".into()],
            ..ScaleArgs::default()
        };
        let error = format!("{:#}", args.resolve().unwrap_err());
        assert!(error.contains("KEY=VALUE"), "{error}");

        // Secrets on the command line are refused (the flag, not CAIRN_POSTGRES).
        let args =
            ScaleArgs { postgres: Some("postgres://u:pw@db/x".into()), ..ScaleArgs::default() };
        let error = format!("{:#}", args.resolve().unwrap_err());
        assert!(error.contains("--postgres holds a password"), "{error}");
        let args = ScaleArgs {
            kafka: Some("k:1".into()),
            kafka_options: vec!["sasl.password=hunter2".into()],
            ..ScaleArgs::default()
        };
        let error = format!("{:#}", args.resolve().unwrap_err());
        assert!(
            error.contains("sasl.password is a secret") && !error.contains("hunter2"),
            "{error}"
        );

        let args = ScaleArgs { kafka_options: vec!["a=b".into()], ..ScaleArgs::default() };
        assert!(format!("{:#}", args.resolve().unwrap_err()).contains("--kafka"));
        assert_eq!(redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(
            redact_url("postgres://u@h/db?sslmode=require&password=secret"),
            "postgres://u@h/db?sslmode=require&password=***"
        );
    }
}
