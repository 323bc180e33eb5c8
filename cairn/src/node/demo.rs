//! `cairn up --demo`: a small consortium (a certification authority, two
//! departments, a commercial verifier), their identities, a sample asset
//! shared with one department, and what to try next; and the seed paper's
//! social-security departments with one case per service ([`cases`]).

use std::path::{Path, PathBuf};

use access_control::keys::KeyPair;
use anchor_chaincode::genesis::{Genesis, Organisation};
use anchor_chaincode::tx::{self, TxDraft};
use anchor_chaincode::{Address, Role, ValidationCode};
use anyhow::{Context, bail};
use cairn_schemas::v1 as pb;
use sha2::{Digest, Sha256};

use crate::clock::now_ms;
use crate::node::Node;

mod cases;
#[cfg(test)]
mod tests;

const CHAIN_ID: &str = "cairn-demo";
const ASSET_ID: &str = "health/clinic-registry";
const ORGANISATIONS: [(&str, &str); 6] = [
    ("ca", "Consortium certification authority"),
    ("operator", "Hub operator (runs this node and the verifier accounts)"),
    ("audit", "Consortium audit office"),
    ("dept-health", "Department of Health (provider)"),
    ("dept-civil", "Civil Affairs Bureau (consumer)"),
    ("verifier-co", "Acme Background Checks Ltd (commercial verifier)"),
];
/// The certificate types of the demo and the organisations that may issue them.
const ISSUERS: [(&str, &str); 3] =
    [("marriage", "dept-civil"), ("birth", "dept-civil"), ("degree", "dept-civil")];
/// (key file stem, display name, organisation, role)
const IDENTITIES: [(&str, &str, &str, Role); 7] = [
    ("ca-officer", "CA registration officer", "ca", Role::CertificationAuthority),
    ("hub-operator", "Hub operator's accounts desk", "operator", Role::Operator),
    ("health-provider", "Health data steward", "dept-health", Role::Provider),
    ("civil-consumer", "Civil affairs analyst", "dept-civil", Role::Consumer),
    ("verifier", "Acme verification desk", "verifier-co", Role::Verifier),
    ("auditor", "Consortium auditor", "audit", Role::Auditor),
    ("civil-registrar", "Civil registry office (issues certificates)", "dept-civil", Role::Issuer),
];
const SAMPLE_CSV: &str = "clinic_id,name,district,licence_valid_until\n\
C-001,Riverside Family Clinic,North,2027-06-30\n\
C-002,Harbour Community Health Centre,East,2026-12-31\n\
C-003,Old Town Dental Practice,Central,2028-03-15\n";

fn keys_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("demo")
}

fn load_or_create(path: &Path) -> anyhow::Result<KeyPair> {
    if path.exists() {
        Ok(KeyPair::load(path)?)
    } else {
        let pair = KeyPair::generate()?;
        pair.save(path)?;
        Ok(pair)
    }
}

