//! Tests of the notifier's parts: the read-only log follower, the contacts
//! file, the backoff, and delivery against a real SMTP server (Python's
//! `aiosmtpd`, `pip install aiosmtpd`) and a webhook receiver on loopback,
//! from a real PostgreSQL outbox.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use anchor_chaincode::ledger::Receipt;
use anchor_chaincode::{TxId, ValidationCode};
use connectors::testing::support;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Response, StatusCode};
use tokio::net::TcpListener;

use super::*;

const APPLICANT: &str = "00112233445566778899aabbccddeeff00112233";
const OTHER_APPLICANT: &str = "ffeeddccbbaa99887766554433221100ffeeddcc";
const SECRET: &[u8] = b"webhook secret for the tests";

#[test]
fn contacts_parse_and_errors_never_quote_an_email_address() {
    let contacts = Contacts::parse(&format!(
        r#"{{"addresses": {{"{APPLICANT}": {{"email": "applicant@example.org"}}}},
            "groups": {{"neighbourhood-committee/household_surveyor": {{"email": "survey@example.org"}}}}}}"#
    ))
    .unwrap();
    assert_eq!(format!("{contacts:?}"), "Contacts { addresses: 1, groups: 1 }");
    let applicant = Recipient::Address(APPLICANT.into());
    assert_eq!(contacts.email(&applicant).unwrap().email.to_string(), "applicant@example.org");
    let group = Recipient::Group {
        organisation: "neighbourhood-committee".into(),
        role: "household_surveyor".into(),
    };
    assert_eq!(contacts.email(&group).unwrap().email.to_string(), "survey@example.org");
    assert!(contacts.email(&Recipient::Address(OTHER_APPLICANT.into())).is_none());

    let bad = Contacts::parse(&format!(
        r#"{{"addresses": {{"{APPLICANT}": {{"email": "not an address secret-person"}}}}}}"#
    ))
    .unwrap_err()
    .to_string();
    assert!(bad.contains(APPLICANT) && !bad.contains("secret-person"), "{bad}");
    let bad = Contacts::parse(r#"{"addresses": {"Alice": {"email": "alice@example.org"}}}"#)
        .unwrap_err()
        .to_string();
    assert!(bad.contains("not an address") && !bad.contains("alice@"), "{bad}");
    let bad = Contacts::parse(r#"{"groups": {"no-role": {"email": "x@example.org"}}}"#)
        .unwrap_err()
        .to_string();
    assert!(bad.contains("ORGANISATION/ROLE"), "{bad}");
    let bad = Contacts::parse(r#"{"people": {}}"#).unwrap_err().to_string();
    assert!(bad.contains("not a contacts file"), "{bad}");
}

#[test]
fn the_backoff_doubles_up_to_its_cap() {
    let retry = RetryPolicy {
        base: Duration::from_millis(100),
        max: Duration::from_secs(1),
        max_attempts: 5,
    };
    let waits: Vec<u128> = (0..6).map(|n| retry.backoff(n).as_millis()).collect();
    assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
    assert_eq!(retry.backoff(u32::MAX), Duration::from_secs(1));
}

/// An `aiosmtpd` server writing every message it accepts into a maildir.
struct SmtpServer {
    child: Child,
    maildir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    /// Starts it on `port`, or answers `None` (after a loud SKIPPED line)
    /// when Python's aiosmtpd is missing and services are not required.
    fn start(port: u16) -> Option<SmtpServer> {
        let maildir = tempfile::tempdir().unwrap();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let spawned = Command::new("python3")
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
            .stderr(Stdio::piped())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                return support::unavailable(
                    "an SMTP server (aiosmtpd)",
                    &format!("python3 cannot be started: {e}"),
                    "install Python 3 and run: python3 -m pip install aiosmtpd",
                );
            }
        };
        let mut server = SmtpServer { child, maildir, addr };
        let started = Instant::now();
        while !support::answers(&addr.to_string()) {
            if let Ok(Some(status)) = server.child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = server.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                return support::unavailable(
                    "an SMTP server (aiosmtpd)",
                    &format!("python3 -m aiosmtpd exited with {status}: {}", stderr.trim()),
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

    /// Every message received: its headers by lower-case name, and its body.
    fn messages(&self) -> Vec<(BTreeMap<String, String>, String)> {
        let new = self.maildir.path().join("mail").join("new");
        let Ok(entries) = std::fs::read_dir(&new) else { return Vec::new() };
        entries
            .map(|entry| {
                let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
                let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
                let headers = head
                    .lines()
                    .filter_map(|line| line.split_once(": "))
                    .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
                    .collect();
                (headers, body.to_owned())
            })
            .collect()
    }
}

/// One request the webhook receiver got.
#[derive(Clone, Debug)]
struct Hook {
    key: String,
    signature: String,
    body: Vec<u8>,
    status: u16,
    at: Instant,
}

/// A webhook receiver on loopback that answers 500 to the first `fail`
/// requests carrying the key `flaky`, and 200 otherwise.
async fn webhook_receiver(
    port: u16,
    flaky: String,
    fail: usize,
) -> Arc<std::sync::Mutex<Vec<Hook>>> {
    let hooks: Arc<std::sync::Mutex<Vec<Hook>>> = Arc::default();
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let seen = hooks.clone();
    drop(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let seen = seen.clone();
            let flaky = flaky.clone();
            drop(tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let seen = seen.clone();
                    let flaky = flaky.clone();
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
                        let body = request.into_body().collect().await?.to_bytes().to_vec();
                        let mut seen = seen.lock().unwrap();
                        let failures =
                            seen.iter().filter(|h| h.key == key && h.status == 500).count();
                        let status = if key == flaky && failures < fail { 500 } else { 200 };
                        seen.push(Hook { key, signature, body, status, at: Instant::now() });
                        let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
                        *response.status_mut() = StatusCode::from_u16(status).unwrap();
                        Ok::<_, hyper::Error>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            }));
        }
    }));
    hooks
}

