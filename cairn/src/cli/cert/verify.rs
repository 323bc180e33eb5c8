//! `cairn cert verify`: a presentation read from a QR image or a file,
//! checked offline by [`access_control::credential::verify`] against trusted
//! checkpoint keys, issuers and a status list, and optionally its channel
//! anchor ([`asset_registry::verify::anchor`]) and a record of the check on
//! the node. Only the fetching and printing is here.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use access_control::credential::presentation::{self, Presentation};
use access_control::credential::status::{OpenedStatusList, SignedStatusList};
use access_control::credential::verify::{self, Expectations};
use access_control::keys::KeyPair;
use anchor_chaincode::Address;
use anchor_chaincode::checkpoint::{NoteVerifier, Quorum};
use anyhow::{Context, bail, format_err};
use asset_registry::verify::anchor;
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::certificate_check_client::CertificateCheckClient;
use cairn_schemas::v1::certificates_client::CertificatesClient;
use cairn_schemas::v1::ledger_client::LedgerClient;
use clap::Args;

use super::{fetch_status_list, genesis_issuers, info, parse_time, read_text};
use crate::cli::NodeArgs;
use crate::cli::print;
use crate::cli::rpc::{connect, connect_as, status};
use crate::clock::now_ms;

#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    /// A QR code image (PNG) to read the presentation from.
    #[arg(long, conflicts_with = "presentation", required_unless_present = "presentation")]
    qr: Option<PathBuf>,
    /// Or a presentation file.
    #[arg(long)]
    presentation: Option<PathBuf>,
    /// The quorum file you trust (from `cairn node info --trusted-keys-out`, or keys of several members with a `quorum <k>` line); without it the node's key is fetched, which is not an independent check.
    #[arg(long)]
    trusted_keys: Option<PathBuf>,
    /// The chain's certificate types and their issuing organisations (from
    /// `cairn node info --issuers-out`); without it they are read from the
    /// node's genesis, which is not an independent check.
    #[arg(long)]
    issuers: Option<PathBuf>,
    /// The issuer's status list (from `cairn cert status-list`) for an offline check; fetched from the node if not given.
    #[arg(long)]
    status_list: Option<PathBuf>,
    /// The challenge you gave the holder.
    #[arg(long)]
    challenge: Option<String>,
    /// The certificate type this check is for (its channel).
    #[arg(long = "type")]
    cert_type: Option<String>,
    /// The issuing organisation expected.
    #[arg(long)]
    issuer: Option<String>,
    /// The holder expected.
    #[arg(long)]
    holder: Option<String>,
    /// Check as of this time (RFC 3339) instead of now.
    #[arg(long)]
    at: Option<String>,
    /// How old a time-bound presentation may be.
    #[arg(long, default_value = "15min", value_parser = humantime::parse_duration)]
    max_age: Duration,
    /// How old the status list may be.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    max_status_age: Duration,
    /// Your key file: also record the check on the node (a verification query, billed).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Also fetch the main-ledger proof that the channel checkpoint was anchored, and check it
    /// against a ledger checkpoint signed by the trusted keys.
    #[arg(long)]
    check_anchor: bool,
    #[command(flatten)]
    node: NodeArgs,
}

/// Reads a file of at most `max` bytes, refusing a larger one before reading it.
fn read_limited(path: &std::path::Path, max: usize) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bytes = Vec::new();
    let _ = file
        .take(u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() > max {
        bail!("{} is larger than the limit of {max} bytes", path.display());
    }
    Ok(bytes)
}

