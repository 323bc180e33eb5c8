//! `cairn cert …`: register users, issue, show, list, renew and revoke
//! certificates, make presentations and their QR codes, sync status lists,
//! and verify presentations offline (optionally recording the check on the
//! node as a verification query).

mod verify;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use access_control::credential::issue::{self, Terms};
use access_control::credential::presentation::{self, Presentation};
use access_control::credential::status::{
    RevokedEntry, RevokedIdentity, SignedRevokedIdentities, SignedStatusList,
};
use access_control::keys::{KeyPair, random_bytes};
use anchor_chaincode::cert::{self, Statement};
use anchor_chaincode::tx::{self};
use anchor_chaincode::{Address, Role, ValidationCode};
use anyhow::{Context, bail, format_err};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::certificates_client::CertificatesClient;
use clap::{Args, Subcommand};
use serde_bytes::ByteBuf;

use crate::cli::NodeArgs;
use crate::cli::print;
use crate::cli::rpc::{Transport, code_name, connect, connect_as, draft, node_info, status};
use crate::clock::now_ms;
use cairn_schemas::v1::ledger_client::LedgerClient;

#[derive(Subcommand, Debug)]
pub(crate) enum CertCommand {
    /// Register a user (a certificate holder): the key pair is made here, the address is its own.
    RegisterUser(RegisterUserArgs),
    /// Show the public keys of an address.
    Keys {
        /// The address.
        address: String,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Issue a certificate to a holder, its content encrypted to the holder's key.
    Issue(IssueArgs),
    /// Show a certificate (decrypting its content with --key when you are the holder).
    Show(ShowArgs),
    /// List a holder's certificates.
    List {
        /// The holder's key file: the node lists a holder's certificates only on the holder's signed request.
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Renew a certificate: a new certificate with a later end of validity, linked to the old one.
    Renew {
        /// The certificate id.
        certificate_id: String,
        /// The issuing agency's key file (a member of the issuing organisation).
        #[arg(long)]
        key: PathBuf,
        /// The new end of validity (RFC 3339).
        #[arg(long, conflicts_with = "valid_for")]
        valid_until: Option<String>,
        /// Or the new validity from now, for example "365d".
        #[arg(long, value_parser = humantime::parse_duration)]
        valid_for: Option<Duration>,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Revoke a certificate, with a reason (its issuing organisation only).
    Revoke {
        /// The certificate id.
        certificate_id: String,
        /// The issuing agency's key file.
        #[arg(long)]
        key: PathBuf,
        /// Why; shown to every verifier.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Make a signed presentation of your certificate for a verifier.
    Present {
        /// The certificate id.
        certificate_id: String,
        /// The holder's key file.
        #[arg(long)]
        key: PathBuf,
        /// The verifier's challenge; without one the presentation is time-bound.
        #[arg(long)]
        challenge: Option<String>,
        /// Where to write the presentation text; standard output if not given.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Render a presentation as a QR code: PNG, SVG and on the terminal.
    Qr {
        /// The presentation file (from `cairn cert present`).
        #[arg(long)]
        presentation: PathBuf,
        /// Write a PNG image here.
        #[arg(long)]
        png: Option<PathBuf>,
        /// Write an SVG image here.
        #[arg(long)]
        svg: Option<PathBuf>,
        /// Draw it on the terminal (the default when no file is given).
        #[arg(long)]
        terminal: bool,
    },
    /// Fetch an issuer's signed status list, for checking revocation offline.
    StatusList {
        /// The issuing organisation.
        issuer: String,
        /// Where to write it (JSON).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Verify a presentation from a QR image or a file; prints every check with pass or fail.
    Verify(Box<verify::VerifyArgs>),
}

#[derive(Args, Debug)]
pub(crate) struct RegisterUserArgs {
    /// The account name.
    #[arg(long)]
    name: String,
    /// The key file to create (mode 0600); the private keys never leave this machine.
    #[arg(long)]
    out: PathBuf,
    /// The organisation to register under; defaults to the chain's holders'
    /// organisation (citizens are never members of a department).
    #[arg(long)]
    org: Option<String>,
    /// The certification authority's key file (its organisation key or a registered member's).
    #[arg(long)]
    endorser_key: PathBuf,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Args, Debug)]
pub(crate) struct IssueArgs {
    /// The issuing agency's key file (a registered identity with role issuer).
    #[arg(long)]
    key: PathBuf,
    /// The holder's address.
    #[arg(long)]
    holder: String,
    /// The certificate type, which is its channel: degree, marriage, business-licence, …
    #[arg(long = "type")]
    cert_type: String,
    /// The certificate's content (text or JSON).
    #[arg(long, required_unless_present = "content_file", conflicts_with = "content_file")]
    content: Option<String>,
    /// Or a file with the content.
    #[arg(long)]
    content_file: Option<PathBuf>,
    /// Start of validity (RFC 3339); now if not given.
    #[arg(long)]
    valid_from: Option<String>,
    /// End of validity (RFC 3339).
    #[arg(long, required_unless_present = "valid_for", conflicts_with = "valid_for")]
    valid_until: Option<String>,
    /// Or the validity from its start, for example "365d".
    #[arg(long, value_parser = humantime::parse_duration)]
    valid_for: Option<Duration>,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Args, Debug)]
pub(crate) struct ShowArgs {
    /// The certificate id.
    #[arg(required_unless_present = "tx")]
    certificate_id: Option<String>,
    /// Or the holder's address …
    #[arg(long, requires_all = ["block", "tx"])]
    holder: Option<String>,
    /// … the block number …
    #[arg(long)]
    block: Option<u64>,
    /// … and the issuing transaction's hash.
    #[arg(long, requires = "holder")]
    tx: Option<String>,
    /// The holder's key file, to decrypt the content.
    #[arg(long)]
    key: Option<PathBuf>,
    #[command(flatten)]
    node: NodeArgs,
}

fn parse_time(text: &str) -> anyhow::Result<u64> {
    if text == "now" {
        return Ok(now_ms());
    }
    crate::clock::parse_rfc3339(text)
        .with_context(|| format!("{text:?} is not a time like 2026-01-31T12:00:00Z"))
}

fn parse_id(text: &str) -> anyhow::Result<[u8; 32]> {
    let mut id = [0u8; 32];
    hex::decode_to_slice(text, &mut id)
        .map_err(|_| format_err!("certificate id {text:?} is not 64 hex digits"))?;
    Ok(id)
}

/// The node's public description.
async fn info(node: &NodeArgs) -> anyhow::Result<pb::NodeInfo> {
    node_info(&mut connect::<LedgerClient<_>>(node).await?).await
}

/// Prints a certificate transaction's outcome; an invalid one is an error.
fn print_tx(
    json: bool,
    response: &pb::CertTxResponse,
    extra: &[(&str, &str)],
) -> anyhow::Result<()> {
    let code = code_name(response.validation_code);
    let mut view = serde_json::json!({
        "tx_id": response.tx_id,
        "block": response.block_number,
        "validation_code": code,
        "message": response.message,
    });
    for (name, value) in extra {
        view[*name] = serde_json::json!(value);
    }
    if !response.certificate_id.is_empty() {
        view["certificate_id"] = serde_json::json!(response.certificate_id);
    }
    if response.validation_code != i32::from(ValidationCode::Valid.number()) {
        bail!(
            "transaction {} was recorded in block {} as {code}: {}",
            response.tx_id,
            response.block_number,
            response.message
        );
    }
    print(json, &view, || {
        let mut text = format!(
            "tx           {}\nblock        {}\nresult       {code}",
            response.tx_id, response.block_number
        );
        if !response.certificate_id.is_empty() {
            text.push_str(&format!("\ncertificate  {}", response.certificate_id));
        }
        for (name, value) in extra {
            text.push_str(&format!("\n{name:<12} {value}"));
        }
        text
    });
    Ok(())
}

async fn public_keys(
    client: &mut CertificatesClient<Transport>,
    address: &str,
) -> anyhow::Result<pb::PublicKeys> {
    Ok(client
        .get_public_keys(pb::GetPublicKeysRequest { address: address.to_string() })
        .await
        .map_err(status)?
        .into_inner())
}

fn issue_body(
    issuer: &KeyPair,
    statement: &Statement,
    content: pb::EncryptedContent,
) -> pb::IssueCertificate {
    let bytes = statement.to_bytes();
    pb::IssueCertificate {
        issuer_signature: issuer
            .signing_key()
            .sign(&cert::issuer_message(&bytes))
            .to_bytes()
            .to_vec(),
        statement: bytes,
        content: Some(content),
    }
}

fn certificate_view(certificate: &pb::Certificate) -> serde_json::Value {
    serde_json::json!({
        "certificate_id": certificate.certificate_id,
        "type": certificate.channel,
        "issuer_organisation": certificate.issuer_organisation,
        "issuer_address": certificate.issuer_address,
        "holder": certificate.holder,
        "content_hash": hex::encode(&certificate.content_hash),
        "valid_from": crate::clock::rfc3339(certificate.valid_from_ms),
        "valid_until": crate::clock::rfc3339(certificate.valid_until_ms),
        "renews": (!certificate.previous.is_empty()).then_some(&certificate.previous),
        "renewed_by": (!certificate.renewed_by.is_empty()).then_some(&certificate.renewed_by),
        "tx_id": certificate.tx_id,
        "block": certificate.block_number,
        "status_index": certificate.status_index,
        "revoked": certificate.revocation.as_ref().map(|r| serde_json::json!({
            "reason": r.reason, "block": r.block_number, "tx_id": r.tx_id,
        })),
    })
}

fn certificate_text(certificate: &pb::Certificate) -> String {
    let mut text = format!(
        "certificate  {}\ntype         {}\nissuer       {} ({})\nholder       {}\nvalid        {} to {}\ntx           {} (block {})",
        certificate.certificate_id,
        certificate.channel,
        certificate.issuer_organisation,
        certificate.issuer_address,
        certificate.holder,
        crate::clock::rfc3339(certificate.valid_from_ms),
        crate::clock::rfc3339(certificate.valid_until_ms),
        certificate.tx_id,
        certificate.block_number
    );
    if !certificate.previous.is_empty() {
        text.push_str(&format!("\nrenews       {}", certificate.previous));
    }
    if !certificate.renewed_by.is_empty() {
        text.push_str(&format!("\nrenewed by   {}", certificate.renewed_by));
    }
    if let Some(revocation) = &certificate.revocation {
        text.push_str(&format!(
            "\nREVOKED      in block {}: {}",
            revocation.block_number, revocation.reason
        ));
    }
    text
}

/// Decrypts a certificate's content with the holder's key; checks it against the content hash.
fn decrypt_content(holder: &KeyPair, certificate: &pb::Certificate) -> anyhow::Result<String> {
    let content = certificate.content.clone().unwrap_or_default();
    let wrapped =
        access_control::wrap::WrappedKey { enc: content.enc, ciphertext: content.ciphertext };
    let holder_address: Address =
        certificate.holder.parse().map_err(|e: anchor_chaincode::Error| format_err!(e))?;
    let plain = access_control::wrap::unwrap(
        holder,
        &wrapped,
        &cert::content_context(&certificate.channel, &holder_address),
    )
    .context("cannot decrypt the content: the key is not the holder's")?;
    if plain.len() < 16 {
        bail!("the decrypted content is shorter than its salt");
    }
    let (salt, text) = plain.split_at(16);
    let salt: [u8; 16] = salt.try_into().unwrap_or_default();
    if cert::content_hash(&salt, text).as_slice() != certificate.content_hash.as_slice() {
        bail!("the decrypted content does not match the certificate's content hash");
    }
    Ok(String::from_utf8_lossy(text).into_owned())
}

pub(crate) async fn run(command: CertCommand) -> anyhow::Result<()> {
    match command {
        CertCommand::RegisterUser(args) => register_user(args).await,
        CertCommand::Keys { address, node } => {
            let mut client = connect::<CertificatesClient<_>>(&node).await?;
            let keys = public_keys(&mut client, &address).await?;
            let role = pb::Role::try_from(keys.role).map_or("unknown".to_string(), |r| {
                r.as_str_name().trim_start_matches("ROLE_").to_ascii_lowercase()
            });
            let view = serde_json::json!({
                "address": keys.address,
                "signing_public_key": hex::encode(&keys.signing_public_key),
                "encryption_public_key": hex::encode(&keys.encryption_public_key),
                "organisation": keys.organisation,
                "role": role,
                "revoked": (!keys.revoked_reason.is_empty()).then_some(&keys.revoked_reason),
            });
            print(node.json, &view, || {
                format!(
                    "address                {}\nsigning public key     {}\nencryption public key  {}\norganisation           {}\nrole                   {role}",
                    keys.address,
                    hex::encode(&keys.signing_public_key),
                    hex::encode(&keys.encryption_public_key),
                    keys.organisation
                )
            });
            Ok(())
        }
        CertCommand::Issue(args) => issue(args).await,
        CertCommand::Show(args) => show(args).await,
        CertCommand::List { key, node } => {
            let key = KeyPair::load(&key)?;
            let request = pb::ListCertificatesRequest { holder: key.address().to_string() };
            let mut client = connect_as::<CertificatesClient<_>>(&node, &key).await?;
            let list = client.list_certificates(request).await.map_err(status)?.into_inner();
            let view: Vec<_> = list.certificates.iter().map(certificate_view).collect();
            print(node.json, &serde_json::json!(view), || {
                if list.certificates.is_empty() {
                    return "no certificates".to_string();
                }
                list.certificates
                    .iter()
                    .map(|c| {
                        format!(
                            "{}  {:<12} {:<16} until {}{}",
                            c.certificate_id,
                            c.channel,
                            c.issuer_organisation,
                            crate::clock::rfc3339(c.valid_until_ms),
                            if c.revocation.is_some() {
                                "  REVOKED"
                            } else if !c.renewed_by.is_empty() {
                                "  renewed"
                            } else {
                                ""
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        CertCommand::Renew { certificate_id, key, valid_until, valid_for, node } => {
            let issuer = KeyPair::load(&key)?;
            let mut client = connect::<CertificatesClient<_>>(&node).await?;
            let old = client
                .get_certificate(pb::GetCertificateRequest {
                    certificate_id: certificate_id.clone(),
                    ..Default::default()
                })
                .await
                .map_err(status)?
                .into_inner();
            let mut statement = Statement::parse(&old.statement).map_err(|e| format_err!(e))?;
            let now = now_ms();
            statement.valid_from_ms = now.min(statement.valid_until_ms);
            statement.valid_until_ms = match (valid_until, valid_for) {
                (Some(until), _) => parse_time(&until)?,
                (None, Some(duration)) => now + duration.as_millis() as u64,
                (None, None) => bail!("give --valid-until or --valid-for"),
            };
            statement.previous = Some(parse_id(&certificate_id)?);
            statement.serial = random_bytes::<16>()?;
            statement.issuer_public_key = issuer.signing_public_key();
            let body = issue_body(&issuer, &statement, old.content.unwrap_or_default());
            let info = info(&node).await?;
            let envelope = tx::seal(
                draft(&info.chain_id, pb::tx_payload::Body::RenewCertificate(body))?
                    .payload(&issuer.signing_public_key()),
                issuer.signing_key(),
                &[],
            );
            let response = client
                .renew_certificate(pb::CertSubmitRequest { envelope })
                .await
                .map_err(status)?
                .into_inner();
            print_tx(node.json, &response, &[("renews", &certificate_id)])
        }
        CertCommand::Revoke { certificate_id, key, reason, node } => {
            let issuer = KeyPair::load(&key)?;
            let mut client = connect::<CertificatesClient<_>>(&node).await?;
            let info = info(&node).await?;
            let body = pb::tx_payload::Body::RevokeCertificate(pb::RevokeCertificate {
                certificate_id: parse_id(&certificate_id)?.to_vec(),
                reason,
            });
            let envelope = tx::seal(
                draft(&info.chain_id, body)?.payload(&issuer.signing_public_key()),
                issuer.signing_key(),
                &[],
            );
            let response = client
                .revoke_certificate(pb::CertSubmitRequest { envelope })
                .await
                .map_err(status)?
                .into_inner();
            print_tx(node.json, &response, &[("revoked", &certificate_id)])
        }
        CertCommand::Present { certificate_id, key, challenge, out, node } => {
            let holder = KeyPair::load(&key)?;
            let mut client = connect::<CertificatesClient<_>>(&node).await?;
            let text = present(&mut client, &certificate_id, &holder, challenge.as_deref()).await?;
            match out {
                Some(path) => {
                    std::fs::write(&path, format!("{text}\n"))
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    print(
                        node.json,
                        &serde_json::json!({"presentation": path, "characters": text.len()}),
                        || {
                            format!(
                                "presentation of {certificate_id} written to {} ({} characters)",
                                path.display(),
                                text.len()
                            )
                        },
                    );
                }
                None => println!("{text}"),
            }
            Ok(())
        }
        CertCommand::Qr { presentation, png, svg, terminal } => {
            let text = read_text(&presentation)?;
            let _ = presentation::decode(&text)
                .with_context(|| format!("{} is not a presentation", presentation.display()))?;
            let version = access_control::credential::qr::version(&text)?;
            if let Some(path) = &png {
                std::fs::write(path, access_control::credential::qr::png(&text)?)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("QR code (version {version}) written to {}", path.display());
            }
            if let Some(path) = &svg {
                std::fs::write(path, access_control::credential::qr::svg(&text)?)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("QR code (version {version}) written to {}", path.display());
            }
            if terminal || (png.is_none() && svg.is_none()) {
                println!("{}", access_control::credential::qr::terminal(&text)?);
            }
            Ok(())
        }
        CertCommand::StatusList { issuer, out, node } => {
            let mut client = connect::<CertificatesClient<_>>(&node).await?;
            let list = fetch_status_list(&mut client, &issuer).await?;
            crate::cli::proof::write_json(&out, &list)?;
            print(
                node.json,
                &serde_json::json!({"issuer": issuer, "size": list.size, "revoked": list.revoked.len(), "out": out}),
                || {
                    format!(
                        "status list of {issuer}: {} entries, {} revoked, written to {}",
                        list.size,
                        list.revoked.len(),
                        out.display()
                    )
                },
            );
            Ok(())
        }
        CertCommand::Verify(args) => verify::verify_command(*args).await,
    }
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

async fn register_user(args: RegisterUserArgs) -> anyhow::Result<()> {
    let endorser = KeyPair::load(&args.endorser_key)?;
    let info = info(&args.node).await?;
    let genesis: serde_json::Value =
        serde_json::from_str(&info.genesis_json).context("node sent an unreadable genesis")?;
    let ca = genesis["certification_authority"]
        .as_str()
        .ok_or_else(|| format_err!("node's genesis names no certification authority"))?
        .to_string();
    // Citizens are registered in the holders' organisation, never in a department.
    let holders = genesis["holders"]
        .as_str()
        .unwrap_or(anchor_chaincode::genesis::DEFAULT_HOLDERS)
        .to_string();
    let pair = KeyPair::generate()?;
    pair.save(&args.out)?;
    let body = pb::tx_payload::Body::RegisterIdentity(pb::RegisterIdentity {
        name: args.name,
        organisation: args.org.unwrap_or(holders),
        role: tx::role_to_pb(Role::Public).into(),
        signing_public_key: pair.signing_public_key().to_vec(),
        encryption_public_key: pair.encryption_public_key().to_vec(),
        reviewer_role: String::new(),
    });
    let envelope = tx::seal(
        draft(&info.chain_id, body)?.payload(&pair.signing_public_key()),
        pair.signing_key(),
        &[(ca.as_str(), endorser.signing_key())],
    );
    let mut client = connect::<CertificatesClient<_>>(&args.node).await?;
    let response = client
        .register_user(pb::CertSubmitRequest { envelope })
        .await
        .map_err(status)?
        .into_inner();
    let address = pair.address().to_string();
    let key_file = args.out.display().to_string();
    print_tx(args.node.json, &response, &[("address", &address), ("key file", &key_file)])
}

async fn issue(args: IssueArgs) -> anyhow::Result<()> {
    let issuer = KeyPair::load(&args.key)?;
    let content = match (&args.content, &args.content_file) {
        (Some(text), _) => text.clone().into_bytes(),
        (None, Some(path)) => {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
        }
        (None, None) => bail!("give --content or --content-file"),
    };
    let holder: Address =
        args.holder.parse().map_err(|e: anchor_chaincode::Error| format_err!(e))?;
    if !cert::valid_channel(&args.cert_type) {
        bail!(
            "certificate type {:?} must be 1 to 64 characters of a-z, 0-9, '.', '_' or '-'",
            args.cert_type
        );
    }
    let mut client = connect::<CertificatesClient<_>>(&args.node).await?;
    let info = info(&args.node).await?;
    let issuer_keys = public_keys(&mut client, &issuer.address().to_string())
        .await
        .context("the issuing key is not a registered identity")?;
    let holder_keys = public_keys(&mut client, &args.holder).await?;
    let encryption_key: [u8; 32] = holder_keys
        .encryption_public_key
        .as_slice()
        .try_into()
        .map_err(|_| format_err!("the holder's encryption key is not 32 bytes"))?;
    let valid_from_ms = match &args.valid_from {
        Some(text) => parse_time(text)?,
        None => now_ms(),
    };
    let valid_until_ms = match (&args.valid_until, args.valid_for) {
        (Some(text), _) => parse_time(text)?,
        (None, Some(duration)) => valid_from_ms + duration.as_millis() as u64,
        (None, None) => bail!("give --valid-until or --valid-for"),
    };
    let terms = Terms {
        channel: args.cert_type.clone(),
        issuer_organisation: issuer_keys.organisation,
        holder,
        valid_from_ms,
        valid_until_ms,
    };
    let body = tx::issue_to_pb(&issue::issue(&issuer, terms, &encryption_key, &content)?);
    let envelope = tx::seal(
        draft(&info.chain_id, pb::tx_payload::Body::IssueCertificate(body))?
            .payload(&issuer.signing_public_key()),
        issuer.signing_key(),
        &[],
    );
    let response = client
        .issue_certificate(pb::CertSubmitRequest { envelope })
        .await
        .map_err(status)?
        .into_inner();
    print_tx(args.node.json, &response, &[("type", &args.cert_type), ("holder", &args.holder)])
}

async fn show(args: ShowArgs) -> anyhow::Result<()> {
    let mut client = connect::<CertificatesClient<_>>(&args.node).await?;
    let request = match (&args.certificate_id, &args.holder, args.block, &args.tx) {
        (Some(id), _, _, _) => {
            pb::GetCertificateRequest { certificate_id: id.clone(), ..Default::default() }
        }
        (None, Some(holder), Some(block), Some(tx)) => pb::GetCertificateRequest {
            certificate_id: String::new(),
            holder: holder.clone(),
            block_number: block,
            tx_id: tx.clone(),
        },
        _ => bail!("give a certificate id, or --holder, --block and --tx"),
    };
    let certificate = client.get_certificate(request).await.map_err(status)?.into_inner();
    let content = match &args.key {
        Some(key) => Some(decrypt_content(&KeyPair::load(key)?, &certificate)?),
        None => None,
    };
    let mut view = certificate_view(&certificate);
    if let Some(content) = &content {
        view["content"] = serde_json::json!(content);
    }
    print(args.node.json, &view, || {
        let mut text = certificate_text(&certificate);
        match &content {
            Some(content) => text.push_str(&format!("\ncontent      {content}")),
            None => text.push_str(
                "\ncontent      (encrypted to the holder; give --key HOLDER_KEY to read it)",
            ),
        }
        text
    });
    Ok(())
}

/// Builds and signs a presentation of a certificate the holder's key holds.
pub(crate) async fn present(
    client: &mut CertificatesClient<Transport>,
    certificate_id: &str,
    holder: &KeyPair,
    challenge: Option<&str>,
) -> anyhow::Result<String> {
    let proof = client
        .get_certificate_proof(pb::GetCertificateProofRequest {
            certificate_id: certificate_id.to_string(),
        })
        .await
        .map_err(status)?
        .into_inner();
    let certificate =
        proof.certificate.ok_or_else(|| format_err!("the node sent no certificate"))?;
    if certificate.holder != holder.address().to_string() {
        bail!(
            "certificate {certificate_id} is held by {}, not by your key's address {}",
            certificate.holder,
            holder.address()
        );
    }
    let mut presentation = Presentation {
        statement: certificate.statement,
        issuer_signature: certificate.issuer_signature,
        issue_tx: hex::decode(&certificate.tx_id)?,
        block: certificate.block_number,
        status_index: certificate.status_index,
        leaf_index: proof.leaf_index,
        proof: proof.hashes.into_iter().map(ByteBuf::from).collect(),
        checkpoint: proof.channel_checkpoint,
        anchor_tx: hex::decode(&proof.anchor_tx_id)?,
        anchor_block: proof.anchor_block,
        ..Presentation::default()
    };
    presentation.sign_as_holder(
        holder.signing_key(),
        now_ms(),
        challenge.map(str::as_bytes).unwrap_or_default(),
    );
    Ok(presentation::encode(&presentation)?)
}

async fn fetch_status_list(
    client: &mut CertificatesClient<Transport>,
    issuer: &str,
) -> anyhow::Result<SignedStatusList> {
    let list = client
        .get_status_list(pb::GetStatusListRequest { issuer_organisation: issuer.to_string() })
        .await
        .map_err(status)?
        .into_inner();
    Ok(SignedStatusList {
        issuer_organisation: list.issuer_organisation,
        size: list.size,
        encoded_list: BASE64.encode(&list.compressed_bits),
        revoked: list
            .revoked
            .into_iter()
            .map(|e| RevokedEntry { index: e.index, reason: e.reason })
            .collect(),
        signed_note: list.signed_note,
        revoked_identities: (!list.revoked_identities_note.is_empty()).then(|| {
            SignedRevokedIdentities {
                revoked: list
                    .revoked_identities
                    .into_iter()
                    .map(|e| RevokedIdentity { address: e.address, reason: e.reason })
                    .collect(),
                signed_note: list.revoked_identities_note,
            }
        }),
    })
}

/// The `issuers` of a genesis configuration (JSON text).
pub(crate) fn genesis_issuers(genesis_json: &str) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let genesis: anchor_chaincode::genesis::Genesis =
        serde_json::from_str(genesis_json).context("the node sent an unreadable genesis")?;
    Ok(genesis.issuers)
}