/// Makes the demo keys (once) and returns the genesis configuration.
/// The demo consortium's genesis; `quorum` node cosignatures make a checkpoint final.
pub(crate) fn prepare(data_dir: &Path, quorum: u32) -> anyhow::Result<Vec<u8>> {
    let dir = keys_dir(data_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut organisations = Vec::new();
    for (name, description) in ORGANISATIONS.into_iter().chain(cases::ORGANISATIONS) {
        let pair = load_or_create(&dir.join(format!("org-{name}.key")))?;
        organisations.push(Organisation {
            name: name.into(),
            description: description.into(),
            public_key: hex::encode(pair.signing_public_key()),
        });
    }
    for (stem, ..) in IDENTITIES {
        let _ = load_or_create(&dir.join(format!("{stem}.key")))?;
    }
    let mut genesis = Genesis::new(CHAIN_ID, organisations, "ca");
    genesis.operator = "operator".into();
    genesis.quorum = if quorum <= 1 { 0 } else { quorum };
    for (channel, organisation) in ISSUERS {
        genesis.issuers.entry(channel.into()).or_default().push(organisation.into());
    }
    for (channel, organisation) in cases::certificate_issuers()? {
        genesis.issuers.entry(channel).or_default().push(organisation);
    }
    Ok(genesis.to_bytes())
}

async fn submit(
    node: &Node,
    signer: &KeyPair,
    endorsers: &[(&str, &KeyPair)],
    body: pb::tx_payload::Body,
) -> anyhow::Result<String> {
    let draft = TxDraft {
        chain_id: CHAIN_ID.into(),
        nonce: access_control::keys::random_bytes::<16>()?.to_vec(),
        timestamp_ms: now_ms(),
        body,
    };
    let endorsers: Vec<(&str, &ed25519_zebra::SigningKey)> =
        endorsers.iter().map(|(org, pair)| (*org, pair.signing_key())).collect();
    let envelope =
        tx::seal(draft.payload(&signer.signing_public_key()), signer.signing_key(), &endorsers);
    let receipt = node.submit(envelope).await?.receipt;
    if receipt.code != ValidationCode::Valid {
        bail!("demo transaction {} was {}: {}", receipt.tx_id, receipt.code, receipt.message);
    }
    Ok(receipt.tx_id.to_string())
}

/// Registers the demo identities, publishes and shares the sample asset and
/// walks the social-security cases, each once.
pub(crate) async fn populate(node: &Node, data_dir: &Path) -> anyhow::Result<()> {
    let sample_shared = node.ledger().asset(ASSET_ID).is_some();
    if !sample_shared {
        populate_sample(node, data_dir).await?;
    }
    cases::populate(node, data_dir).await
}

/// Registers the demo identities and publishes and shares the sample asset.
async fn populate_sample(node: &Node, data_dir: &Path) -> anyhow::Result<()> {
    let dir = keys_dir(data_dir);
    let ca_org = KeyPair::load(&dir.join("org-ca.key"))?;
    let mut pairs = Vec::new();
    for (stem, name, organisation, role) in IDENTITIES {
        let pair = KeyPair::load(&dir.join(format!("{stem}.key")))?;
        if node.ledger().identity(&pair.address()).is_none() {
            let body = pb::tx_payload::Body::RegisterIdentity(pb::RegisterIdentity {
                name: name.into(),
                organisation: organisation.into(),
                role: tx::role_to_pb(role).into(),
                signing_public_key: pair.signing_public_key().to_vec(),
                encryption_public_key: pair.encryption_public_key().to_vec(),
                reviewer_role: String::new(),
            });
            let _ = submit(node, &pair, &[("ca", &ca_org)], body).await?;
        }
        pairs.push(pair);
    }
    // The node's own identity anchors the access-event log on the ledger: a
    // node of the operator's organisation, never of the certification authority.
    let node_key = node.key().clone();
    if node.ledger().identity(&node_key.address()).is_none() {
        let body = pb::tx_payload::Body::RegisterIdentity(pb::RegisterIdentity {
            name: "cairn node".into(),
            organisation: "operator".into(),
            role: tx::role_to_pb(Role::Node).into(),
            signing_public_key: node_key.signing_public_key().to_vec(),
            encryption_public_key: node_key.encryption_public_key().to_vec(),
            reviewer_role: String::new(),
        });
        // A node joins its organisation with that organisation's consent.
        let operator_org = KeyPair::load(&dir.join("org-operator.key"))?;
        let _ =
            submit(node, &node_key, &[("ca", &ca_org), ("operator", &operator_org)], body).await?;
    }
    let csv_path = dir.join("clinic-registry.csv");
    std::fs::write(&csv_path, SAMPLE_CSV)
        .with_context(|| format!("cannot write {}", csv_path.display()))?;
    let metadata = serde_json::json!({
        "name": "Licensed clinic registry",
        "description": "Clinics licensed by the Department of Health, with licence expiry dates",
        "columns": [
            {"name": "clinic_id", "type": "text"},
            {"name": "name", "type": "text"},
            {"name": "district", "type": "text"},
            {"name": "licence_valid_until", "type": "date"}
        ],
        "row_count": 3,
        "source": "demo sample"
    });
    let pair_of = |stem: &str| {
        IDENTITIES
            .iter()
            .position(|(s, ..)| *s == stem)
            .and_then(|idx| pairs.get(idx))
            .ok_or_else(|| anyhow::format_err!("the demo has no identity {stem}"))
    };
    let provider = pair_of("health-provider")?;
    let body = pb::tx_payload::Body::PublishAsset(pb::PublishAsset {
        asset_id: ASSET_ID.into(),
        version: 1,
        data_type: pb::DataType::Structured.into(),
        hash_algorithm: "sha256".into(),
        content_hash: Sha256::digest(SAMPLE_CSV.as_bytes()).to_vec(),
        size_bytes: SAMPLE_CSV.len() as u64,
        metadata: metadata.to_string().into_bytes(),
    });
    let _ = submit(node, provider, &[], body).await?;
    let consumer: Address = pair_of("civil-consumer")?.address();
    let body = pb::tx_payload::Body::SetSharingRules(pb::SetSharingRules {
        asset_id: ASSET_ID.into(),
        authorised: vec![consumer.to_string()],
    });
    let _ = submit(node, provider, &[], body).await?;
    // The commercial verifier pays per query from a prepaid balance, opened
    // and topped up by the hub operator's accounts desk.
    let operator = pair_of("hub-operator")?;
    let verifier = pair_of("verifier")?.address().to_string();
    let plan = anchor_chaincode::billing::Plan {
        price_per_query: 5,
        price_per_mib: 2,
        free_queries_per_month: 100,
        free_mib_per_month: 10,
        payment: anchor_chaincode::billing::Payment::Prepaid,
        rate_limit_per_second: 50,
    };
    let body = pb::tx_payload::Body::OpenAccount(pb::OpenAccount {
        holder: verifier.clone(),
        currency: "EUR".into(),
        plan: Some(tx::plan_to_pb(&plan)),
    });
    let _ = submit(node, operator, &[], body).await?;
    let body = pb::tx_payload::Body::TopUp(pb::TopUp {
        holder: verifier,
        currency: "EUR".into(),
        amount: 1_000,
        reference: "demo prepayment".into(),
    });
    let _ = submit(node, operator, &[], body).await?;
    Ok(())
}

/// Prints what to try next.
pub(crate) fn print_next_steps(node: &Node, data_dir: &Path, address: &str) {
    let dir = keys_dir(data_dir);
    let ledger = node.ledger();
    let publish_tx = ledger
        .asset(ASSET_ID)
        .and_then(|a| a.versions.first())
        .map(|v| v.tx_id.to_string())
        .unwrap_or_default();
    let consumer = KeyPair::load(&dir.join("civil-consumer.key"))
        .map(|p| p.address().to_string())
        .unwrap_or_default();
    let verifier = KeyPair::load(&dir.join("verifier.key"))
        .map(|p| p.address().to_string())
        .unwrap_or_default();
    let month = asset_registry::billing::Month::of_ms(now_ms());
    let node_flag = if address == "127.0.0.1:7878" {
        String::new()
    } else {
        format!(" --node http://{address}")
    };
    println!(
        "\nCairn demo chain {CHAIN_ID:?} is up on {address}: {} blocks, {} transactions.\n\
         Demo keys are in {}.\n\nTry, in another terminal:\n\
         \x20 cairn node info{node_flag} --trusted-keys-out trusted.keys\n\
         \x20 cairn consortium show{node_flag}\n\
         \x20 cairn asset show {ASSET_ID}{node_flag}\n\
         \x20 cairn identity show {consumer}{node_flag}\n\
         \x20 cairn tx show {publish_tx}{node_flag}\n\
         \x20 cairn block show latest{node_flag}\n\
         \x20 cairn checkpoint{node_flag} --out checkpoint.txt\n\
         \x20 cairn proof inclusion {publish_tx}{node_flag} --checkpoint checkpoint.txt --out proof.json\n\
         \x20 cairn proof verify proof.json --checkpoint checkpoint.txt --trusted-keys trusted.keys   (offline)\n\
         \x20 cairn key new --out my.key\n\
         \x20 cairn identity register{node_flag} --key my.key --name \"Me\" --org dept-civil --role consumer --endorser-key {}\n\n\
         Certificates:\n\
         \x20 cairn cert register-user{node_flag} --name \"Ana\" --out ana.key --endorser-key {}\n\
         \x20 cairn cert issue{node_flag} --key {} --holder ANA_ADDRESS --type marriage --content \"Ana and Bo, 2026-06-01\" --valid-for 3650d\n\
         \x20 cairn cert present CERT_ID{node_flag} --key ana.key --out marriage.txt\n\
         \x20 cairn cert qr --presentation marriage.txt --png marriage.png\n\
         \x20 cairn cert verify{node_flag} --qr marriage.png --trusted-keys trusted.keys\n\n\
         Billing (the verifier has a prepaid account: 10.00 EUR, 0.05 EUR a query after 100 free a month):\n\
         \x20 cairn verify hash {ASSET_ID}{node_flag} --file {} --key {}\n\
         \x20 cairn billing account show{node_flag} --holder {verifier} --key {}\n\
         \x20 cairn billing statement{node_flag} --verifier {verifier} --month {month} --key {} --proofs --out statement.json\n\
         \x20 cairn billing check statement.json --trusted-keys trusted.keys   (offline)\n",
        ledger.height(),
        ledger.merkle_log().size(),
        dir.display(),
        dir.join("org-ca.key").display(),
        dir.join("org-ca.key").display(),
        dir.join("civil-registrar.key").display(),
        dir.join("clinic-registry.csv").display(),
        dir.join("verifier.key").display(),
        dir.join("verifier.key").display(),
        dir.join("verifier.key").display(),
    );
    // The walkthrough reads the ledger again: release this read first.
    drop(ledger);
    print!("{}", cases::walkthrough(node, data_dir, &node_flag));
}