/// Asks the node for the ledger inclusion proof of the transaction the
/// presentation says anchored its channel checkpoint: against the newest
/// checkpoint a quorum cosigned when the trusted keys need more than one.
async fn fetch_anchor_proof(
    node: &NodeArgs,
    presentation: &Presentation,
    quorum: bool,
) -> Result<anchor::AnchorProof, String> {
    let tx_id = anchor::anchor_tx_id(presentation);
    let mut ledger = connect::<LedgerClient<_>>(node).await.map_err(|e| format!("{e:#}"))?;
    let answer = ledger
        .get_inclusion_proof(pb::GetInclusionProofRequest { tx_id, tree_size: 0, quorum })
        .await
        .map_err(|e| format!("{:#}", status(e)))?
        .into_inner();
    let proof = answer.proof.ok_or("the node sent no inclusion proof")?;
    let ledger_checkpoint = answer.checkpoint.ok_or("the node sent no ledger checkpoint")?;
    Ok(anchor::AnchorProof {
        leaf_index: proof.leaf_index,
        leaf: proof.leaf,
        hashes: proof.hashes,
        checkpoint: ledger_checkpoint.signed_note,
    })
}

/// Checks that the presentation's channel checkpoint is anchored in the main
/// ledger ([`anchor::check_anchor`]): the channel checkpoint first, then the
/// proof fetched from the node.
async fn check_anchor(
    node: &NodeArgs,
    presentation: &Presentation,
    quorum: &Quorum,
) -> asset_registry::verify::Check {
    let channel = anchor::check_channel_checkpoint(presentation, quorum);
    if !channel.passed {
        return channel;
    }
    match fetch_anchor_proof(node, presentation, quorum.threshold() > 1).await {
        Ok(proof) => anchor::check_anchor(presentation, quorum, &proof),
        Err(detail) => asset_registry::verify::Check::fail(anchor::CHECK_NAME, detail),
    }
}