/// The notifications of a synthetic case change at `offset`.
fn change(offset: u64, tx: u8, applicant: &str, state: &str, groups: &[&str]) -> Vec<Notification> {
    let mut notify = vec![format!(r#"{{"address":"{applicant}"}}"#)];
    for group in groups {
        let (organisation, role) = group.split_once('/').unwrap();
        notify.push(format!(r#"{{"organisation":"{organisation}","role":"{role}"}}"#));
    }
    let receipt = Receipt {
        tx_id: TxId([tx; 32]),
        block_number: offset,
        index: 0,
        leaf_index: offset,
        code: ValidationCode::Valid,
        message: String::new(),
        response: format!(
            r#"{{"case_id":"c-{tx:02x}{}","service_id":"minimum-living-guarantee","service_version":1,"action":"step","state":"{state}","applicant":"{applicant}","notify":[{}]}}"#,
            "0".repeat(30),
            notify.join(",")
        ),
        creator: None,
        tx_type: notify::CASE_ACTION_TX,
        timestamp_ms: 0,
    };
    notify::receipt_notifications(offset, &receipt).unwrap()
}

async fn outbox() -> Option<Outbox> {
    let url = support::postgres_reachable().await?;
    let schema = format!("n_test_{}_{}", std::process::id(), now_ms());
    Some(Outbox::connect(&url, &schema).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_notification_arrives_once_by_email_and_signed_webhook_with_retries() {
    let Some(outbox) = outbox().await else { return };
    let Some(smtp) = SmtpServer::start(25250) else { return };
    let notifications: Vec<Notification> = [
        change(1, 1, APPLICANT, "submitted", &[]),
        change(2, 2, APPLICANT, "in_review", &["neighbourhood-committee/household_surveyor"]),
        // A group without an e-mail contact: its e-mail is undeliverable, its webhook is not.
        change(3, 3, OTHER_APPLICANT, "returned", &["bank/payer"]),
    ]
    .concat();
    let flaky = notifications
        .iter()
        .find(|n| n.channel == Channel::Webhook && n.origin.ledger_offset == 2)
        .unwrap()
        .id
        .clone();
    let received = webhook_receiver(25251, flaky.clone(), 2).await;
    assert_eq!(outbox.record(0, 4, &notifications).await.unwrap(), 10);

    let contacts = Contacts::parse(&format!(
        r#"{{"addresses": {{"{APPLICANT}": {{"email": "applicant@example.org"}},
                            "{OTHER_APPLICANT}": {{"email": "other@example.org"}}}},
            "groups": {{"neighbourhood-committee/household_surveyor": {{"email": "survey@example.org"}}}}}}"#
    ))
    .unwrap();
    let config = NotifierConfig {
        source: LedgerSource::Embedded(PathBuf::from("/nonexistent")),
        postgres_url: String::new(),
        schema: outbox.schema().to_owned(),
        email: Some(EmailSettings {
            smtp_url: format!("smtp://{}", smtp.addr),
            from: "Cairn <notify@cairn.example>".into(),
        }),
        webhook: Some(WebhookSettings {
            url: "http://127.0.0.1:25251/hooks/cairn".into(),
            secret: SECRET.to_vec(),
        }),
        contacts,
        retry: RetryPolicy {
            base: Duration::from_millis(300),
            max: Duration::from_secs(5),
            max_attempts: 5,
        },
        until_caught_up: true,
    };
    let sender = Sender::new(&config).unwrap();
    let lock = outbox.lock(|| {}).await.unwrap();
    let wake = Notify::new();
    send_pending(&sender, &outbox, &lock, &wake, true).await.unwrap();

    let counts = outbox.counts().await.unwrap();
    assert_eq!((counts.pending, counts.sent, counts.undeliverable), (0, 9, 1));

    // E-mail: one message per notification with a contact, its id as the Message-ID.
    let messages = smtp.messages();
    let mut message_ids: Vec<String> =
        messages.iter().map(|(headers, _)| headers["message-id"].clone()).collect();
    message_ids.sort();
    let mut expected: Vec<String> = notifications
        .iter()
        .filter(|n| n.channel == Channel::Email)
        .filter(|n| n.recipient.key() != "group:bank/payer")
        .map(|n| n.message_id("cairn.example"))
        .collect();
    expected.sort();
    assert_eq!(message_ids, expected, "each e-mail exactly once");
    for (headers, body) in &messages {
        let id =
            headers["message-id"].trim_matches(['<', '>']).split('@').next().unwrap().to_owned();
        let notification = notifications.iter().find(|n| n.id == id).unwrap();
        assert_eq!(headers["subject"], notification.subject());
        assert!(body.contains(&notification.summary.case_id), "{body}");
        assert!(!body.contains(APPLICANT) && !body.contains(OTHER_APPLICANT), "{body}");
    }

    // Webhook: every notification delivered once, signed; the flaky one
    // after two 500s, each retry later than the one before by the backoff.
    let hooks = received.lock().unwrap().clone();
    let delivered: Vec<&Hook> = hooks.iter().filter(|h| h.status == 200).collect();
    let mut keys: Vec<&str> = delivered.iter().map(|h| h.key.as_str()).collect();
    keys.sort();
    let mut expected: Vec<&str> = notifications
        .iter()
        .filter(|n| n.channel == Channel::Webhook)
        .map(|n| n.id.as_str())
        .collect();
    expected.sort();
    assert_eq!(keys, expected, "each webhook exactly once");
    for hook in &hooks {
        assert!(notify::verify_signature(SECRET, &hook.body, &hook.signature), "{hook:?}");
        let body: serde_json::Value = serde_json::from_slice(&hook.body).unwrap();
        assert_eq!(body["id"], hook.key.as_str());
    }
    let flaky_tries: Vec<&Hook> = hooks.iter().filter(|h| h.key == flaky).collect();
    assert_eq!(flaky_tries.iter().map(|h| h.status).collect::<Vec<_>>(), [500, 500, 200]);
    assert!(flaky_tries[1].at - flaky_tries[0].at >= Duration::from_millis(300));
    assert!(flaky_tries[2].at - flaky_tries[1].at >= Duration::from_millis(600));

    // Running again sends nothing more.
    send_pending(&sender, &outbox, &lock, &wake, true).await.unwrap();
    assert_eq!(smtp.messages().len(), messages.len());
    assert_eq!(received.lock().unwrap().len(), hooks.len());
    drop(lock);
    outbox.drop_schema().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_keeps_failing_is_given_up_after_the_last_attempt() {
    let Some(outbox) = outbox().await else { return };
    let notifications: Vec<Notification> = change(1, 9, APPLICANT, "approved", &[])
        .into_iter()
        .filter(|n| n.channel == Channel::Webhook)
        .collect();
    let id = notifications[0].id.clone();
    let hooks = webhook_receiver(25252, id.clone(), usize::MAX).await;
    assert_eq!(outbox.record(0, 2, &notifications).await.unwrap(), 1);
    let config = NotifierConfig {
        source: LedgerSource::Embedded(PathBuf::from("/nonexistent")),
        postgres_url: String::new(),
        schema: outbox.schema().to_owned(),
        email: None,
        webhook: Some(WebhookSettings {
            url: "http://127.0.0.1:25252/".into(),
            secret: SECRET.to_vec(),
        }),
        contacts: Contacts::default(),
        retry: RetryPolicy {
            base: Duration::from_millis(50),
            max: Duration::from_millis(100),
            max_attempts: 3,
        },
        until_caught_up: true,
    };
    let sender = Sender::new(&config).unwrap();
    let lock = outbox.lock(|| {}).await.unwrap();
    send_pending(&sender, &outbox, &lock, &Notify::new(), true).await.unwrap();
    let counts = outbox.counts().await.unwrap();
    assert_eq!((counts.pending, counts.sent, counts.undeliverable), (0, 0, 1));
    assert_eq!(hooks.lock().unwrap().len(), 3, "three attempts, then given up");
    drop(lock);
    outbox.drop_schema().await.unwrap();
}
