//! The notifier: follows the ledger log, records a notification for every
//! case change that concerns someone, and delivers each by e-mail (SMTP) and
//! by a signed webhook, once.
//!
//! Two loops share a PostgreSQL outbox ([`asset_registry::notify::outbox`]):
//!
//! - The recorder folds the ledger log block by block with
//!   [`anchor_chaincode::ledger::Ledger`], maps each valid `case_action`
//!   receipt to notifications ([`asset_registry::notify::block_notifications`],
//!   keeping the channels that are configured) and writes them together with
//!   the log offset they reach in one database transaction. Killed anywhere,
//!   it resumes at the stored offset and records nothing twice.
//! - The sender takes due notifications in ledger order, delivers each and
//!   marks it sent at once. A failure (no answer, an SMTP transient error, a
//!   webhook answer other than 2xx or 409) schedules another attempt after an
//!   exponential backoff (`base · 2^attempts`, capped), up to a limit after
//!   which the notification is marked undeliverable. A permanent SMTP refusal
//!   or a recipient without an e-mail contact is undeliverable at once.
//!
//! **The crash window.** Delivery and its mark are two steps that no
//! transaction spans: a notifier killed after a server accepted a
//! notification and before the mark committed delivers that notification
//! again when it restarts. The window is one notification (the sender works
//! on one at a time and marks each right after its delivery, before starting
//! the next), and the redelivery carries the same id as the e-mail's
//! `Message-ID` and the webhook's `Idempotency-Key`, so a receiver that keeps
//! the ids it has seen drops it. Nothing is ever lost: a notification is
//! marked sent only after the server accepted it.
//!
//! Only one notifier works on an outbox at a time: it holds the outbox's
//! advisory lock for as long as it runs, and a second one waits.
//!
//! The ledger log is read without taking it from the node: an embedded log is
//! followed read-only ([`TailLog`]), a Kafka topic through
//! [`connectors::kafka::KafkaLog`].
//!
//! Logs name notifications by id and channel only: never an e-mail address,
//! never the content.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use access_control::verify::ParallelVerifier;
use anchor_chaincode::ledger::Ledger;
use anyhow::{Context, bail, format_err};
use asset_registry::notify::outbox::{Outbox, OutboxLock};
use asset_registry::notify::{self, Channel, Notification, Recipient};
use bytes::Bytes;
use connectors::log::{LedgerLog, TailLog};
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::clock::now_ms;

/// Blocks read from the log per database transaction.
const BATCH: usize = 256;
/// Notifications taken from the outbox at a time.
const SEND_BATCH: u32 = 64;
/// How long one delivery may take.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(20);
/// The most bytes read of a webhook's answer.
const MAX_ANSWER: usize = 64 * 1024;

/// Where the ledger log is.
pub(crate) enum LedgerSource {
    /// An embedded log file, followed read-only while a node appends to it.
    Embedded(PathBuf),
    /// A Kafka topic.
    #[cfg(feature = "kafka")]
    Kafka {
        /// The client settings.
        config: connectors::kafka::KafkaConfig,
        /// The ledger topic.
        topic: String,
    },
}

impl fmt::Debug for LedgerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerSource::Embedded(path) => f.debug_tuple("Embedded").field(path).finish(),
            #[cfg(feature = "kafka")]
            LedgerSource::Kafka { topic, .. } => {
                f.debug_struct("Kafka").field("topic", topic).finish_non_exhaustive()
            }
        }
    }
}

/// The private contacts: e-mail addresses of ledger addresses and of
/// reviewer groups (`<organisation>/<role>`).
#[derive(Clone, Default)]
pub(crate) struct Contacts {
    addresses: BTreeMap<String, Mailbox>,
    groups: BTreeMap<String, Mailbox>,
}

impl fmt::Debug for Contacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Counts only: the addresses are personal data.
        f.debug_struct("Contacts")
            .field("addresses", &self.addresses.len())
            .field("groups", &self.groups.len())
            .finish()
    }
}

