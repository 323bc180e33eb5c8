//! Tests of the mapping from receipts to notifications, of the webhook
//! signature and, against a real PostgreSQL, of the outbox.

use anchor_chaincode::ledger::Receipt;
use anchor_chaincode::{TxId, ValidationCode};

use super::*;

const APPLICANT: &str = "00112233445566778899aabbccddeeff00112233";
const OTHER: &str = "ffeeddccbbaa99887766554433221100ffeeddcc";
const CASE: &str = "c-0123456789abcdef0123456789abcdef";

fn response(state: &str, notify: &str) -> String {
    format!(
        r#"{{"case_id":"{CASE}","service_id":"minimum-living-guarantee","service_version":1,"action":"step","state":"{state}","applicant":"{APPLICANT}","notify":{notify}}}"#
    )
}

fn receipt(tx_type: &'static str, code: ValidationCode, response: String) -> Receipt {
    Receipt {
        tx_id: TxId([7; 32]),
        block_number: 3,
        index: 2,
        leaf_index: 9,
        code,
        message: String::new(),
        response,
        creator: None,
        tx_type,
        timestamp_ms: 1_700_000_000_000,
    }
}

/// The notifications of a valid case_action receipt, one line each.
fn check(response: String, expected: &[&str]) {
    let notifications =
        receipt_notifications(11, &receipt(CASE_ACTION_TX, ValidationCode::Valid, response))
            .unwrap();
    let lines: Vec<String> = notifications
        .iter()
        .map(|n| format!("{} {} {} {}", n.seq, n.channel, n.recipient.key(), n.subject()))
        .collect();
    assert_eq!(lines, expected);
    for notification in &notifications {
        assert_eq!(notification.origin.ledger_offset, 11);
        assert_eq!(notification.origin.block_number, 3);
        assert_eq!(notification.origin.tx_index, 2);
        assert_eq!(notification.origin.tx_id, "07".repeat(32));
        assert_eq!(
            notification.id,
            notification_id(&"07".repeat(32), &notification.recipient, notification.channel)
        );
    }
}

fn refused(response: String) -> String {
    receipt_notifications(0, &receipt(CASE_ACTION_TX, ValidationCode::Valid, response))
        .unwrap_err()
        .to_string()
}

#[test]
fn an_applicant_and_a_group_get_an_email_and_a_webhook_each() {
    check(
        response(
            "in_review",
            &format!(
                r#"[{{"address":"{APPLICANT}"}},{{"organisation":"neighbourhood-committee","role":"household_surveyor"}}]"#
            ),
        ),
        &[
            "0 email address:00112233445566778899aabbccddeeff00112233 Case c-0123456789abcdef0123456789abcdef is now in_review",
            "1 webhook address:00112233445566778899aabbccddeeff00112233 Case c-0123456789abcdef0123456789abcdef is now in_review",
            "2 email group:neighbourhood-committee/household_surveyor Case c-0123456789abcdef0123456789abcdef is now in_review",
            "3 webhook group:neighbourhood-committee/household_surveyor Case c-0123456789abcdef0123456789abcdef is now in_review",
        ],
    );
}

