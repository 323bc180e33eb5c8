//! `cairn notify`: notifies applicants and reviewers of every case state
//! change that concerns them, by e-mail and by a signed webhook, once (see
//! `node::notifier`).
//!
//! The flags name the ledger log (`--log DIR` for a node's embedded log, or
//! `--kafka BROKERS --topic T`), the PostgreSQL outbox, the channels and the
//! private files: the webhook's shared secret and the contacts file, both
//! refused when other users of the machine may read them.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// `cairn notify`.
#[derive(Args, Debug)]
#[cfg_attr(not(feature = "pg"), allow(dead_code))]
pub(crate) struct NotifyArgs {
    /// The node's data directory: its ledger log (DIR/ledger.log) is followed read-only.
    #[arg(
        long = "log",
        env = "CAIRN_NOTIFY_LOG",
        value_name = "DIR",
        required_unless_present = "kafka",
        conflicts_with = "kafka"
    )]
    log: Option<PathBuf>,
    /// Kafka bootstrap servers (host:port,…): follow the ledger topic instead of a log file.
    #[arg(long, env = "CAIRN_KAFKA", value_name = "BROKERS")]
    kafka: Option<String>,
    /// An extra Kafka client property KEY=VALUE (repeat).
    #[arg(long = "kafka-option", value_name = "KEY=VALUE")]
    kafka_options: Vec<String>,
    /// The ledger topic.
    #[arg(long, env = "CAIRN_LEDGER_TOPIC", value_name = "T", default_value = "cairn.ledger")]
    topic: String,
    /// PostgreSQL URL of the outbox (no password here: use PGPASSWORD or CAIRN_POSTGRES_PASSWORD_FILE).
    #[arg(long, env = "CAIRN_POSTGRES", value_name = "URL")]
    postgres: String,
    /// The PostgreSQL schema of the outbox.
    #[arg(long, env = "CAIRN_NOTIFY_SCHEMA", default_value = "cairn_notify")]
    postgres_schema: String,
    /// The SMTP server: smtp://host:port, smtp://host:port?tls=required (STARTTLS) or smtps://host:port.
    #[arg(long, env = "CAIRN_SMTP", value_name = "URL", requires = "from")]
    smtp: Option<String>,
    /// The sender of the e-mails (name@domain; its domain ends every Message-ID).
    #[arg(long, env = "CAIRN_NOTIFY_FROM", value_name = "ADDRESS", requires = "smtp")]
    from: Option<String>,
    /// The webhook that gets every notification (http://host:port/path).
    #[arg(long, env = "CAIRN_WEBHOOK", value_name = "URL", requires = "webhook_secret_file")]
    webhook: Option<String>,
    /// A file (mode 0600) holding the webhook's shared HMAC secret (its first line).
    #[arg(long, env = "CAIRN_WEBHOOK_SECRET_FILE", value_name = "F", requires = "webhook")]
    webhook_secret_file: Option<PathBuf>,
    /// The contacts file (mode 0600): {"addresses": {ADDRESS: {"email": …}}, "groups": {"ORGANISATION/ROLE": {"email": …}}}.
    #[arg(long, env = "CAIRN_NOTIFY_CONTACTS", value_name = "F")]
    contacts: Option<PathBuf>,
    /// The wait after a failed delivery; it doubles with every failure.
    #[arg(long, env = "CAIRN_NOTIFY_RETRY_BASE", default_value = "1s", value_parser = humantime::parse_duration)]
    retry_base: Duration,
    /// The longest wait between attempts.
    #[arg(long, env = "CAIRN_NOTIFY_RETRY_MAX", default_value = "10m", value_parser = humantime::parse_duration)]
    retry_max: Duration,
    /// Attempts before a notification is given up on (marked undeliverable).
    #[arg(long, env = "CAIRN_NOTIFY_MAX_ATTEMPTS", default_value_t = 20)]
    max_attempts: u32,
    /// Exit once everything in the log is recorded and nothing is pending.
    #[arg(long)]
    until_caught_up: bool,
}