/// One entry of the contacts file.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactEntry {
    email: String,
}

/// The contacts file.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactsFile {
    #[serde(default)]
    addresses: BTreeMap<String, ContactEntry>,
    #[serde(default)]
    groups: BTreeMap<String, ContactEntry>,
}

impl Contacts {
    /// Parses the contacts file: `{"addresses": {"<address>": {"email":
    /// "…"}}, "groups": {"<organisation>/<role>": {"email": "…"}}}`. Errors
    /// name the entry, never the e-mail address.
    pub(crate) fn parse(text: &str) -> anyhow::Result<Contacts> {
        let file: ContactsFile = serde_json::from_str(text).map_err(|e| {
            format_err!(
                "not a contacts file ({{\"addresses\": {{ADDRESS: {{\"email\": …}}}}, \"groups\": {{\"ORGANISATION/ROLE\": {{\"email\": …}}}}}}): line {} column {}: {}",
                e.line(),
                e.column(),
                e.classify_text()
            )
        })?;
        let mut contacts = Contacts::default();
        for (address, entry) in file.addresses {
            Recipient::from_key(&format!("address:{address}")).map_err(|_| {
                format_err!("contacts: {address:?} is not an address (40 lower-case hex digits)")
            })?;
            let mailbox = entry.email.parse::<Mailbox>().map_err(|_| {
                format_err!("contacts: the e-mail address of {address} does not parse")
            })?;
            let _ = contacts.addresses.insert(address, mailbox);
        }
        for (group, entry) in file.groups {
            Recipient::from_key(&format!("group:{group}"))
                .map_err(|_| format_err!("contacts: group {group:?} is not ORGANISATION/ROLE"))?;
            let mailbox = entry.email.parse::<Mailbox>().map_err(|_| {
                format_err!("contacts: the e-mail address of group {group} does not parse")
            })?;
            let _ = contacts.groups.insert(group, mailbox);
        }
        Ok(contacts)
    }

    /// The e-mail address of a recipient, if the file has one.
    fn email(&self, recipient: &Recipient) -> Option<&Mailbox> {
        match recipient {
            Recipient::Address(_) => self.addresses.get(&recipient.contact_key()),
            Recipient::Group { .. } => self.groups.get(&recipient.contact_key()),
        }
    }
}

/// Small helper: the serde_json error category as words.
trait ClassifyText {
    fn classify_text(&self) -> &'static str;
}

impl ClassifyText for serde_json::Error {
    fn classify_text(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "cannot read it",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "a field is missing, unknown or of the wrong type",
            serde_json::error::Category::Eof => "it ends too early",
        }
    }
}

/// How e-mail is sent.
pub(crate) struct EmailSettings {
    /// `smtp://host:port`, `smtp://host:port?tls=required` (STARTTLS) or
    /// `smtps://host:port`; may hold credentials.
    pub(crate) smtp_url: String,
    /// The sender, as `name@domain` or `Name <name@domain>`.
    pub(crate) from: String,
}

impl fmt::Debug for EmailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailSettings").finish_non_exhaustive()
    }
}

/// Where the webhook goes, and its shared secret.
pub(crate) struct WebhookSettings {
    /// `http://host:port/path`.
    pub(crate) url: String,
    /// The HMAC key.
    pub(crate) secret: Vec<u8>,
}

impl fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSettings").field("url", &self.url).finish_non_exhaustive()
    }
}

/// When failed deliveries are tried again.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RetryPolicy {
    /// The wait after the first failure; it doubles with every failure.
    pub(crate) base: Duration,
    /// The longest wait.
    pub(crate) max: Duration,
    /// Attempts before a notification is marked undeliverable.
    pub(crate) max_attempts: u32,
}