#[test]
fn a_recipient_named_twice_is_notified_once() {
    check(
        response(
            "approved",
            &format!(r#"[{{"address":"{APPLICANT}"}},{{"address":"{APPLICANT}"}}]"#),
        ),
        &[
            "0 email address:00112233445566778899aabbccddeeff00112233 Case c-0123456789abcdef0123456789abcdef is now approved",
            "1 webhook address:00112233445566778899aabbccddeeff00112233 Case c-0123456789abcdef0123456789abcdef is now approved",
        ],
    );
}

#[test]
fn a_change_that_concerns_nobody_gives_nothing() {
    check(response("checked", "[]"), &[]);
}

#[test]
fn other_transactions_and_invalid_case_actions_give_nothing() {
    let body = response("approved", &format!(r#"[{{"address":"{APPLICANT}"}}]"#));
    assert_eq!(
        receipt_notifications(0, &receipt("publish", ValidationCode::Valid, body.clone())).unwrap(),
        vec![]
    );
    assert_eq!(
        receipt_notifications(
            0,
            &receipt(CASE_ACTION_TX, ValidationCode::Malformed, String::new())
        )
        .unwrap(),
        vec![]
    );
}

#[test]
fn ids_differ_by_transaction_recipient_and_channel_and_are_stable() {
    let applicant = Recipient::Address(APPLICANT.into());
    let other = Recipient::Address(OTHER.into());
    let tx = "ab".repeat(32);
    let id = notification_id(&tx, &applicant, Channel::Email);
    assert_eq!(id, notification_id(&tx, &applicant, Channel::Email));
    assert!(id.starts_with("n-") && id.len() == 34, "{id}");
    let others = [
        notification_id(&tx, &applicant, Channel::Webhook),
        notification_id(&tx, &other, Channel::Email),
        notification_id(&"cd".repeat(32), &applicant, Channel::Email),
    ];
    for other_id in others {
        assert_ne!(id, other_id);
    }
}

#[test]
fn bad_responses_are_refused_naming_the_field() {
    let refusal = refused("{".into());
    assert!(refusal.contains("is not a case change"), "{refusal}");
    let refusal = refused(response("pondering", "[]"));
    assert!(refusal.contains("unknown variant `pondering`"), "{refusal}");
    let refusal = refused(response("approved", "[]").replace(CASE, "c-12"));
    assert!(refusal.contains("case_id \"c-12\""), "{refusal}");
    let refusal = refused(response("approved", r#"[{"address":"Alice"}]"#));
    assert!(refusal.contains("notify[0]"), "{refusal}");
    assert!(!refusal.contains("Alice"), "a refusal must not quote a recipient: {refusal}");
    let refusal = refused(response("approved", r#"[{"organisation":"a/b","role":"x"}]"#));
    assert!(refusal.contains("notify[0]"), "{refusal}");
    let refusal = refused(response("approved", "[]").replace(APPLICANT, "someone"));
    assert!(refusal.contains("applicant is not an address"), "{refusal}");
    assert!(!refusal.contains("someone"), "{refusal}");
}

#[test]
fn the_email_says_the_case_state_and_action_and_names_nobody() {
    let notifications = receipt_notifications(
        0,
        &receipt(
            CASE_ACTION_TX,
            ValidationCode::Valid,
            response("returned", &format!(r#"[{{"address":"{APPLICANT}"}}]"#)),
        ),
    )
    .unwrap();
    let email = &notifications[0];
    assert_eq!(email.subject(), format!("Case {CASE} is now returned"));
    let body = email.text_body();
    for needle in [CASE, "minimum-living-guarantee", "returned", "step", &email.id] {
        assert!(body.contains(needle), "{needle} missing from {body}");
    }
    assert!(!body.contains(APPLICANT), "the e-mail body names the applicant's address: {body}");
    assert_eq!(email.message_id("cairn.example"), format!("<{}@cairn.example>", email.id));

    let webhook: serde_json::Value =
        serde_json::from_slice(&notifications[1].webhook_body()).unwrap();
    assert_eq!(webhook["id"], notifications[1].id.as_str());
    assert_eq!(webhook["case_id"], CASE);
    assert_eq!(webhook["state"], "returned");
    assert_eq!(webhook["action"], "step");
    assert_eq!(webhook["recipient"]["address"], APPLICANT);
}

#[test]
fn vocabularies_round_trip() {
    for state in CaseState::ALL {
        assert_eq!(state.as_str().parse::<CaseState>(), Ok(*state));
    }
    for action in CaseAction::ALL {
        assert_eq!(action.as_str().parse::<CaseAction>(), Ok(*action));
    }
    for channel in Channel::ALL {
        assert_eq!(channel.as_str().parse::<Channel>(), Ok(*channel));
    }
    assert!(
        "sms".parse::<Channel>().unwrap_err().to_string().contains("expected one of email webhook")
    );
    for recipient in [
        Recipient::Address(APPLICANT.into()),
        Recipient::Group { organisation: "county welfare".into(), role: "acceptance".into() },
    ] {
        assert_eq!(Recipient::from_key(&recipient.key()), Ok(recipient));
    }
    assert!(Recipient::from_key("group:no-role").is_err());
    assert!(Recipient::from_key("address:ABC").is_err());
}

#[test]
fn hmac_matches_rfc_4231_case_2() {
    assert_eq!(
        signature(b"Jefe", b"what do ya want for nothing?"),
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn signatures_verify_only_for_the_same_secret_and_body() {
    let secret = b"a shared secret of the webhook";
    let body = br#"{"id":"n-1"}"#;
    let header = signature(secret, body);
    assert!(verify_signature(secret, body, &header));
    assert!(!verify_signature(b"another secret", body, &header));
    assert!(!verify_signature(secret, br#"{"id":"n-2"}"#, &header));
    assert!(!verify_signature(secret, body, header.trim_start_matches("sha256=")));
    assert!(!verify_signature(secret, body, "sha256=zz"));
    assert!(!verify_signature(secret, body, "sha256="));
}

#[cfg(feature = "pg")]
mod pg {
    //! The outbox against a real PostgreSQL (`connectors::testing::support`).

    use std::time::Duration;

    use super::super::outbox::{Outbox, StatusCounts};
    use super::*;
    use crate::Error;

    async fn outbox() -> Option<Outbox> {
        let url = connectors::testing::support::postgres_reachable().await?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or(0);
        let unique = format!("{}:{nanos}:{:?}", std::process::id(), std::thread::current().id());
        let schema = format!("n_{}", &hex::encode(Sha256::digest(unique.as_bytes()))[..16]);
        Some(Outbox::connect(&url, &schema).await.unwrap())
    }

    /// The notifications of a receipt at `offset` with its own transaction id.
    fn at(offset: u64, tx: u8) -> Vec<Notification> {
        let mut receipt = receipt(
            CASE_ACTION_TX,
            ValidationCode::Valid,
            response(
                "approved",
                &format!(
                    r#"[{{"address":"{APPLICANT}"}},{{"organisation":"bank","role":"payer"}}]"#
                ),
            ),
        );
        receipt.tx_id = TxId([tx; 32]);
        receipt_notifications(offset, &receipt).unwrap()
    }

    #[tokio::test]
    async fn batches_are_recorded_once_with_their_offset() {
        let Some(outbox) = outbox().await else { return };
        assert_eq!(outbox.next_offset().await.unwrap(), 0);
        assert_eq!(outbox.record(0, 3, &at(2, 1)).await.unwrap(), 4);
        assert_eq!(outbox.next_offset().await.unwrap(), 3);
        // The same batch again changes nothing.
        assert_eq!(outbox.record(0, 3, &at(2, 1)).await.unwrap(), 0);
        // An overlapping batch records only what lies past the stored offset.
        let overlapping: Vec<Notification> = at(2, 1).into_iter().chain(at(4, 2)).collect();
        assert_eq!(outbox.record(2, 5, &overlapping).await.unwrap(), 4);
        assert_eq!(outbox.next_offset().await.unwrap(), 5);
        // A gap is refused and changes nothing.
        match outbox.record(7, 8, &at(7, 3)).await {
            Err(Error::OffsetGap { stored: 5, first: 7, .. }) => {}
            other => panic!("expected an offset gap, got {other:?}"),
        }
        // A notification outside its batch is refused.
        assert!(matches!(outbox.record(5, 6, &at(9, 4)).await, Err(Error::BadBatch { .. })));
        assert_eq!(outbox.next_offset().await.unwrap(), 5);
        assert_eq!(
            outbox.counts().await.unwrap(),
            StatusCounts { pending: 8, ..Default::default() }
        );
        outbox.drop_schema().await.unwrap();
    }

    #[tokio::test]
    async fn due_notifications_come_in_ledger_order_and_are_marked() {
        let Some(outbox) = outbox().await else { return };
        let first = at(1, 1);
        let second = at(2, 2);
        assert_eq!(
            outbox.record(0, 3, &[first.clone(), second.clone()].concat()).await.unwrap(),
            8
        );
        let due = outbox.due(1000, 100).await.unwrap();
        let ids: Vec<&str> = due.iter().map(|p| p.notification.id.as_str()).collect();
        let expected: Vec<&str> = first.iter().chain(&second).map(|n| n.id.as_str()).collect();
        assert_eq!(ids, expected);
        assert_eq!(due[0].notification, first[0]);
        assert_eq!(due[0].attempts, 0);

        assert!(outbox.mark_sent(&first[0].id, 1000).await.unwrap());
        assert!(!outbox.mark_sent(&first[0].id, 1001).await.unwrap(), "sent twice");
        assert!(outbox.mark_retry(&first[1].id, 5000, "HTTP 500").await.unwrap());
        assert!(outbox.mark_undeliverable(&first[2].id, "no contact").await.unwrap());
        let due: Vec<String> =
            outbox.due(1000, 100).await.unwrap().into_iter().map(|p| p.notification.id).collect();
        assert_eq!(due.len(), 5);
        assert!(!due.contains(&first[1].id), "a retry is not due before its time");
        assert_eq!(outbox.next_attempt().await.unwrap(), Some(0));
        let later = outbox.due(5000, 100).await.unwrap();
        assert_eq!(later[0].notification.id, first[1].id);
        assert_eq!(later[0].attempts, 1);
        assert_eq!(
            outbox.counts().await.unwrap(),
            StatusCounts { pending: 6, sent: 1, undeliverable: 1 }
        );
        assert_eq!(outbox.due(5000, 2).await.unwrap().len(), 2);
        outbox.drop_schema().await.unwrap();
    }

    #[tokio::test]
    async fn one_sender_at_a_time() {
        let Some(outbox) = outbox().await else { return };
        let held = outbox.lock(|| {}).await.unwrap();
        assert!(held.is_held());
        let (waited_tx, waited_rx) = tokio::sync::oneshot::channel();
        let second = {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                outbox
                    .lock(move || {
                        let _ = waited_tx.send(());
                    })
                    .await
            })
        };
        tokio::time::timeout(Duration::from_secs(10), waited_rx).await.unwrap().unwrap();
        assert!(!second.is_finished());
        drop(held);
        let second = tokio::time::timeout(Duration::from_secs(10), second).await.unwrap();
        assert!(second.unwrap().unwrap().is_held());
        outbox.drop_schema().await.unwrap();
    }
}