/// Runs `cairn notify`.
#[cfg(feature = "pg")]
pub(crate) fn run(args: NotifyArgs) -> anyhow::Result<()> {
    use anyhow::Context;

    use crate::node::notifier::{
        self, EmailSettings, NotifierConfig, RetryPolicy, WebhookSettings,
    };

    let config = NotifierConfig {
        source: source(&args)?,
        postgres_url: {
            if crate::secrets::from_command_line(Some(&args.postgres), "CAIRN_POSTGRES") {
                crate::secrets::refuse_password_on_command_line("--postgres", &args.postgres)?;
            }
            crate::secrets::with_password(&args.postgres)?
        },
        schema: args.postgres_schema.clone(),
        email: match (&args.smtp, &args.from) {
            (Some(smtp_url), Some(from)) => {
                if crate::secrets::from_command_line(Some(smtp_url), "CAIRN_SMTP")
                    && smtp_url.split_once("://").is_some_and(|(_, rest)| {
                        rest.split(['/', '?'])
                            .next()
                            .is_some_and(|authority| authority.contains('@'))
                    })
                {
                    anyhow::bail!(
                        "--smtp holds credentials, and other users of this machine can read the command line: give it in CAIRN_SMTP instead"
                    );
                }
                Some(EmailSettings { smtp_url: smtp_url.clone(), from: from.clone() })
            }
            _ => None,
        },
        webhook: match (&args.webhook, &args.webhook_secret_file) {
            (Some(url), Some(file)) => {
                crate::secrets::check_private(file, "the webhook secret")?;
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                let secret = text.lines().next().unwrap_or_default().trim().as_bytes().to_vec();
                if secret.is_empty() {
                    anyhow::bail!(
                        "{} is empty: put the webhook's shared secret on its first line",
                        file.display()
                    );
                }
                Some(WebhookSettings { url: url.clone(), secret })
            }
            _ => None,
        },
        contacts: match &args.contacts {
            Some(file) => {
                crate::secrets::check_private(file, "e-mail addresses")?;
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                notifier::Contacts::parse(&text).with_context(|| format!("{}", file.display()))?
            }
            None => notifier::Contacts::default(),
        },
        retry: RetryPolicy {
            base: args.retry_base,
            max: args.retry_max,
            max_attempts: args.max_attempts.max(1),
        },
        until_caught_up: args.until_caught_up,
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let summary = runtime.block_on(notifier::run(config))?;
    if args.until_caught_up {
        println!(
            "caught up: ledger offset {}, {} notifications sent, {} undeliverable",
            summary.next_offset, summary.sent, summary.undeliverable
        );
    }
    Ok(())
}

/// `cairn notify` in a build without PostgreSQL.
#[cfg(not(feature = "pg"))]
pub(crate) fn run(_: NotifyArgs) -> anyhow::Result<()> {
    crate::features::need("pg")?;
    Err(anyhow::format_err!("cairn notify needs the pg feature"))
}

/// Where the ledger log is, from the flags.
#[cfg(feature = "pg")]
fn source(args: &NotifyArgs) -> anyhow::Result<crate::node::notifier::LedgerSource> {
    use crate::node::notifier::LedgerSource;
    if let Some(dir) = &args.log {
        return Ok(LedgerSource::Embedded(dir.join("ledger.log")));
    }
    let Some(brokers) = &args.kafka else {
        anyhow::bail!("give --log DIR or --kafka BROKERS");
    };
    kafka_source(brokers, &args.kafka_options, &args.topic)
}

#[cfg(all(feature = "pg", feature = "kafka"))]
fn kafka_source(
    brokers: &str,
    options: &[String],
    topic: &str,
) -> anyhow::Result<crate::node::notifier::LedgerSource> {
    if brokers.trim().is_empty() {
        anyhow::bail!("--kafka is empty; give the bootstrap servers as host:port[,host:port]");
    }
    let mut config = connectors::kafka::KafkaConfig::new(brokers);
    for option in options {
        let Some((key, value)) = option.split_once('=') else {
            anyhow::bail!("--kafka-option {option:?} is not KEY=VALUE");
        };
        config.options.retain(|(k, _)| k != key.trim());
        config.options.push((key.trim().to_owned(), value.to_owned()));
    }
    Ok(crate::node::notifier::LedgerSource::Kafka { config, topic: topic.to_owned() })
}

#[cfg(all(feature = "pg", not(feature = "kafka")))]
fn kafka_source(
    _: &str,
    _: &[String],
    _: &str,
) -> anyhow::Result<crate::node::notifier::LedgerSource> {
    Err(crate::features::missing("kafka"))
}