impl RetryPolicy {
    /// The wait after the failure of attempt number `attempts + 1`.
    fn backoff(&self, attempts: u32) -> Duration {
        let factor = 1u32.checked_shl(attempts.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// Everything the notifier needs.
#[derive(Debug)]
pub(crate) struct NotifierConfig {
    /// The ledger log.
    pub(crate) source: LedgerSource,
    /// The PostgreSQL URL of the outbox (with its password, if any).
    pub(crate) postgres_url: String,
    /// The PostgreSQL schema of the outbox.
    pub(crate) schema: String,
    /// E-mail, when configured.
    pub(crate) email: Option<EmailSettings>,
    /// The webhook, when configured.
    pub(crate) webhook: Option<WebhookSettings>,
    /// The recipients' e-mail addresses.
    pub(crate) contacts: Contacts,
    /// Retries.
    pub(crate) retry: RetryPolicy,
    /// Stop once everything in the log when it looked is recorded and no
    /// notification is pending.
    pub(crate) until_caught_up: bool,
}

/// What the notifier did before it stopped (with `until_caught_up`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    /// The ledger offset recorded up to.
    pub(crate) next_offset: u64,
    /// Notifications delivered.
    pub(crate) sent: u64,
    /// Notifications given up on.
    pub(crate) undeliverable: u64,
}

/// Runs the notifier until it is killed, or until caught up.
pub(crate) async fn run(config: NotifierConfig) -> anyhow::Result<Summary> {
    let mut channels = Vec::new();
    if config.email.is_some() {
        channels.push(Channel::Email);
    }
    if config.webhook.is_some() {
        channels.push(Channel::Webhook);
    }
    if channels.is_empty() {
        bail!(
            "nothing to deliver with: give --smtp and --from, --webhook and --webhook-secret-file, or both"
        );
    }
    let sender = Sender::new(&config)?;
    let outbox = Outbox::connect(&config.postgres_url, &config.schema).await?;
    let lock = outbox
        .lock(|| {
            tracing::warn!(
                schema = outbox.schema(),
                "another notifier holds this outbox; waiting for it to stop"
            )
        })
        .await?;
    let log = open_log(&config.source)?;
    let wake = Arc::new(Notify::new());
    tracing::info!(schema = outbox.schema(), channels = ?channels, "notifier started");
    if config.until_caught_up {
        let next_offset = record_ledger(log, outbox.clone(), channels, true, wake.clone()).await?;
        send_pending(&sender, &outbox, &lock, &wake, true).await?;
        let counts = outbox.counts().await?;
        return Ok(Summary { next_offset, sent: counts.sent, undeliverable: counts.undeliverable });
    }
    // The recorder runs as a task of its own: it blocks its thread while it
    // waits for the log, which must not hold up deliveries.
    let recorder = tokio::spawn(record_ledger(log, outbox.clone(), channels, false, wake.clone()));
    let sending = send_pending(&sender, &outbox, &lock, &wake, false);
    tokio::select! {
        recorded = recorder => {
            let next_offset = recorded.context("the recorder stopped unexpectedly")??;
            Ok(Summary { next_offset, ..Summary::default() })
        }
        sent = sending => {
            sent?;
            Ok(Summary::default())
        }
    }
}

/// Opens the ledger log for reading.
fn open_log(source: &LedgerSource) -> anyhow::Result<Arc<dyn LedgerLog>> {
    match source {
        LedgerSource::Embedded(path) => Ok(Arc::new(TailLog::new(path.clone()))),
        #[cfg(feature = "kafka")]
        LedgerSource::Kafka { config, topic } => {
            Ok(Arc::new(connectors::kafka::KafkaLog::open(config, topic)?))
        }
    }
}

/// Records the notifications of the ledger log in the outbox; answers the
/// offset reached when `until_caught_up`, else runs until an error.
async fn record_ledger(
    log: Arc<dyn LedgerLog>,
    outbox: Outbox,
    channels: Vec<Channel>,
    until_caught_up: bool,
    wake: Arc<Notify>,
) -> anyhow::Result<u64> {
    let mut next = outbox.next_offset().await?;
    let verifier =
        ParallelVerifier { threads: std::thread::available_parallelism().map_or(2, |n| n.get()) };
    let mut ledger = replay(log.as_ref(), next, &verifier).await?;
    if next == 0 {
        let _ = outbox.record(0, 1, &[]).await?;
        next = 1;
    }
    tracing::info!(next, "recording notifications from the ledger log");
    loop {
        let records =
            tokio::task::block_in_place(|| log.read_wait(next, BATCH, Duration::from_millis(200)))?;
        let Some(last) = records.last().map(|record| record.offset) else {
            if until_caught_up && next >= log.next_offset() {
                return Ok(next);
            }
            tokio::task::yield_now().await;
            continue;
        };
        let notifications = tokio::task::block_in_place(|| {
            let mut notifications = Vec::new();
            for record in &records {
                let block = ledger.apply_record_with(record.offset, &record.bytes, &verifier);
                notifications.extend(
                    notify::block_notifications(block)?
                        .into_iter()
                        .filter(|notification| channels.contains(&notification.channel)),
                );
            }
            anyhow::Ok(notifications)
        })?;
        let recorded = outbox.record(next, last + 1, &notifications).await?;
        tracing::debug!(from = next, to = last + 1, recorded, "recorded a batch");
        next = last + 1;
        if recorded > 0 {
            wake.notify_one();
        }
    }
}

/// Starts a ledger from the genesis record (waiting for it) and applies the
/// records `[1, next)` without recording anything.
async fn replay(
    log: &dyn LedgerLog,
    next: u64,
    verifier: &ParallelVerifier,
) -> anyhow::Result<Ledger> {
    let mut waited = false;
    let genesis = loop {
        let first =
            tokio::task::block_in_place(|| log.read_wait(0, 1, Duration::from_millis(500)))?;
        if let Some(genesis) = first.into_iter().next() {
            break genesis;
        }
        if !waited {
            tracing::info!("waiting for the ledger log's genesis record");
            waited = true;
        }
        tokio::task::yield_now().await;
    };
    let mut ledger = Ledger::from_genesis_record(0, &genesis.bytes)
        .map_err(|e| format_err!("the ledger log's first record: {e}"))?;
    let mut at = 1;
    while at < next {
        let want = usize::try_from(next - at).unwrap_or(BATCH).min(BATCH);
        let records = tokio::task::block_in_place(|| log.read(at, want))?;
        if records.is_empty() {
            bail!(
                "the outbox has recorded the ledger up to offset {next}, but the log ends at {at}: it belongs to another ledger (use another --postgres-schema)"
            );
        }
        tokio::task::block_in_place(|| {
            for record in &records {
                let _ = ledger.apply_record_with(record.offset, &record.bytes, verifier);
            }
        });
        at = records.last().map_or(at, |record| record.offset + 1);
    }
    Ok(ledger)
}

/// Delivers due notifications; with `until_caught_up`, returns when none is
/// pending any more.
async fn send_pending(
    sender: &Sender,
    outbox: &Outbox,
    lock: &OutboxLock,
    wake: &Notify,
    until_caught_up: bool,
) -> anyhow::Result<()> {
    loop {
        if !lock.is_held() {
            bail!(
                "lost the connection that holds the outbox's lock; stopping so that no other notifier sends alongside"
            );
        }
        let due = outbox.due(now_ms(), SEND_BATCH).await?;
        for pending in &due {
            let notification = &pending.notification;
            let outcome = sender.deliver(notification).await;
            match outcome {
                Delivery::Sent => {
                    let _ = outbox.mark_sent(&notification.id, now_ms()).await?;
                    tracing::info!(id = %notification.id, channel = %notification.channel, "delivered");
                }
                Delivery::Retry(error) if pending.attempts + 1 < sender.retry.max_attempts => {
                    let wait = sender.retry.backoff(pending.attempts);
                    let at = now_ms()
                        .saturating_add(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
                    let _ = outbox.mark_retry(&notification.id, at, &error).await?;
                    tracing::warn!(id = %notification.id, channel = %notification.channel, attempts = pending.attempts + 1, retry_in = ?wait, error = %error, "delivery failed; will retry");
                }
                Delivery::Retry(error) => {
                    let reason =
                        format!("gave up after {} attempts: {error}", pending.attempts + 1);
                    let _ = outbox.mark_undeliverable(&notification.id, &reason).await?;
                    tracing::error!(id = %notification.id, channel = %notification.channel, reason = %reason, "undeliverable");
                }
                Delivery::Undeliverable(reason) => {
                    let _ = outbox.mark_undeliverable(&notification.id, &reason).await?;
                    tracing::warn!(id = %notification.id, channel = %notification.channel, reason = %reason, "undeliverable");
                }
            }
        }
        if !due.is_empty() {
            continue;
        }
        let next_attempt = outbox.next_attempt().await?;
        if until_caught_up && next_attempt.is_none() {
            return Ok(());
        }
        let wait = next_attempt
            .map_or(Duration::from_millis(500), |at| {
                Duration::from_millis(at.saturating_sub(now_ms()))
            })
            .clamp(Duration::from_millis(10), Duration::from_millis(500));
        let _ = tokio::time::timeout(wait, wake.notified()).await;
    }
}

/// What became of one delivery attempt. The texts hold no personal data.
#[derive(Debug, PartialEq, Eq)]
enum Delivery {
    /// The server accepted it.
    Sent,
    /// It may work later.
    Retry(String),
    /// It never will.
    Undeliverable(String),
}

/// Delivers notifications over the configured channels.
struct Sender {
    mailer: Option<Mailer>,
    webhook: Option<Webhook>,
    contacts: Contacts,
    retry: RetryPolicy,
}

impl Sender {
    fn new(config: &NotifierConfig) -> anyhow::Result<Sender> {
        Ok(Sender {
            mailer: config.email.as_ref().map(Mailer::new).transpose()?,
            webhook: config.webhook.as_ref().map(Webhook::new).transpose()?,
            contacts: config.contacts.clone(),
            retry: config.retry,
        })
    }

    async fn deliver(&self, notification: &Notification) -> Delivery {
        let attempt = async {
            match notification.channel {
                Channel::Email => {
                    let Some(mailer) = &self.mailer else {
                        return Delivery::Retry("no SMTP server is configured".into());
                    };
                    let Some(to) = self.contacts.email(&notification.recipient) else {
                        return Delivery::Undeliverable(
                            "the contacts file has no e-mail address for the recipient".into(),
                        );
                    };
                    mailer.send(to, notification).await
                }
                Channel::Webhook => {
                    let Some(webhook) = &self.webhook else {
                        return Delivery::Retry("no webhook is configured".into());
                    };
                    webhook.post(notification).await
                }
            }
        };
        tokio::time::timeout(DELIVERY_TIMEOUT, attempt).await.unwrap_or_else(|_| {
            Delivery::Retry(format!(
                "no answer within {}",
                humantime::format_duration(DELIVERY_TIMEOUT)
            ))
        })
    }
}

/// The SMTP client.
struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The domain of the Message-ID: the sender's.
    domain: String,
}

impl Mailer {
    fn new(settings: &EmailSettings) -> anyhow::Result<Mailer> {
        // The URL may hold a password: the message names the problem, not the URL.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.smtp_url)
            .map_err(|e| format_err!("--smtp is not a usable SMTP URL (smtp://host:port, smtp://host:port?tls=required, smtps://host:port): {e}"))?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| format_err!("--from is not an e-mail address: {e}"))?;
        let domain = from.email.domain().to_owned();
        Ok(Mailer { transport, from, domain })
    }

    async fn send(&self, to: &Mailbox, notification: &Notification) -> Delivery {
        let message = Message::builder()
            .from(self.from.clone())
            .to(to.clone())
            .subject(notification.subject())
            .message_id(Some(notification.message_id(&self.domain)))
            .header(ContentType::TEXT_PLAIN)
            .body(notification.text_body());
        let message = match message {
            Ok(message) => message,
            Err(e) => return Delivery::Undeliverable(format!("cannot build the e-mail: {e}")),
        };
        match self.transport.send(message).await {
            Ok(_) => Delivery::Sent,
            // The server's words may quote the address: only its code is kept.
            Err(e) if e.is_permanent() => Delivery::Undeliverable(format!(
                "the SMTP server refused it permanently (code {})",
                e.status().map_or_else(|| "unknown".to_owned(), |code| code.to_string())
            )),
            Err(e) if e.is_transient() => Delivery::Retry(format!(
                "the SMTP server refused it for now (code {})",
                e.status().map_or_else(|| "unknown".to_owned(), |code| code.to_string())
            )),
            Err(e) if e.is_timeout() => {
                Delivery::Retry("the SMTP server did not answer in time".into())
            }
            Err(e) if e.is_tls() => Delivery::Retry("TLS with the SMTP server failed".into()),
            Err(_) => Delivery::Retry("cannot talk to the SMTP server".into()),
        }
    }
}

/// The webhook client: HTTP/1.1 POST of JSON over plain TCP.
struct Webhook {
    uri: hyper::Uri,
    authority: hyper::http::uri::Authority,
    secret: Vec<u8>,
}

impl Webhook {
    fn new(settings: &WebhookSettings) -> anyhow::Result<Webhook> {
        let uri: hyper::Uri = settings
            .url
            .parse()
            .with_context(|| format!("--webhook {:?} is not a URL", settings.url))?;
        if uri.scheme_str() != Some("http") {
            bail!(
                "--webhook {:?}: only http:// URLs are supported; put a TLS-terminating proxy on the same host in front of an https:// receiver",
                settings.url
            );
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| format_err!("--webhook {:?} has no host", settings.url))?;
        if settings.secret.is_empty() {
            bail!("the webhook secret is empty");
        }
        Ok(Webhook { uri, authority, secret: settings.secret.clone() })
    }