pub(super) async fn verify_command(args: VerifyArgs) -> anyhow::Result<()> {
    let json = args.node.json;
    let mut notes: Vec<String> = Vec::new();
    let (text, source) = match (&args.qr, &args.presentation) {
        (Some(image), _) => {
            let bytes = read_limited(image, access_control::credential::qr::MAX_IMAGE_BYTES)?;
            (
                access_control::credential::qr::decode_image(&bytes)?,
                format!("QR code in {}", image.display()),
            )
        }
        (None, Some(path)) => (read_text(path)?, format!("file {}", path.display())),
        (None, None) => bail!("give --qr IMAGE or --presentation FILE"),
    };
    let presentation = presentation::decode(&text)
        .with_context(|| format!("the presentation in the {source} cannot be read"))?;
    let quorum: Quorum = match &args.trusted_keys {
        Some(path) => crate::cli::proof::read_quorum(path)?,
        None => {
            let info = info(&args.node).await?;
            notes.push(format!(
                "trusting the key of the node at {} (fetched online: give --trusted-keys for an independent check)",
                args.node.node
            ));
            Quorum::single(NoteVerifier::parse(&info.verifier_key)?)
        }
    };
    let authorised_issuers: BTreeMap<String, Vec<String>> = match &args.issuers {
        Some(path) => serde_json::from_str(&read_text(path)?).with_context(|| {
            format!(
                "{} is not an issuers file (a JSON object of certificate type to organisations)",
                path.display()
            )
        })?,
        None => {
            let info = info(&args.node).await?;
            notes.push(format!(
                "issuers per certificate type read from the genesis of the node at {} (give --issuers for an independent check)",
                args.node.node
            ));
            genesis_issuers(&info.genesis_json)?
        }
    };
    let statement = presentation.parsed_statement().map_err(|e| format_err!(e));
    let now = match &args.at {
        Some(text) => parse_time(text)?,
        None => now_ms(),
    };
    let status_list: Result<SignedStatusList, String> = match (&args.status_list, &statement) {
        (Some(path), _) => read_limited(path, access_control::credential::status::MAX_FILE_BYTES)
            .and_then(|bytes| {
                serde_json::from_slice(&bytes)
                    .with_context(|| format!("{} is not a status list file", path.display()))
            })
            .map_err(|e| format!("{e:#}")),
        (None, Ok(statement)) => {
            notes.push(format!(
                "status list of {} fetched from the node",
                statement.issuer_organisation
            ));
            match connect::<CertificatesClient<_>>(&args.node).await {
                Ok(mut client) => fetch_status_list(&mut client, &statement.issuer_organisation)
                    .await
                    .map_err(|e| format!("{e:#}")),
                Err(e) => Err(format!("{e:#}")),
            }
        }
        (None, Err(e)) => Err(e.to_string()),
    };
    let opened: Result<OpenedStatusList, String> =
        status_list.and_then(|list| list.open(&quorum).map_err(|e| e.to_string()));
    let holder = args
        .holder
        .as_deref()
        .map(str::parse::<Address>)
        .transpose()
        .map_err(|e| format_err!(e))?;
    let expect = Expectations {
        trusted: &quorum,
        authorised_issuers: &authorised_issuers,
        now_ms: now,
        challenge: args.challenge.as_deref().map(str::as_bytes),
        max_presentation_age_ms: args.max_age.as_millis() as u64,
        channel: args.cert_type.as_deref(),
        issuer_organisation: args.issuer.as_deref(),
        holder,
        status_list: opened.as_ref().map_err(Clone::clone),
        max_status_age_ms: args.max_status_age.as_millis() as u64,
    };
    let mut report =
        verify::verify_with_cache(&presentation, &expect, &mut verify::CheckpointCache::batched());
    // Who signed the channel checkpoint (the report's checkpoint check says
    // whether they are a quorum).
    let signed_by = anchor::check_channel_checkpoint(&presentation, &quorum).signatures;
    if args.check_anchor {
        let outcome = check_anchor(&args.node, &presentation, &quorum).await;
        report.checks.push(verify::Check {
            check: outcome.name,
            passed: outcome.passed,
            detail: outcome.detail,
        });
        report.valid = report.checks.iter().all(|c| c.passed);
    }
    let mut recorded = None;
    if let Some(key) = &args.key {
        let verifier = KeyPair::load(key)?;
        let request = pb::CheckCertificateRequest {
            presentation: text.trim().to_string(),
            holder: args.holder.clone().unwrap_or_default(),
            issuer_organisation: args.issuer.clone().unwrap_or_default(),
            channel: args.cert_type.clone().unwrap_or_default(),
            challenge: args.challenge.clone().unwrap_or_default().into_bytes(),
        };
        let mut client = connect_as::<CertificateCheckClient<_>>(&args.node, &verifier).await?;
        let answer = client.check_certificate(request).await.map_err(status)?.into_inner();
        recorded = Some(answer);
    }
    let view = serde_json::json!({
        "valid": report.valid,
        "source": source,
        "report": report,
        "notes": notes,
        "signed_by": signed_by,
        "recorded": recorded.as_ref().map(|r| serde_json::json!({"valid": r.valid, "event_id": r.event_id})),
    });
    print(json, &view, || {
        let mut text = format!(
            "certificate  {}\ntype         {}\nissuer       {}\nholder       {}\nfrom         {source}\n",
            report.certificate_id, report.channel, report.issuer_organisation, report.holder
        );
        for note in &notes {
            text.push_str(&format!("note         {note}\n"));
        }
        if let Some(signatures) = &signed_by {
            text.push_str(&format!("checkpoint   {signatures}\n"));
        }
        for check in &report.checks {
            text.push_str(&format!(
                "{}  {:<16} {}\n",
                if check.passed { "pass" } else { "FAIL" },
                check.check,
                check.detail
            ));
        }
        if let Some(age) = report.status_list_age_ms {
            text.push_str(&format!("status list  {} old\n", verify::readable_age(age)));
        }
        if let Some(answer) = &recorded {
            text.push_str(&format!(
                "recorded     the node checked it too ({}) as access event {}\n",
                if answer.valid { "valid" } else { "not valid" },
                answer.event_id
            ));
        }
        text.push_str(if report.valid { "result       VALID" } else { "result       NOT VALID" });
        text
    });
    if let Some(failed) = report.first_failure() {
        bail!("the certificate is not valid: {}: {}", failed.check, failed.detail);
    }
    Ok(())
}