    async fn post(&self, notification: &Notification) -> Delivery {
        match self.exchange(notification).await {
            Ok(status) if (200..300).contains(&status) => Delivery::Sent,
            // The receiver has it already (its answer to a repeated Idempotency-Key).
            Ok(409) => Delivery::Sent,
            Ok(status) => Delivery::Retry(format!("the webhook answered HTTP {status}")),
            Err(e) => Delivery::Retry(format!("cannot reach the webhook: {e:#}")),
        }
    }

    async fn exchange(&self, notification: &Notification) -> anyhow::Result<u16> {
        let body = notification.webhook_body();
        let signature = notify::signature(&self.secret, &body);
        let port = self.authority.port_u16().unwrap_or(80);
        let stream = TcpStream::connect((self.authority.host(), port)).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        let connection = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("webhook connection ended: {e}");
            }
        });
        let path = self.uri.path_and_query().map_or("/", |p| p.as_str());
        let request = Request::post(path)
            .header(HOST, self.authority.as_str())
            .header(CONTENT_TYPE, "application/json")
            .header(notify::SIGNATURE_HEADER, signature)
            .header(notify::IDEMPOTENCY_HEADER, notification.id.as_str())
            .body(Full::new(Bytes::from(body)))?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        // Read (a bounded part of) the answer so the connection ends cleanly.
        let _ = Limited::new(response.into_body(), MAX_ANSWER).collect().await;
        drop(sender);
        connection.abort();
        Ok(status)
    }
}

#[cfg(test)]
mod tests;
